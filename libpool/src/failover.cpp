// The client handle of a pool served by several nodes (remote.hpp,
// `connect_pool` with a node list): a local actor in front of the relay of
// one node (the single-node `connect_pool`). Queries, transactions, acquires
// go to that relay as they are (delegated: the relay, or the pool behind
// it, answers the caller, and the pool sees the caller as the lease
// holder). Listen, unlisten and subscribe the handle serves itself
// (failover_listen.cpp, failover_subscribe.cpp): it listens or subscribes on
// the node and fans out, and does so again on the next node after a
// failover. Every other request goes
// through this actor (a request of its courier, answered through the
// caller's promise) and is held here until answered, so that a node lost
// before it answers is answered `pool_down` here: CAF never fails a request
// whose node is lost. The node never sees the handle itself, only its
// courier (failover_courier.cpp): a dropped handle stops. When the relay goes
// down (its node lost, its pool stopped), a detached helper connects to the
// next node that serves the pool (the connect blocks: never on this actor's
// thread); requests that arrive meanwhile wait, each at most the connect
// timeout.

#include "failover.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/blocking_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/response_promise.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "pool/error.hpp"

namespace pool::detail::failover {

std::string where(const node_address& n) {
  return n.host + ":" + std::to_string(n.port);
}

std::string reason_of(const caf::error& err) {
  auto msg = error_message(err);
  return msg.empty() ? describe(err) : msg;
}

/// The result of one pass over the nodes.
struct attempt {
  bool ok = false;
  size_t index = 0;
  pool_actor relay;
  caf::error err;  // the first invalid_request, else pool_down naming all
  std::string why; // each node tried and why it failed
};

// Tries the nodes in `order` once each, within `timeout` in all.
attempt connect_any(caf::actor_system& sys,
                    const std::vector<node_address>& nodes,
                    const std::vector<size_t>& order, const std::string& name,
                    caf::timespan timeout) {
  auto deadline = clock_type::now() + timeout;
  attempt res;
  auto note = [&](size_t i, const std::string& why) {
    res.why += (res.why.empty() ? "" : "; ") + where(nodes[i]) + ": " + why;
  };
  for (size_t k = 0; k < order.size(); ++k) {
    auto i = order[k];
    auto left =
      std::chrono::duration_cast<caf::timespan>(deadline - clock_type::now());
    if (left <= caf::timespan{0}) {
      note(i, "not tried (no time left)");
      continue;
    }
    // Each node gets a fair part of what is left.
    auto part = std::max<caf::timespan>(left / (order.size() - k),
                                        std::chrono::milliseconds(500));
    auto p = connect_pool(sys, nodes[i].host, nodes[i].port, name,
                          std::min(part, left));
    if (p) {
      res.ok = true;
      res.index = i;
      res.relay = std::move(*p);
      return res;
    }
    if (is(p.error(), pool_errc::invalid_request) && !res.err)
      res.err = p.error();
    note(i, reason_of(p.error()));
  }
  auto text = "no node of the cluster serves '" + name + "': " + res.why;
  res.err = res.err ? make_error(pool_errc::invalid_request, text)
                    : make_error(pool_errc::pool_down, text);
  return res;
}

const char* state::name = "pool.failover";

caf::error no_node(const state& st, const std::string& why) {
  return make_error(pool_errc::pool_down,
                    "no node of the cluster serves '" + st.pool + "': " + why);
}

// The nodes in the order of the next pass: round robin after the current
// one, the nodes that failed recently last.
std::vector<size_t> pass_order(const state& st, clock_type::time_point now) {
  std::vector<size_t> fresh, stale;
  auto n = st.nodes.size();
  for (size_t k = 1; k <= n; ++k) {
    auto i = (st.current + k) % n;
    (st.failed_at[i] > now - recent ? stale : fresh).push_back(i);
  }
  fresh.insert(fresh.end(), stale.begin(), stale.end());
  return fresh;
}

void arm_expire(handle_ptr self) {
  auto& st = self->state;
  if (st.expire_armed || st.relay || st.waiting.empty())
    return;
  auto now = clock_type::now();
  auto at = st.waiting.front().since + st.timeout;
  if (!st.connecting)
    at = std::min(at, std::max(st.next_pass, now));
  auto delay =
    std::max<clock_type::duration>(at - now, std::chrono::milliseconds(1));
  st.expire_armed = true;
  self->delayed_send(self, delay, expire_atom::value);
}

// Starts a pass over the nodes on a detached helper, unless one runs, a
// node is connected or the last pass failed less than `recent` ago.
void reconnect(handle_ptr self) {
  auto& st = self->state;
  auto now = clock_type::now();
  if (st.connecting || st.relay || now < st.next_pass)
    return;
  st.connecting = true;
  auto me = caf::actor_cast<caf::actor>(self);
  auto nodes = st.nodes;
  auto order = pass_order(st, now);
  auto name = st.pool;
  auto timeout = st.timeout;
  self->system().spawn([=](caf::blocking_actor* b) {
    auto r = connect_any(b->system(), nodes, order, name, timeout);
    if (!r.ok) {
      b->send(me, failed_atom::value, r.why);
      return;
    }
    // A request: if the handle is gone meanwhile, the relay must not stay
    // (the actor system would wait for it).
    b->request(me, std::chrono::seconds(10), connected_atom::value,
               uint64_t{r.index}, r.relay)
      .receive([](caf::ok_atom) {},
               [&](caf::error&) {
                 caf::anon_send_exit(r.relay, caf::exit_reason::user_shutdown);
               });
  });
}

void hold(handle_ptr self, caf::response_promise rp, caf::message msg,
          forward_fn fwd) {
  auto& st = self->state;
  if (st.waiting.size() >= max_held) {
    rp.deliver(no_node(st, "none connected, and " + std::to_string(max_held) +
                             " requests wait already"));
    return;
  }
  st.waiting.push_back(held{std::move(msg), rp, clock_type::now(), fwd});
  reconnect(self);
  arm_expire(self);
}

std::optional<caf::response_promise> take_pending(handle_ptr self,
                                                  uint64_t key) {
  auto& pending = self->state.pending;
  auto i = pending.find(key);
  if (i == pending.end())
    return std::nullopt; // answered already (the node was lost)
  auto rp = std::move(i->second);
  pending.erase(i);
  return rp;
}

void ask_any(handle_ptr self, caf::message msg,
             std::function<void(caf::message&)> on_reply,
             std::function<void(caf::error&)> on_error) {
  auto& st = self->state;
  if (!st.relay) {
    auto err = make_error(pool_errc::pool_down, "no pool node connected");
    on_error(err);
    return;
  }
  auto key = st.next_ask++;
  st.asks.emplace(
    key, asked{st.relay.address(), std::move(on_reply), std::move(on_error)});
  caf::anon_send(st.courier, ask_atom::value, key,
                 caf::actor_cast<caf::actor>(st.relay), std::move(msg));
}

namespace {

// The courier's answer to the ask of `key`: to its taker (once).
template <class T>
void answered(handle_ptr self, uint64_t key, T& x) {
  auto& asks = self->state.asks;
  auto i = asks.find(key);
  if (i == asks.end())
    return; // its relay was lost
  auto a = std::move(i->second);
  asks.erase(i);
  if constexpr (std::is_same<T, caf::error>::value)
    a.on_error(x);
  else
    a.on_reply(x);
}

// Forgets what was asked of the relay `relay` (lost: CAF never answers).
void forget_asks(state& st, const caf::actor_addr& relay) {
  for (auto i = st.asks.begin(); i != st.asks.end();)
    i = i->second.relay == relay ? st.asks.erase(i) : std::next(i);
}

} // namespace

// Sends `msg` to the relay through the courier; `on_ok(rp, x)` takes the
// reply; an error goes to `rp` after `on_error(rp)`, unless the node is lost
// first (then `lost` answers `rp`).
template <class T, class F, class G>
void forward_then(handle_ptr self, caf::response_promise& rp,
                  caf::message&& msg, F on_ok, G on_error) {
  auto& st = self->state;
  auto key = st.next_key++;
  st.pending.emplace(key, rp);
  // No timeout (CAF's clock): the pool answers each request, and `lost`
  // answers those of a lost node.
  ask<T>(
    self, std::move(msg),
    [self, key, on_ok](T& x) {
      if (auto rp = take_pending(self, key))
        on_ok(*rp, x);
    },
    [self, key, on_error](caf::error& err) {
      auto rp = take_pending(self, key);
      if (!rp)
        return;
      on_error(*rp);
      if (err == caf::sec::request_receiver_down) // the relay had stopped
        err = make_error(pool_errc::pool_down,
                         "the relay of the pool node " +
                           where(self->state.nodes[self->state.current]) +
                           " had stopped");
      rp->deliver(std::move(err));
    });
}

// Any request of the pool's protocol: the reply goes to `rp` as it is.
template <class T>
void forward_tracked(handle_ptr self, caf::response_promise& rp,
                     caf::message&& msg) {
  forward_then<T>(
    self, rp, std::move(msg),
    [](caf::response_promise& p, T& x) { p.deliver(std::move(x)); },
    [](caf::response_promise&) {});
}

void forward_listen(handle_ptr self, caf::response_promise& rp,
                    caf::message&& msg) {
  auto channel = msg.get_as<std::string>(1);
  forward_then<caf::ok_atom>(
    self, rp, std::move(msg),
    [self, channel](caf::response_promise& p, caf::ok_atom) {
      listened(self, p, channel);
    },
    [self, channel](caf::response_promise& p) {
      not_listened(self, p, channel);
    });
}

/// A request that the pool answers to its sender: delegated.
template <class T, class... Ts>
caf::result<T> pass(handle_ptr self, Ts&&... xs) {
  auto& st = self->state;
  if (st.relay)
    return self->delegate(st.relay, std::forward<Ts>(xs)...);
  hold(self, self->make_response_promise(),
       caf::make_message(std::forward<Ts>(xs)...), nullptr);
  return caf::delegated<T>{};
}

/// Any other request: forwarded and held until answered.
template <class T, class... Ts>
caf::result<T> track(handle_ptr self, Ts&&... xs) {
  auto rp = self->make_response_promise();
  auto msg = caf::make_message(std::forward<Ts>(xs)...);
  if (self->state.relay)
    forward_tracked<T>(self, rp, std::move(msg));
  else
    hold(self, std::move(rp), std::move(msg), &forward_tracked<T>);
  return caf::delegated<T>{};
}

void use_relay(handle_ptr self, size_t index, pool_actor relay) {
  auto& st = self->state;
  st.current = index;
  st.relay = std::move(relay);
  st.relays.push_back(st.relay.address());
  self->monitor(st.relay);
  self->link_to(st.relay);
  st.why.clear();
  while (!st.waiting.empty()) {
    auto& h = st.waiting.front();
    if (h.fwd)
      h.fwd(self, h.rp, std::move(h.msg));
    else
      h.rp.delegate(caf::actor_cast<caf::actor>(st.relay), std::move(h.msg));
    st.waiting.pop_front();
  }
  if (!st.channels.empty())
    listen_again(self);
  subscribe_again(self);
}

// The relay went down: answers what it held for this actor, then looks for
// the next node.
void lost(handle_ptr self, const caf::error& reason) {
  auto& st = self->state;
  auto node = where(st.nodes[st.current]);
  st.failed_at[st.current] = clock_type::now();
  forget_asks(st, st.relay.address());
  st.relay = nullptr;
  st.live.clear();
  st.why = node + ": lost (" + describe(reason) + ")";
  st.lost_why = st.why;
  auto err = make_error(pool_errc::pool_down, "lost the pool node " + node +
                                                " before it answered (" +
                                                describe(reason) + ")");
  auto pending = std::move(st.pending);
  st.pending.clear();
  for (auto& kv : pending)
    kv.second.deliver(err);
  subscribe_lost(self, err);
  reconnect(self);
}

// Answers every request this actor holds with `err` (it stops).
void answer_all(handle_ptr self, const caf::error& err) {
  auto& st = self->state;
  for (auto& h : st.waiting)
    h.rp.deliver(err);
  st.waiting.clear();
  for (auto& kv : st.pending)
    kv.second.deliver(err);
  st.pending.clear();
  for (auto& rp : st.to_subscribe)
    rp.deliver(err);
  st.to_subscribe.clear();
}

handle_actor::behavior_type impl(handle_ptr self,
                                 std::vector<node_address> nodes,
                                 std::string name, caf::timespan timeout,
                                 size_t index, pool_actor relay) {
  auto& st = self->state;
  st.nodes = std::move(nodes);
  st.pool = std::move(name);
  st.timeout = timeout;
  st.failed_at.assign(st.nodes.size(), clock_type::time_point::min());
  st.courier = spawn_courier(self->system(), self->address());
  self->attach_functor([courier = st.courier] {
    caf::anon_send_exit(courier, caf::exit_reason::user_shutdown);
  });
  // Linked: when this handle stops (an exit message, or its last reference
  // dropped), the relay stops too; a relay's own exit is no reason to stop.
  self->set_exit_handler([self](caf::exit_msg& em) {
    auto& rs = self->state.relays;
    if (std::find(rs.begin(), rs.end(), em.source) != rs.end())
      return;
    answer_all(
      self, make_error(pool_errc::pool_down, "the failover handle of '" +
                                               self->state.pool + "' stopped"));
    self->quit(std::move(em.reason));
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.relay && dm.source == st.relay.address())
      lost(self, dm.reason);
    else {
      drop_listener(self, dm.source);
      drop_subscriber(self, dm.source);
    }
  });
  use_relay(self, index, std::move(relay));
  using caf::ok_atom;
  using caf::result;
  using caf::timespan;
  using std::string;
  using std::vector;
  return {
    // Delegated: the relay batches queries and transactions; the pool sees
    // the caller as the holder of a lease.
    [self](query_atom a, statement& s) -> result<query_result> {
      return pass<query_result>(self, a, std::move(s));
    },
    [self](query_atom a, priority p, statement& s) -> result<query_result> {
      return pass<query_result>(self, a, p, std::move(s));
    },
    [self](acquire_atom a, timespan t) -> result<lease> {
      return pass<lease>(self, a, t);
    },
    [self](acquire_atom a, timespan t, priority p) -> result<lease> {
      return pass<lease>(self, a, t, p);
    },
    [self](transaction_atom a,
           vector<statement>& ss) -> result<vector<query_result>> {
      return pass<vector<query_result>>(self, a, std::move(ss));
    },
    [self](transaction_atom a, priority p,
           vector<statement>& ss) -> result<vector<query_result>> {
      return pass<vector<query_result>>(self, a, p, std::move(ss));
    },
    // Listened to and subscribed by the handle itself, so that it can do
    // so again on the next node (failover_listen.cpp,
    // failover_subscribe.cpp).
    [self](subscribe_atom) -> result<ok_atom> { return subscribe(self); },
    [self](listen_atom, string& ch) -> result<ok_atom> {
      return listen(self, std::move(ch));
    },
    [self](unlisten_atom, const string& ch) -> result<ok_atom> {
      return unlisten(self, ch);
    },
    [self](answer_atom, uint64_t key, caf::message& x) {
      answered(self, key, x);
    },
    [self](answer_atom, uint64_t key, caf::error& err) {
      answered(self, key, err);
    },
    [self](const notification& n) { deliver(self, n); },
    [self](const notifications_missed& m) { deliver(self, m); },
    [self](const breaker_event& e) { deliver(self, e); },
    // Forwarded and held: answered `pool_down` if the node is lost first.
    [self](release_atom a, uint64_t id) -> result<ok_atom> {
      return track<ok_atom>(self, a, id);
    },
    [self](stats_atom a) -> result<pool_stats> {
      return track<pool_stats>(self, a);
    },
    [self](shutdown_atom a, timespan t) -> result<ok_atom> {
      return track<ok_atom>(self, a, t);
    },
    [self](resize_atom a, uint64_t lo, uint64_t hi) -> result<ok_atom> {
      return track<ok_atom>(self, a, lo, hi);
    },
    [self](pause_atom a, timespan t) -> result<ok_atom> {
      return track<ok_atom>(self, a, t);
    },
    [self](resume_atom a) -> result<ok_atom> {
      return track<ok_atom>(self, a);
    },
    [self](reset_atom a) -> result<ok_atom> { return track<ok_atom>(self, a); },
    [self](reconfigure_atom a, pool_settings& s) -> result<ok_atom> {
      return track<ok_atom>(self, a, std::move(s));
    },
    [self](limit_atom a, uint64_t n) -> result<ok_atom> {
      return track<ok_atom>(self, a, n);
    },
    [self](stream_atom a, statement& s, caf::actor& to,
           uint32_t rows) -> result<stream_end> {
      return track<stream_end>(self, a, std::move(s), std::move(to), rows);
    },
    // The helper and the timer.
    [self](connected_atom, uint64_t index, pool_actor& relay) {
      auto& st = self->state;
      st.connecting = false;
      if (st.relay) // cannot happen: one pass at a time, after a loss
        caf::anon_send_exit(st.relay, caf::exit_reason::user_shutdown);
      use_relay(self, static_cast<size_t>(index), std::move(relay));
      return caf::ok_atom::value;
    },
    [self](failed_atom, string& why) {
      auto& st = self->state;
      auto now = clock_type::now();
      st.connecting = false;
      st.next_pass = now + recent;
      std::fill(st.failed_at.begin(), st.failed_at.end(), now);
      st.why = std::move(why);
      // Every node failed: what waits is answered now, not at its deadline.
      auto err = no_node(st, st.why);
      for (auto& h : st.waiting)
        h.rp.deliver(err);
      st.waiting.clear();
      // Listeners wait for a node: the next pass starts when this one may.
      if (!st.channels.empty())
        self->delayed_send(self, recent, expire_atom::value);
    },
    [self](expire_atom) {
      auto& st = self->state;
      st.expire_armed = false;
      if (st.relay)
        return;
      auto now = clock_type::now();
      while (!st.waiting.empty() &&
             now - st.waiting.front().since >= st.timeout) {
        st.waiting.front().rp.deliver(no_node(
          st, st.why.empty() ? "none connected within the timeout" : st.why));
        st.waiting.pop_front();
      }
      reconnect(self);
      arm_expire(self);
    },
  };
}

} // namespace pool::detail::failover

namespace pool {

caf::expected<pool_actor> connect_pool(caf::actor_system& sys,
                                       const std::vector<node_address>& nodes,
                                       const std::string& name,
                                       caf::timespan timeout) {
  namespace fo = detail::failover;
  if (nodes.empty())
    return make_error(pool_errc::invalid_request,
                      "connect_pool: the list of nodes is empty");
  std::vector<size_t> order(nodes.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  auto r = fo::connect_any(sys, nodes, order, name, timeout);
  if (!r.ok)
    return std::move(r.err);
  auto h =
    sys.spawn(fo::impl, nodes, name, timeout, r.index, std::move(r.relay));
  return caf::actor_cast<pool_actor>(std::move(h));
}

} // namespace pool
