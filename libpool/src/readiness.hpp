#pragma once

// Socket readiness for backends: where a connection registers its socket and
// hears that it can make progress. Two implementations: `poller` (one epoll
// thread, works under any CAF scheduler) and the io scheduler's (the CAF
// worker threads wait in epoll themselves, see pool/io_scheduler.hpp).

#include <cstdint>

#include "pool/backend.hpp"

namespace pool {

/// Turns socket readiness into `waker::wake()` calls. Registrations are
/// edge triggered and stay armed: every new arrival of data (or of room to
/// write, while writing is of interest) reports again, so a connection that
/// reads a whole reply need not call `arm` before it waits for the next one
/// (no system call per statement). A connection that stops reading while
/// data may be left in the socket calls `arm` again: arming re-evaluates,
/// and a socket that is ready reports at once. Keys carry a generation, so
/// an event that races with
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

  /// Sets what the registration `key` waits for, reading and/or writing
  /// (errors and hang-ups are always reported), and reports at once if the
  /// socket is ready for it. Ignores unknown or stale keys.
  virtual void arm(uint64_t key, bool read, bool write) = 0;

  /// Unregisters `key`; afterwards no event for it reaches its waker (one
  /// already being delivered may still arrive: a harmless spurious wake).
  virtual void remove(uint64_t key) = 0;
};

} // namespace pool
