// The client handle of a pool served by several nodes (remote.hpp,
// `connect_pool` with a node list): a local actor in front of the relay of
// one node (the single-node `connect_pool`). Every request goes to that
// relay as it is (delegated: the relay, or the pool behind it, answers the
// caller). When the relay goes down (its node lost, its pool stopped), a
// detached helper connects to the next node that serves the pool (the
// connect blocks: never on this actor's thread); requests that arrive
// meanwhile wait, each at most the connect timeout.

#include "pool/remote.hpp"

#include <algorithm>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/blocking_actor.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/message_view.hpp"
#include "caf/response_promise.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "pool/error.hpp"

namespace pool {

namespace {

using clock_type = std::chrono::steady_clock;

/// Helper → failover: `(connected_atom, index, relay)` or
/// `(connected_atom, reasons)`.
using connected_atom = caf::atom_constant<caf::atom("fo_conn")>;
/// Failover → itself: expire waiting requests; retry connecting.
using expire_atom = caf::atom_constant<caf::atom("fo_expire")>;

/// The most requests that wait for a node at once.
constexpr size_t max_held = 10000;

std::string where(const node_address& n) {
  return n.host + ":" + std::to_string(n.port);
}

/// The result of one pass over the nodes, starting at `first`.
struct attempt {
  bool ok = false;
  size_t index = 0;
  pool_actor relay;
  caf::error err; // the first invalid_request, else pool_down naming all
};

// Tries each node once, starting at `first`, within `timeout` in all.
attempt connect_any(caf::actor_system& sys,
                    const std::vector<node_address>& nodes, size_t first,
                    const std::string& name, caf::timespan timeout) {
  auto deadline = clock_type::now() + timeout;
  std::string why;
  attempt res;
  for (size_t k = 0; k < nodes.size(); ++k) {
    auto i = (first + k) % nodes.size();
    auto left =
      std::chrono::duration_cast<caf::timespan>(deadline - clock_type::now());
    if (left <= caf::timespan{0}) {
      why += (why.empty() ? "" : "; ") + where(nodes[i]) + ": not tried";
      continue;
    }
    // Each node gets a fair part of what is left.
    auto part = std::max<caf::timespan>(left / (nodes.size() - k),
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
    why += (why.empty() ? "" : "; ") + where(nodes[i]) + ": " +
           error_message(p.error());
  }
  if (!res.err)
    res.err =
      make_error(pool_errc::pool_down, "no node serves '" + name + "': " + why);
  return res;
}

struct held {
  caf::message msg;
  caf::response_promise rp;
  clock_type::time_point since;
};

struct failover_state {
  static const char* name;
  std::vector<node_address> nodes;
  std::string pool;
  caf::timespan timeout{0};
  /// The node of `relay`, or the one that failed last.
  size_t current = 0;
  caf::actor relay;
  bool connecting = false;
  /// Every relay this handle was linked to (their exits are not its own).
  std::vector<caf::actor_addr> relays;
  /// Why the last pass found no node ("" before any).
  std::string why;
  std::deque<held> waiting;
};

const char* failover_state::name = "pool.failover";

using failover_ptr = caf::stateful_actor<failover_state>*;

// Starts a pass over the nodes after the current one on a detached helper.
void reconnect(failover_ptr self) {
  auto& st = self->state;
  if (st.connecting)
    return;
  st.connecting = true;
  auto me = caf::actor_cast<caf::actor>(self);
  auto nodes = st.nodes;
  auto first = (st.current + 1) % nodes.size();
  auto name = st.pool;
  auto timeout = st.timeout;
  self->system().spawn<caf::detached>([=](caf::blocking_actor* b) {
    auto r = connect_any(b->system(), nodes, first, name, timeout);
    if (!r.ok) {
      b->send(me, connected_atom::value, error_message(r.err));
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

void fail_waiting(failover_ptr self, bool all) {
  auto& st = self->state;
  auto now = clock_type::now();
  while (!st.waiting.empty() &&
         (all || now - st.waiting.front().since >= st.timeout)) {
    st.waiting.front().rp.deliver(
      make_error(pool_errc::pool_down,
                 "no node of '" + st.pool + "' reachable" +
                   (st.why.empty() ? std::string{" yet"} : ": " + st.why)));
    st.waiting.pop_front();
  }
}

void use_relay(failover_ptr self, caf::actor relay) {
  auto& st = self->state;
  st.relay = std::move(relay);
  st.relays.push_back(st.relay.address());
  self->monitor(st.relay);
  self->link_to(st.relay);
}

caf::behavior failover_impl(failover_ptr self, std::vector<node_address> nodes,
                            std::string name, caf::timespan timeout,
                            size_t index, pool_actor relay) {
  auto& st = self->state;
  st.nodes = std::move(nodes);
  st.pool = std::move(name);
  st.timeout = timeout;
  st.current = index;
  // Linked: when this handle stops (an exit message, or its last reference
  // dropped), the relay stops too; a relay's own exit is no reason to stop.
  self->set_exit_handler([self](caf::exit_msg& em) {
    auto& rs = self->state.relays;
    if (std::find(rs.begin(), rs.end(), em.source) == rs.end())
      self->quit(std::move(em.reason));
  });
  use_relay(self, caf::actor_cast<caf::actor>(std::move(relay)));
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (!st.relay || dm.source != st.relay.address())
      return;
    st.relay = nullptr;
    reconnect(self);
    self->delayed_send(self, std::chrono::milliseconds(100),
                       expire_atom::value);
  });
  // Every request goes to the current relay with its sender and request id.
  self->set_default_handler([self](caf::scheduled_actor*, caf::message_view& x)
                              -> caf::result<caf::message> {
    auto& st = self->state;
    auto rp = self->make_response_promise();
    if (st.relay) {
      rp.delegate(st.relay, x.move_content_to_message());
      return caf::delegated<caf::message>{};
    }
    if (st.waiting.size() >= max_held)
      return make_error(pool_errc::pool_down,
                        "no node of '" + st.pool + "' reachable, and " +
                          std::to_string(max_held) + " requests wait already");
    st.waiting.push_back(
      held{x.move_content_to_message(), rp, clock_type::now()});
    return caf::delegated<caf::message>{};
  });
  return {
    [self](connected_atom, uint64_t index, pool_actor& relay) {
      auto& st = self->state;
      if (st.relay) // cannot happen: one pass at a time, after a loss
        caf::anon_send_exit(st.relay, caf::exit_reason::user_shutdown);
      st.connecting = false;
      st.current = static_cast<size_t>(index);
      use_relay(self, caf::actor_cast<caf::actor>(std::move(relay)));
      st.why.clear();
      while (!st.waiting.empty()) {
        st.waiting.front().rp.delegate(st.relay,
                                       std::move(st.waiting.front().msg));
        st.waiting.pop_front();
      }
      return caf::ok_atom::value;
    },
    [self](connected_atom, std::string& why) {
      auto& st = self->state;
      st.connecting = false;
      st.why = std::move(why);
    },
    [self](expire_atom) {
      auto& st = self->state;
      if (st.relay)
        return;
      fail_waiting(self, false);
      reconnect(self); // no-op while a pass runs
      self->delayed_send(self, std::chrono::milliseconds(100),
                         expire_atom::value);
    },
  };
}

} // namespace

caf::expected<pool_actor> connect_pool(caf::actor_system& sys,
                                       const std::vector<node_address>& nodes,
                                       const std::string& name,
                                       caf::timespan timeout) {
  if (nodes.empty())
    return make_error(pool_errc::invalid_request,
                      "connect_pool: the list of nodes is empty");
  auto r = connect_any(sys, nodes, 0, name, timeout);
  if (!r.ok)
    return std::move(r.err);
  auto h =
    sys.spawn(failover_impl, nodes, name, timeout, r.index, std::move(r.relay));
  return caf::actor_cast<pool_actor>(std::move(h));
}

} // namespace pool
