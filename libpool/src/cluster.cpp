// The cluster member: membership and following the leader. Every interval
// it dials the configured peers it has not reached (or lost) through the
// middleman, asks each node's directory for its member and says hello; a
// node that dials it joins the same way. Members monitor each other: a node
// killed with -9, or one silent for the middleman's connection timeout, is
// reported down and loses its share at the leader's next plan. The leader
// is the smallest live name; its rounds are in cluster_leader.cpp.

#include "cluster_member.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/openssl/manager.hpp"

#include "pool/error.hpp"
#include "pool/remote.hpp"

namespace pool {

namespace detail {

const char* member_state::name = "pool.cluster";

namespace {

caf::error invalid(const std::string& what) {
  return make_error(pool_errc::invalid_config, "cluster: " + what);
}

bool valid_name(const std::string& x) {
  if (x.empty() || x.size() > 30)
    return false;
  return std::all_of(x.begin(), x.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
           c == '_' || c == '.';
  });
}

// Splits "host:port"; false if it is not that.
bool split_address(const std::string& x, std::string& host, uint16_t& port) {
  auto colon = x.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == x.size())
    return false;
  auto digits = x.substr(colon + 1);
  if (digits.size() > 5 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      }))
    return false;
  auto n = std::stoul(digits);
  if (n == 0 || n > 65535)
    return false;
  host = x.substr(0, colon);
  port = static_cast<uint16_t>(n);
  return true;
}

spdlog::logger& log(member_ptr self) {
  return *self->state.log;
}

cluster_peer* find_by_name(member_ptr self, const std::string& name) {
  for (auto& p : self->state.peers)
    if (p.name == name)
      return &p;
  return nullptr;
}

// Follows the smallest live name; logs a change.
void update_leader(member_ptr self) {
  auto& st = self->state;
  auto leader = st.cfg.node;
  for (auto& p : st.peers)
    if (p.live && p.name < leader)
      leader = p.name;
  if (leader == st.leader)
    return;
  log(self).info("cluster: {} leads{}", leader,
                 leader == st.cfg.node ? " (this node)" : "");
  st.leader = leader;
}

// Records the live member `name` (from a hello either way); `address` is
// the one dialled, "" for a node that dialled this one.
void joined(member_ptr self, const std::string& name, caf::actor member,
            const std::string& address) {
  auto& st = self->state;
  if (name == st.cfg.node) {
    if (member != self)
      log(self).error("cluster: another node is named {} too ({}): names "
                      "must be unique",
                      name, address.empty() ? "it dialled this node" : address);
    return;
  }
  auto* p = find_by_name(self, name);
  if (!address.empty()) {
    // The configured entry takes the name; an entry the node made when it
    // dialled first merges into it.
    for (auto& q : st.peers)
      if (q.address == address) {
        if (p != nullptr && p != &q && p->address.empty()) {
          q.member = p->member; // it joined by dialling first: same member
          q.live = p->live;
          q.reason = p->reason;
          p->name.clear(); // dropped below
        }
        q.name = name;
        p = &q;
        break;
      }
    st.peers.erase(std::remove_if(st.peers.begin(), st.peers.end(),
                                  [](const cluster_peer& x) {
                                    return x.address.empty() && x.name.empty();
                                  }),
                   st.peers.end());
    p = find_by_name(self, name);
  }
  if (p == nullptr) {
    st.peers.push_back(cluster_peer{});
    p = &st.peers.back();
    p->name = name;
  }
  if (p->live && p->member == member)
    return;
  if (p->member && p->member != member)
    self->demonitor(p->member);
  p->member = member;
  p->live = true;
  p->reason.clear();
  self->monitor(member);
  log(self).info("cluster: {} joined{}", name,
                 address.empty() ? "" : " (" + address + ")");
  update_leader(self);
}

void dial(member_ptr self, size_t i) {
  auto& st = self->state;
  auto& p = st.peers[i];
  std::string host;
  uint16_t port = 0;
  if (!split_address(p.address, host, port))
    return; // validated at spawn
  p.dialing = true;
  auto address = p.address;
  auto& sys = self->system();
  auto mm = sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                      : sys.middleman().actor_handle();
  auto timeout = member_timeout(st.cfg);
  // Ends the dial; `why` (if not empty) says why it failed.
  auto failed = [=](const std::string& why) {
    for (auto& q : self->state.peers)
      if (q.address == address) {
        q.dialing = false;
        if (!q.live && !why.empty()) {
          if (q.reason != why)
            log(self).debug("cluster: {}: {}", address, why);
          q.reason = why;
        }
      }
  };
  self->request(mm, timeout, caf::connect_atom::value, host, port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& dir,
          const std::set<std::string>&) {
        if (!dir) {
          failed("unreachable: no pool directory published there");
          return;
        }
        auto d = caf::actor_cast<node_actor>(std::move(dir));
        self->request(d, timeout, cluster_atom::value)
          .then(
            [=](caf::actor& member) {
              self
                ->request(member, timeout, cluster_atom::value,
                          self->state.cfg.node,
                          caf::actor_cast<caf::actor>(self))
                .then(
                  [=](std::string& name, caf::actor& m) {
                    failed(""); // done
                    joined(self, name, std::move(m), address);
                  },
                  [=](caf::error& err) {
                    failed("no hello: " + describe(err));
                  });
            },
            [=](caf::error& err) { failed("no member: " + describe(err)); });
      },
      [=](caf::error& err) { failed("unreachable: " + describe(err)); });
}

// A member or one of this node's pools is down.
void on_down(member_ptr self, const caf::down_msg& dm) {
  for (auto& cp : self->state.cfg.pools)
    for (auto& p : {cp.pool, cp.watch})
      if (p.address() == dm.source)
        log(self).warn("cluster: a pool of {} stopped: {}", cp.name,
                       describe(dm.reason));
  for (auto& p : self->state.peers)
    if (p.member && p.member.address() == dm.source) {
      p.live = false;
      p.member = nullptr;
      p.reason = "lost: " + describe(dm.reason);
      log(self).warn("cluster: {} lost: {}", p.name, describe(dm.reason));
      update_leader(self);
      return;
    }
}

// Applies this node's shares of the leader's plan.
void apply_plan(member_ptr self, const std::vector<cluster_share>& plan) {
  auto& st = self->state;
  for (size_t i = 0; i < st.cfg.pools.size(); ++i) {
    auto& cp = st.cfg.pools[i];
    for (auto& s : plan) {
      if (s.pool != cp.name || s.node != st.cfg.node)
        continue;
      if (s.limit != st.allowance[i])
        log(self).info("cluster: {} may hold {} connections (budget {})",
                       cp.name, s.limit, s.budget);
      st.allowance[i] = s.limit;
      // One of the node's connections is the watch. A request, not a send:
      // the pool's `ok` must have a handler here, or this actor's default
      // handler answers it with an error that stops the pool.
      uint64_t limit = s.limit > 0 ? s.limit - 1 : 0;
      auto name = cp.name;
      self->request(cp.pool, member_timeout(st.cfg), limit_atom::value, limit)
        .then([](caf::ok_atom) {},
              [=](caf::error& err) {
                log(self).warn("cluster: {}: the limit {} failed: {}", name,
                               limit, describe(err));
              });
    }
  }
}

// Replies this node's report: per pool, its allowance and what it holds
// (its pool's connections and its watch's).
caf::result<std::vector<cluster_share>> report(member_ptr self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<std::vector<cluster_share>>();
  struct fan_in {
    std::vector<cluster_share> out;
    size_t pending = 0;
    bool failed = false;
  };
  auto acc = std::make_shared<fan_in>();
  for (size_t i = 0; i < st.cfg.pools.size(); ++i) {
    auto& cp = st.cfg.pools[i];
    acc->out.push_back(
      cluster_share{cp.name, st.cfg.node, st.allowance[i], 0, cp.budget});
    acc->pending += 2;
  }
  if (acc->pending == 0) {
    rp.deliver(std::move(acc->out));
    return rp;
  }
  auto timeout = member_timeout(st.cfg);
  auto one = [=](size_t i, caf::expected<pool_stats> x) mutable {
    if (x)
      acc->out[i].open += x->total;
    else
      acc->failed = true;
    if (--acc->pending > 0)
      return;
    if (acc->failed)
      rp.deliver(make_error(pool_errc::pool_down,
                            "cluster: a pool of " + self->state.cfg.node +
                              " did not report its connections"));
    else
      rp.deliver(std::move(acc->out));
  };
  for (size_t i = 0; i < st.cfg.pools.size(); ++i)
    for (auto& p : {st.cfg.pools[i].pool, st.cfg.pools[i].watch})
      self->request(p, timeout, stats_atom::value)
        .then([=](pool_stats& s) mutable { one(i, std::move(s)); },
              [=](caf::error& err) mutable { one(i, std::move(err)); });
  return rp;
}

cluster_view view(member_ptr self) {
  auto& st = self->state;
  cluster_view v;
  v.node = st.cfg.node;
  v.leader = st.leader;
  v.nodes.push_back(cluster_node{st.cfg.node, "", true, ""});
  for (auto& p : st.peers)
    v.nodes.push_back(cluster_node{p.name, p.address, p.live, p.reason});
  v.shares = st.plan;
  v.plans = st.plans;
  return v;
}

caf::behavior member_impl(member_ptr self, cluster_config cfg) {
  auto& st = self->state;
  st.log = cfg.logger ? cfg.logger : spdlog::default_logger();
  st.cfg = std::move(cfg);
  st.allowance.assign(st.cfg.pools.size(), 0);
  for (auto& a : st.cfg.peers) {
    st.peers.push_back(cluster_peer{});
    st.peers.back().address = a;
  }
  for (auto& cp : st.cfg.pools) {
    self->monitor(cp.pool);
    self->monitor(cp.watch);
  }
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  update_leader(self);
  self->send(self, round_atom::value);
  return {
    [=](round_atom) {
      auto& st = self->state;
      for (size_t i = 0; i < st.peers.size(); ++i)
        if (!st.peers[i].live && !st.peers[i].dialing &&
            !st.peers[i].address.empty())
          dial(self, i);
      if (st.leader == st.cfg.node)
        plan_round(self);
      self->delayed_send(self, st.cfg.interval, round_atom::value);
    },
    [=](cluster_atom, std::string& name,
        caf::actor& member) -> caf::result<std::string, caf::actor> {
      if (!member)
        return make_error(pool_errc::invalid_request,
                          "cluster: a hello without a member");
      joined(self, name, member, "");
      return {self->state.cfg.node, caf::actor_cast<caf::actor>(self)};
    },
    [=](cluster_atom) { return view(self); },
    [=](report_atom) { return report(self); },
    [=](plan_atom, std::string& leader, std::vector<cluster_share>& plan) {
      auto& st = self->state;
      if (leader != st.leader) {
        log(self).debug("cluster: a plan from {} ignored: {} leads", leader,
                        st.leader);
        return;
      }
      apply_plan(self, plan);
      st.plan = std::move(plan);
      ++st.plans;
    },
  };
}

} // namespace

std::vector<std::pair<std::string, caf::actor>> live_members(member_ptr self) {
  std::vector<std::pair<std::string, caf::actor>> out;
  out.emplace_back(self->state.cfg.node, caf::actor_cast<caf::actor>(self));
  for (auto& p : self->state.peers)
    if (p.live)
      out.emplace_back(p.name, p.member);
  return out;
}

caf::timespan member_timeout(const cluster_config& cfg) {
  return std::max<caf::timespan>(2 * cfg.interval,
                                 std::chrono::milliseconds(500));
}

} // namespace detail

std::string cluster_application_name(const std::string& node,
                                     const std::string& pool) {
  return "libpool-cluster/" + node + "/" + pool;
}

caf::error validate(const cluster_config& cfg) {
  if (!detail::valid_name(cfg.node))
    return detail::invalid("node: 1 to 30 letters, digits, '-', '_' or '.', "
                           "is \"" +
                           cfg.node + "\"");
  for (auto& a : cfg.peers) {
    std::string host;
    uint16_t port = 0;
    if (!detail::split_address(a, host, port))
      return detail::invalid("peers: expected \"host:port\", got \"" + a +
                             "\"");
  }
  if (cfg.interval.count() <= 0)
    return detail::invalid("interval: must be positive");
  std::set<std::string> names;
  for (auto& p : cfg.pools) {
    if (p.name.empty())
      return detail::invalid("a pool without a name");
    if (!p.pool || !p.watch)
      return detail::invalid("pool " + p.name + ": needs its pool and watch");
    if (!names.insert(p.name).second)
      return detail::invalid("pool " + p.name + " given twice");
  }
  return {};
}

caf::actor spawn_cluster_member(caf::actor_system& sys, cluster_config cfg) {
  return sys.spawn(detail::member_impl, std::move(cfg));
}

} // namespace pool
