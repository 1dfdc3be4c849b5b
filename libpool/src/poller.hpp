#pragma once

// Socket readiness for the libpq backend: one epoll thread serves all
// connections of a backend and turns readiness into `waker::wake()` calls.

#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "pool/backend.hpp"

#include "readiness.hpp"

namespace pool {

/// One epoll thread that wakes connection workers when their sockets become
/// ready. Registrations are one-shot: after an event the connection must call
/// `arm` again to hear about the next one.
///
/// Keys carry a generation, so an event that races with `remove` (or with
/// the socket being closed and its number reused by another connection) is
/// dropped instead of reaching the wrong worker. The poller works on its own
/// duplicate of each socket, so libpq closing its descriptor (e.g. after a
/// connection loss) cannot make `remove` unregister someone else's socket.
///
/// All member functions are thread-safe and return at once.
class poller final : public readiness {
 public:
  /// Starts the epoll thread. Throws `std::system_error` if the kernel
  /// refuses the epoll or eventfd descriptors.
  poller();

  /// Stops and joins the thread, then closes every descriptor still
  /// registered. Must not run on the poller thread (it never owns a poller).
  ~poller() override;

  poller(const poller&) = delete;
  poller& operator=(const poller&) = delete;

  /// Registers socket `fd` (not yet armed) and returns its key; on readiness
  /// the thread calls `w.wake()`. The caller keeps ownership of `fd`.
  /// Returns 0 if the socket cannot be registered.
  uint64_t add(int fd, waker w) override;

  /// Arms the registration `key` once for reading and/or writing (errors and
  /// hang-ups are always reported). Ignores unknown or stale keys.
  void arm(uint64_t key, bool read, bool write) override;

  /// Unregisters `key`; afterwards no event for it reaches its waker (one
  /// already being delivered may still arrive: a harmless spurious wake).
  void remove(uint64_t key) override;

 private:
  struct entry {
    /// The poller's own duplicate of the socket, or -1 for a free slot.
    int fd = -1;
    /// Bumped on every `remove`, so old keys of this slot go stale.
    uint32_t generation = 1;
    waker w;
  };

  void run();

  /// Returns the slot of `key` if the key is current. Requires `mtx_`.
  entry* lookup(uint64_t key);

  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  std::mutex mtx_;
  std::vector<entry> slots_;
  std::vector<uint32_t> free_;
  std::thread thread_;
};

} // namespace pool
