#pragma once

// The io scheduler's policy (see pool/io_scheduler.hpp): CAF's work stealing
// with workers that park in `epoll_wait` on their own epoll set instead of a
// condition variable. Header-only parts are the templates CAF's coordinator
// and worker instantiate; the rest is in io_scheduler.cpp.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "caf/execution_unit.hpp"
#include "caf/policy/work_stealing.hpp"
#include "caf/resumable.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"

#include "pool/io_scheduler.hpp"

#include "job_queue.hpp"
#include "readiness.hpp"
#include "socket_table.hpp"

namespace pool {

/// The sockets of all pools in one actor system, spread over one epoll set
/// per scheduler worker, and those sets' eventfds. The `readiness` the
/// libpq backend uses under the io scheduler. Sets are added while the
/// scheduler starts (before any worker runs) and live until the hub dies,
/// which is after the scheduler and every backend let go of it.
class io_hub final : public readiness {
 public:
  explicit io_hub(io_scheduler_options opts) : opts_(opts) {}
  ~io_hub() override;

  const io_scheduler_options& options() const { return opts_; }

  /// Creates the epoll set (and its eventfd) of the next worker and returns
  /// its index. Only while the scheduler starts. Throws `std::system_error`
  /// if the kernel refuses the descriptors.
  size_t add_set();

  /// Registers `fd` in the set of worker `i mod n` for the i-th socket.
  uint64_t add(int fd, waker w) override;
  void arm(uint64_t key, bool read, bool write) override;
  void remove(uint64_t key) override;

  /// Wakes the worker parked on set `set`.
  void signal(size_t set);

  /// Waits at most `timeout_ms` (0: does not block, -1: forever) for events
  /// of set `set` and wakes their connections on `host`, so that they run on
  /// that worker. Returns how many connections it woke.
  size_t harvest(size_t set, int timeout_ms, caf::execution_unit* host);

 private:
  io_scheduler_options opts_;
  std::vector<epoll_set> sets_;
  std::atomic<size_t> next_{0};
  socket_table table_;
};

/// The scheduling policy: `caf::policy::work_stealing`'s queues and stealing,
/// its own idle loop and enqueue signalling.
class io_policy : public caf::policy::work_stealing {
 public:
  using base = caf::policy::work_stealing;

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*)
      : next_worker(0) {
      // nop
    }
    std::atomic<size_t> next_worker;
    /// Set by `use_io_scheduler`'s module factory right after construction.
    std::shared_ptr<io_hub> hub;
  };

  struct worker_data : base::worker_data {
    /// The instance every worker's data is copied from (no set of its own).
    explicit worker_data(caf::scheduler::abstract_coordinator* p);
    /// A worker's data: a new epoll set in the hub.
    worker_data(const worker_data& other);

    /// Shadows the base's allocating queue: every inherited template
    /// (`try_steal`, `internal_enqueue`, `resume_job_later`,
    /// `foreach_resumable`) reaches the queue as `d(self).queue`, which names
    /// this one.
    job_queue queue;
    std::shared_ptr<io_hub> hub;
    size_t set = 0;
    /// Whether the worker sleeps in epoll_wait (enqueuers then signal).
    std::atomic<bool> parked{false};
    /// Jobs since the worker last polled its sockets.
    size_t jobs = 0;
    /// Jobs since its queue last ran dry.
    size_t streak = 0;
    int park_ms = 10;
  };

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    auto n = self->num_workers();
    auto w = self->worker_by_id(d(self).next_worker++ % n);
    w->external_enqueue(job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    auto& wd = d(self);
    wd.queue.append(job);
    // Pairs with the fence in `dequeue`: either the worker sees the job
    // before it sleeps, or we see it parked and wake it.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (wd.parked.load(std::memory_order_relaxed) &&
        wd.parked.exchange(false, std::memory_order_acq_rel))
      wd.hub->signal(wd.set);
  }

  /// A job the worker's own thread enqueued goes to the back, not to the
  /// front as in CAF's work stealing (chosen there for cache warmth): with
  /// hundreds of clients, jobs put in front keep refilling it while the
  /// oldest wait. Measured at 256x16 (pool-bench, same runs): ops per client
  /// min/max 0.73-0.77 -> 0.84-0.94, p99.9 44-50 ms -> 28-30 ms, and more
  /// throughput; 4x4 unchanged.
  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    d(self).queue.append(job);
  }

  /// Wakes one parked worker other than `self`, if any.
  template <class Worker>
  void wake_peer(Worker* self) {
    auto p = self->parent();
    auto n = p->num_workers();
    for (size_t i = 1; i < n; ++i) {
      auto& pd = d(p->worker_by_id((self->id() + i) % n));
      if (pd.parked.load(std::memory_order_relaxed) &&
          pd.parked.exchange(false, std::memory_order_acq_rel)) {
        pd.hub->signal(pd.set);
        return;
      }
    }
  }

  /// Before each job: polls the sockets every `poll_interval` jobs, and
  /// wakes a parked peer to steal once this worker has run `steal_wake`
  /// jobs in a row without its queue running dry (a backlog: thieves take
  /// from the back).
  template <class Worker>
  void before_resume(Worker* self, caf::resumable*) {
    auto& wd = d(self);
    if (++wd.streak >= wd.hub->options().steal_wake && !wd.queue.empty()) {
      wd.streak = 0;
      wake_peer(self);
    }
    if (++wd.jobs >= wd.hub->options().poll_interval) {
      wd.jobs = 0;
      wd.hub->harvest(wd.set, 0, self);
    }
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& wd = d(self);
    for (;;) {
      if (auto job = wd.queue.take_head())
        return job;
      wd.jobs = 0;
      wd.streak = 0;
      if (wd.hub->harvest(wd.set, 0, self) > 0)
        continue;
      for (size_t i = 0; i < wd.hub->options().steal_attempts; ++i)
        if (auto job = try_steal(self))
          return job;
      wd.parked.store(true, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (!wd.queue.empty()) {
        wd.parked.store(false, std::memory_order_relaxed);
        continue;
      }
      auto woke = wd.hub->harvest(wd.set, wd.park_ms, self);
      wd.parked.store(false, std::memory_order_relaxed);
      if (woke == 0 && wd.queue.empty())
        if (auto job = try_steal(self))
          return job;
    }
  }
};

/// Returns the io hub of `sys`, or null if `sys` does not run the io
/// scheduler.
std::shared_ptr<io_hub> io_hub_of(caf::actor_system& sys);

} // namespace pool
