// The waker: the backend's one way into the actors. It sends the worker a
// `wake_atom`, so it lives apart from the backend interface's other parts
// (backend.cpp), which know no actor.

#include "pool/backend.hpp"

#include "caf/actor_cast.hpp"
#include "caf/actor_clock.hpp"
#include "caf/actor_system.hpp"
#include "caf/mailbox_element.hpp"
#include "caf/send.hpp"

#include "actors.hpp"

namespace pool {

void waker::wake() const {
  if (auto hdl = caf::actor_cast<caf::actor>(worker_))
    caf::anon_send(hdl, wake_atom::value);
}

void waker::wake(caf::execution_unit* host) const {
  // One allocation: the mailbox element holds the atom inline (a separate
  // message would be a second).
  if (auto ptr = caf::actor_cast<caf::strong_actor_ptr>(worker_))
    ptr->get()->enqueue(caf::make_mailbox_element(nullptr,
                                                  caf::make_message_id(), {},
                                                  wake_atom::value),
                        host);
}

void waker::wake_after(caf::timespan delay) const {
  if (auto hdl = caf::actor_cast<caf::actor>(worker_))
    caf::delayed_anon_send(hdl, delay, wake_atom::value);
}

caf::timespan waker::now() const {
  if (auto hdl = caf::actor_cast<caf::actor>(worker_))
    return hdl->home_system().clock().now().time_since_epoch();
  return caf::timespan{0};
}

} // namespace pool
