#include "pool/backend.hpp"

#include "caf/actor_cast.hpp"
#include "caf/actor_clock.hpp"
#include "caf/actor_system.hpp"
#include "caf/send.hpp"

#include "actors.hpp"

namespace pool {

connection::~connection() {
  // nop
}

caf::error connection::check_idle() {
  return {};
}

backend::~backend() {
  // nop
}

void waker::wake() const {
  if (auto hdl = caf::actor_cast<caf::actor>(worker_))
    caf::anon_send(hdl, wake_atom::value);
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
