#pragma once

// The libpq backend's own thread for the libpq calls that block and have no
// non-blocking form: PQcancel, and host-name lookups inside
// PQconnectStartParams / PQconnectPoll.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace pool {

/// One thread with a FIFO job queue, started by the first `post` and joined
/// by the destructor. It belongs to the libpq layer, not to the pool logic:
/// no actor runs on it, and jobs report back through a `waker` of their
/// own. Jobs run one at a time in the order posted; a job must not post
/// again and must not outlive its meaning (it checks a flag shared with its
/// connection, see `libpq_connection`). All member functions are
/// thread-safe.
class libpq_blocking_thread {
 public:
  using job = std::function<void()>;

  libpq_blocking_thread() = default;
  libpq_blocking_thread(const libpq_blocking_thread&) = delete;
  libpq_blocking_thread& operator=(const libpq_blocking_thread&) = delete;

  /// Drops the jobs still queued (destroying them frees what they hold),
  /// waits for the running one and joins the thread. Must not run on the
  /// thread itself (jobs hold no reference to it).
  ~libpq_blocking_thread();

  /// Queues `j`; starts the thread if it is not running yet. Returns false
  /// (dropping `j`) if the thread cannot be started.
  bool post(job j);

  /// Returns whether the thread was started (for tests).
  bool started() const;

 private:
  void run();

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<job> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace pool
