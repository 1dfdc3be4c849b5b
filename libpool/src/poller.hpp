#pragma once

// Socket readiness for the libpq backend under any CAF scheduler: one epoll
// thread serves all connections of a backend and turns readiness into
// `waker::wake()` calls.

#include <cstdint>
#include <thread>

#include "pool/backend.hpp"

#include "readiness.hpp"
#include "socket_table.hpp"

namespace pool {

/// One epoll thread that wakes connection workers when their sockets become
/// ready (see `readiness` for the contract). The poller works on its own
/// duplicate of each socket, so libpq closing its descriptor (e.g. after a
/// connection loss) cannot make `remove` unregister someone else's socket.
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

  uint64_t add(int fd, waker w) override;
  void arm(uint64_t key, bool read, bool write) override;
  void remove(uint64_t key) override;

 private:
  void run();

  /// Its eventfd stops the thread.
  epoll_set set_;
  socket_table table_;
  std::thread thread_;
};

} // namespace pool
