#pragma once

// The registrations of a `readiness` implementation: sockets, each
// registered (as the table's own duplicate) in one epoll set, keyed with a
// generation so that stale keys are recognised.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "pool/backend.hpp"

namespace pool {

/// An epoll set with an eventfd registered in it under key 0 (socket keys are
/// never 0), so that another thread can wake whoever waits on the set.
struct epoll_set {
  int epoll_fd = -1;
  int event_fd = -1;

  /// Creates both descriptors. Throws `std::system_error` if the kernel
  /// refuses one (nothing is left open then).
  static epoll_set make();

  /// Wakes the thread waiting on the set (any thread).
  void signal() const;

  /// Resets the eventfd after its event was seen.
  void drain() const;

  /// Closes both descriptors.
  void close();
};

/// Socket registrations shared by `poller` and the io scheduler. Every
/// member function is thread-safe. Keys are never 0 (generations skip 0), so
/// 0 can name an epoll set's own eventfd.
///
/// `find` (every readiness event, on any worker) and `arm` (after every
/// statement) take only their entry's spin lock: entries live in chunks that
/// never move, so no table-wide lock is held on the per-query path (one
/// mutex for every socket cost a futex wait and wake per query with two
/// workers). `add` and `remove` also take the table's mutex for the free
/// list.
class socket_table {
 public:
  socket_table();
  socket_table(const socket_table&) = delete;
  socket_table& operator=(const socket_table&) = delete;

  /// Closes every descriptor still registered (closing removes it from its
  /// epoll set).
  ~socket_table();

  /// Registers a duplicate of `fd` in the epoll set `epoll_fd`, disarmed,
  /// and returns its key; 0 if the kernel refused or the table is full
  /// (`max_sockets`).
  uint64_t add(int fd, int epoll_fd, waker w);

  /// Arms `key` once for reading and/or writing; ignores stale keys.
  void arm(uint64_t key, bool read, bool write);

  /// Unregisters `key` and closes its duplicate; ignores stale keys.
  void remove(uint64_t key);

  /// Copies the waker of `key` into `out`; false for a stale key.
  bool find(uint64_t key, waker& out);

  /// How many sockets can be registered at once.
  static constexpr size_t chunk_size = 256;
  static constexpr size_t max_chunks = 4096;
  static constexpr size_t max_sockets = chunk_size * max_chunks;

 private:
  struct entry {
    /// Guards the other fields (held for a copy or one epoll_ctl).
    std::atomic<bool> busy{false};
    /// Our duplicate of the socket, or -1 for a free slot.
    int fd = -1;
    /// The epoll set it is registered in.
    int epoll_fd = -1;
    /// Bumped on every `remove`, so old keys of this slot go stale.
    uint32_t generation = 1;
    waker w;

    void lock();
    void unlock();
  };

  /// Returns the entry of `slot`, or null if no chunk holds it yet.
  entry* at(size_t slot) const;

  /// Chunks of `chunk_size` entries, created on demand, freed with the
  /// table.
  std::unique_ptr<std::atomic<entry*>[]> chunks_;
  std::mutex mtx_;
  /// Slots handed out so far (under `mtx_`).
  size_t used_ = 0;
  std::vector<uint32_t> free_;
};

} // namespace pool
