#pragma once

// The state of the failover handle that `connect_pool` with a node list
// returns (remote.hpp; the behaviour is in failover.cpp): the messages its
// helper, timer and courier send it, the requests it holds.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"
#include "caf/replies_to.hpp"
#include "caf/response_promise.hpp"
#include "caf/sec.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_actor.hpp"

#include "pool/protocol.hpp"
#include "pool/remote.hpp"

// A named namespace: the library's unity build merges anonymous ones.
namespace pool::detail::failover {

using clock_type = std::chrono::steady_clock;

/// Helper → handle: a relay to the node of the given index.
using connected_atom = caf::atom_constant<caf::atom("fo_conn")>;
/// Helper → handle: every node failed; why, node by node.
using failed_atom = caf::atom_constant<caf::atom("fo_fail")>;
/// Handle → itself: expire waiting requests; start the next pass.
using expire_atom = caf::atom_constant<caf::atom("fo_expire")>;
/// Handle → courier: `(ask_atom, key, relay, request)`, sends the request
/// to the relay as the courier's own.
using ask_atom = caf::atom_constant<caf::atom("fo_ask")>;
/// Courier → handle: `(answer_atom, key, reply)`, the reply to the ask of
/// `key` (a message holding the value, or the error).
using answer_atom = caf::atom_constant<caf::atom("fo_answer")>;

/// The handle's interface: the pool's, plus what its helper, timer and
/// courier send (the courier passes on what the node's pool sends it as the
/// listener of the handle's listeners).
using handle_actor = pool_actor::extend<
  caf::replies_to<connected_atom, uint64_t, pool_actor>::with<caf::ok_atom>,
  caf::reacts_to<failed_atom, std::string>, caf::reacts_to<expire_atom>,
  caf::reacts_to<answer_atom, uint64_t, caf::message>,
  caf::reacts_to<answer_atom, uint64_t, caf::error>,
  caf::reacts_to<notification>, caf::reacts_to<notifications_missed>,
  caf::reacts_to<breaker_event>>;

/// Whether the courier passes a reply of type `T` on (the reply types of
/// the requests that the handle asks through it; failover_courier.cpp).
template <class T>
constexpr bool courier_reply =
  std::is_same<T, caf::ok_atom>::value || std::is_same<T, pool_stats>::value ||
  std::is_same<T, stream_end>::value;

/// Spawns the courier of the handle `handle`: it sends the handle's own
/// requests to the node and passes the replies and the notifications on to
/// the handle (held weakly). The node sees the courier, never the handle:
/// CAF's actor registry keeps every local actor that was sent to another
/// node until it stops, so a handle the node had seen would outlive its
/// last reference. The handle stops the courier when it stops.
caf::actor spawn_courier(caf::actor_system& sys, caf::actor_addr handle);

/// The most requests that wait for a node at once.
constexpr size_t max_held = 10000;

/// A node that failed this recently is tried after the others, and a pass
/// over the nodes that found none is not repeated sooner.
constexpr auto recent = std::chrono::seconds(1);

struct state;
using handle_ptr = handle_actor::stateful_pointer<state>;

/// Sends a held request to the current relay.
using forward_fn = void (*)(handle_ptr, caf::response_promise&, caf::message&&);

/// A request waiting for a node; `fwd` null: delegate it.
struct held {
  caf::message msg;
  caf::response_promise rp;
  clock_type::time_point since;
  forward_fn fwd;
};

/// A request asked of the relay through the courier: who takes the reply.
struct asked {
  caf::actor_addr relay;
  std::function<void(caf::message&)> on_reply;
  std::function<void(caf::error&)> on_error;
};

/// The failover handle's state. One relay at a time: requests held in
/// `pending` were all sent to `relay`.
struct state {
  static const char* name;
  std::vector<node_address> nodes;
  std::string pool;
  caf::timespan timeout{0};
  /// The node of `relay`, or the one lost last.
  size_t current = 0;
  pool_actor relay;
  bool connecting = false;
  /// When each node failed last (a pass that found none marks them all).
  std::vector<clock_type::time_point> failed_at;
  /// No pass starts before (set by a pass that found no node).
  clock_type::time_point next_pass;
  /// Every relay this handle was linked to (their exits are not its own).
  std::vector<caf::actor_addr> relays;
  /// Why no node serves ("" while one does).
  std::string why;
  std::deque<held> waiting;
  bool expire_armed = false;
  /// Requests forwarded by this actor and not answered yet, by key.
  std::unordered_map<uint64_t, caf::response_promise> pending;
  uint64_t next_key = 0;
  /// Sends this handle's own requests (see `spawn_courier`).
  caf::actor courier;
  /// Requests asked through the courier and not answered yet, by key.
  std::unordered_map<uint64_t, asked> asks;
  uint64_t next_ask = 0;
  /// LISTEN through the handle: it listens on the node itself and fans the
  /// notifications out, so that it can listen again on the next node.
  /// Each channel's listeners (monitored).
  std::map<std::string, std::vector<caf::actor_addr>> channels;
  /// The channels the current node listens to for this handle.
  std::set<std::string> live;
  /// Listens sent to the node and not answered yet: (listener, channel).
  /// An unlisten removes its pair, so a late `ok` does not add it.
  std::multiset<std::pair<caf::actor_addr, std::string>> listening;
  /// Why the node before the current one was lost ("" at the start).
  std::string lost_why;
  /// Breaker events through the handle: it subscribes on the node itself
  /// (once per node) and fans the events out, so that it can subscribe
  /// again on the next node. The subscribers (monitored).
  std::vector<caf::actor_addr> subscribers;
  /// Whether the current node sends this handle its breaker events.
  bool subscribed = false;
  /// Whether a subscribe to the current node is unanswered.
  bool subscribing = false;
  /// Subscribes waiting for the node's `ok` (the subscriber is the source).
  std::vector<caf::response_promise> to_subscribe;
};

/// "host:port" of `n`.
std::string where(const node_address& n);

/// Sends `msg` to the current relay as the courier's request (the node
/// never sees the handle); `on_reply` takes the reply, `on_error` an error
/// (`unexpected_response` for a reply of another type). Neither runs if the
/// relay is lost first.
void ask_any(handle_ptr self, caf::message msg,
             std::function<void(caf::message&)> on_reply,
             std::function<void(caf::error&)> on_error);

/// `ask_any` for a reply of type `T`.
template <class T, class F, class G>
void ask(handle_ptr self, caf::message msg, F on_reply, G on_error) {
  static_assert(courier_reply<T>, "the courier does not pass T on: add it "
                                  "to courier_reply and to the courier");
  ask_any(
    self, std::move(msg),
    [on_reply, on_error](caf::message& x) mutable {
      if (x.match_elements<T>()) {
        on_reply(x.get_mutable_as<T>(0));
      } else {
        caf::error err = caf::sec::unexpected_response;
        on_error(err);
      }
    },
    on_error);
}

/// Holds a request until a node is connected (`fwd` sends it then; null:
/// delegate it), or answers it `pool_down` if too many wait.
void hold(handle_ptr self, caf::response_promise rp, caf::message msg,
          forward_fn fwd);

/// Sends `(listen_atom, channel)` in `msg` to the relay as this actor's
/// request (a `forward_fn`): `listened` on `ok`, the error to `rp`, and
/// `pool_down` if the node is lost first (failover.cpp).
void forward_listen(handle_ptr self, caf::response_promise& rp,
                    caf::message&& msg);

// -- listening through the handle (failover_listen.cpp) ----------------------

/// `(listen_atom, channel)` from the current sender.
caf::result<caf::ok_atom> listen(handle_ptr self, std::string channel);

/// `(unlisten_atom, channel)` from the current sender.
caf::result<caf::ok_atom> unlisten(handle_ptr self, const std::string& channel);

/// The node listens to `channel` for the listener of `rp`: records it and
/// answers `ok` (unless it unlistened meanwhile).
void listened(handle_ptr self, caf::response_promise& rp,
              const std::string& channel);

/// The node refused the listen of `rp`'s listener to `channel` (its error
/// goes to `rp` next): forgets that it was asked.
void not_listened(handle_ptr self, caf::response_promise& rp,
                  const std::string& channel);

/// A notification from the node: to each listener of its channel.
void deliver(handle_ptr self, const notification& n);

/// A `notifications_missed` from the node: to each listener concerned.
void deliver(handle_ptr self, const notifications_missed& m);

/// Drops a listener that died; returns whether `who` was one.
bool drop_listener(handle_ptr self, const caf::actor_addr& who);

/// After a node was lost: listens to every channel on the new relay and
/// tells each channel's listeners what they may have missed.
void listen_again(handle_ptr self);

// -- breaker events through the handle (failover_subscribe.cpp) -------------

/// `(subscribe_atom)` from the current sender.
caf::result<caf::ok_atom> subscribe(handle_ptr self);

/// Subscribes the source of `rp` once the current node sends this handle
/// its breaker events (a `forward_fn`, for a subscribe held meanwhile).
void forward_subscribe(handle_ptr self, caf::response_promise& rp,
                       caf::message&& msg);

/// A breaker event from the node: to each subscriber.
void deliver(handle_ptr self, const breaker_event& e);

/// Drops a subscriber that died; returns whether `who` was one.
bool drop_subscriber(handle_ptr self, const caf::actor_addr& who);

/// The relay was lost: the subscribes it had not answered fail with `err`;
/// the subscribers stay, for the next node.
void subscribe_lost(handle_ptr self, const caf::error& err);

/// After a node was lost: subscribes again on the new relay.
void subscribe_again(handle_ptr self);

} // namespace pool::detail::failover
