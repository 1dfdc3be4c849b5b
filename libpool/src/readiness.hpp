#pragma once

// Socket readiness for backends: where a connection registers its socket and
// hears that it can make progress. Two implementations: `poller` (one epoll
// thread, works under any CAF scheduler) and the io scheduler's (the CAF
// worker threads wait in epoll themselves, see pool/io_scheduler.hpp).

#include <cstdint>

#include "pool/backend.hpp"

namespace pool {

/// Turns socket readiness into `waker::wake()` calls. Registrations are
/// one-shot: after an event the connection must call `arm` again to hear
/// about the next one. Keys carry a generation, so an event that races with
/// `remove` (or with the socket number being reused) is dropped instead of
/// reaching the wrong worker. All member functions are thread-safe and return
/// at once.
class readiness {
 public:
  virtual ~readiness();

  /// Registers socket `fd` (not yet armed) and returns its key; on readiness
  /// `w.wake()` is called (on some thread). The caller keeps ownership of
  /// `fd`. Returns 0 if the socket cannot be registered.
  virtual uint64_t add(int fd, waker w) = 0;

  /// Arms the registration `key` once for reading and/or writing (errors and
  /// hang-ups are always reported). Ignores unknown or stale keys.
  virtual void arm(uint64_t key, bool read, bool write) = 0;

  /// Unregisters `key`; afterwards no event for it reaches its waker (one
  /// already being delivered may still arrive: a harmless spurious wake).
  virtual void remove(uint64_t key) = 0;
};

} // namespace pool
