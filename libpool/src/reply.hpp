#pragma once

// Answering and delegating a request through its response promise with one
// allocation instead of two. CAF 0.17.6's `response_promise::deliver` and
// `delegate` first pack the values into a `message` (one allocation), then
// wrap that in a mailbox element (another); `caf::make_mailbox_element` with
// the values builds both in one. Used on the per-query path (the manager's
// delegation to a worker, the worker's answer); every other case goes
// through CAF's own functions.

#include <utility>

#include "caf/actor_cast.hpp"
#include "caf/local_actor.hpp"
#include "caf/mailbox_element.hpp"
#include "caf/response_promise.hpp"

namespace pool::reply {

/// Answers `rp` with `xs...` as `rp.deliver(xs...)` does, sent by `self`
/// (the actor that made the promise); `rp` is no longer pending afterwards.
/// A promise with forwarding stages, or an invalid one, goes through CAF.
template <class... Ts>
void deliver(caf::local_actor* self, caf::response_promise& rp, Ts&&... xs) {
  if (!rp.stages().empty() || !rp.source() || rp.id().is_response()) {
    rp.deliver(std::forward<Ts>(xs)...);
    return;
  }
  auto dest = rp.source();
  auto mid = rp.id().response_id();
  rp = caf::response_promise{};
  dest->enqueue(
    caf::make_mailbox_element(self->ctrl(), mid, {}, std::forward<Ts>(xs)...),
    self->context());
}

/// Hands `rp` on to `dest` with `xs...` as `rp.delegate(dest, xs...)` does:
/// `dest`'s answer goes to the original requester. `rp` is no longer
/// pending afterwards. Nothing is sent if it was not pending, or if `dest`
/// is invalid (the promise then stays pending, as with CAF's `delegate`).
template <class Handle, class... Ts>
void delegate(caf::local_actor* self, caf::response_promise& rp,
              const Handle& dest, Ts&&... xs) {
  using token =
    caf::detail::type_list<typename caf::detail::implicit_conversions<
      typename std::decay<Ts>::type>::type...>;
  static_assert(
    caf::response_type_unbox<caf::signatures_of_t<Handle>, token>::valid,
    "receiver does not accept given message");
  auto ptr = caf::actor_cast<caf::abstract_actor*>(dest);
  if (!rp.pending() || ptr == nullptr)
    return; // as CAF: an invalid target leaves the promise pending
  auto source = rp.source();
  auto stages = rp.stages();
  auto mid = rp.id();
  rp = caf::response_promise{};
  ptr->enqueue(caf::make_mailbox_element(std::move(source), mid,
                                         std::move(stages),
                                         std::forward<Ts>(xs)...),
               self->context());
}

} // namespace pool::reply
