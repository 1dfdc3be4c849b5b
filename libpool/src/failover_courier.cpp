// The courier of a failover handle (failover.hpp, `spawn_courier`): the
// only actor of the handle that the pool node sees. It sends the handle's
// own requests (stats, release, listen, ...) to the relay as its own and
// passes each reply back as `(answer_atom, key, reply)`; as the listener on
// the node, it passes each notification on; as the subscriber, each breaker
// event. It holds the handle weakly, so that a handle whose last reference
// is dropped stops (and stops it): CAF's actor registry keeps every local
// actor that was sent to another node until that actor stops
// (actor_control_block.cpp, `save_actor`).

#include <utility>

#include "caf/actor_cast.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"

#include "failover.hpp"

namespace pool::detail::failover {

namespace {

caf::behavior courier(caf::event_based_actor* self, caf::actor_addr handle) {
  // To the handle, if it still runs.
  auto tell = [handle](auto&&... xs) {
    if (auto h = caf::actor_cast<caf::actor>(handle))
      caf::anon_send(h, std::forward<decltype(xs)>(xs)...);
  };
  return {
    [=](ask_atom, uint64_t key, caf::actor& relay, caf::message& msg) {
      auto reply = [tell, key](caf::message x) {
        tell(answer_atom::value, key, std::move(x));
      };
      // No timeout (CAF's clock): the pool answers each request, and the
      // handle forgets what it asked of a relay that was lost.
      auto rh = self->request(relay, caf::infinite, std::move(msg));
      // One handler per reply type of `courier_reply` (a response handle's
      // `then` takes one).
      self->add_multiplexed_response_handler(
        rh.id(),
        caf::behavior{
          [reply](caf::ok_atom x) { reply(caf::make_message(x)); },
          [reply](pool_stats& x) { reply(caf::make_message(std::move(x))); },
          [reply](stream_end& x) { reply(caf::make_message(std::move(x))); },
          [tell, key](caf::error& err) {
            tell(answer_atom::value, key, std::move(err));
          },
        });
    },
    [=](notification& n) { tell(std::move(n)); },
    [=](notifications_missed& m) { tell(std::move(m)); },
    [=](breaker_event& e) { tell(std::move(e)); },
  };
}

} // namespace

caf::actor spawn_courier(caf::actor_system& sys, caf::actor_addr handle) {
  return sys.spawn(courier, std::move(handle));
}

} // namespace pool::detail::failover
