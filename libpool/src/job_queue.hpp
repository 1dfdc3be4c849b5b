#pragma once

// The io scheduler's per-worker job queue: the part of CAF's
// `detail::double_ended_queue` that the io policy uses (append for everyone,
// take_head for the owner, take_tail for thieves), on a ring buffer that
// grows and never shrinks, so that enqueuing a job costs no allocation. CAF's
// queue allocates a node per job and frees it on the thread that takes it: 4-5
// cross-thread malloc/free pairs per query on the pool's path.

#include <atomic>
#include <cstddef>
#include <memory>

#include "caf/resumable.hpp"

namespace pool {

/// A thread-safe double-ended queue of jobs behind one spin lock (held for a
/// few instructions; only growing the ring takes longer).
class job_queue {
 public:
  job_queue() : ring_(new caf::resumable*[initial_capacity]) {
    // nop
  }

  job_queue(const job_queue&) = delete;
  job_queue& operator=(const job_queue&) = delete;

  /// Adds `job` at the back (every enqueue: the queue is FIFO).
  void append(caf::resumable* job) {
    lock();
    grow_if_full();
    auto n = size_.load(std::memory_order_relaxed);
    ring_[(head_ + n) & (cap_ - 1)] = job;
    size_.store(n + 1, std::memory_order_relaxed);
    unlock();
  }

  /// Removes and returns the front job, or null.
  caf::resumable* take_head() { return take(true); }

  /// Removes and returns the back job (the newest), or null. What thieves
  /// take: the owner keeps the oldest, which it runs next.
  caf::resumable* take_tail() { return take(false); }

  /// Returns whether the queue holds no job. Lock-free; exact for the
  /// parking protocol when paired with seq_cst fences on both sides.
  bool empty() const { return size_.load(std::memory_order_acquire) == 0; }

 private:
  static constexpr size_t initial_capacity = 256;

  caf::resumable* take(bool head) {
    if (empty())
      return nullptr;
    lock();
    caf::resumable* job = nullptr;
    if (auto n = size_.load(std::memory_order_relaxed); n > 0) {
      if (head) {
        job = ring_[head_];
        head_ = (head_ + 1) & (cap_ - 1);
      } else {
        job = ring_[(head_ + n - 1) & (cap_ - 1)];
      }
      size_.store(n - 1, std::memory_order_relaxed);
    }
    unlock();
    return job;
  }

  void lock() {
    while (busy_.exchange(true, std::memory_order_acquire))
      while (busy_.load(std::memory_order_relaxed)) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
  }

  void unlock() {
    busy_.store(false, std::memory_order_release);
  }

  // Doubles the ring when full, keeping the order (under the lock).
  void grow_if_full() {
    auto n = size_.load(std::memory_order_relaxed);
    if (n < cap_)
      return;
    std::unique_ptr<caf::resumable*[]> bigger(new caf::resumable*[cap_ * 2]);
    for (size_t i = 0; i < n; ++i)
      bigger[i] = ring_[(head_ + i) & (cap_ - 1)];
    ring_ = std::move(bigger);
    head_ = 0;
    cap_ *= 2;
  }

  std::atomic<bool> busy_{false};
  std::unique_ptr<caf::resumable*[]> ring_;
  size_t cap_ = initial_capacity;
  size_t head_ = 0;
  std::atomic<size_t> size_{0};
};

} // namespace pool
