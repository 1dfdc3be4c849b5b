#pragma once

// libpool's io scheduler: an opt-in CAF scheduler whose worker threads wait
// for the pools' sockets themselves.

#include <chrono>
#include <cstddef>

#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

namespace pool {

/// Tuning of the io scheduler. The defaults suit a box that the client shares
/// with the database server.
struct io_scheduler_options {
  /// The longest a parked worker sleeps in `epoll_wait` before it looks for
  /// work to steal from busy workers. Also bounds the latency of a lost
  /// wake-up, were there one: tests use a long one to expose such bugs.
  caf::timespan park_timeout = std::chrono::milliseconds(10);
  /// A busy worker polls its sockets (without blocking) after this many
  /// jobs, so that replies are not starved by a steady stream of messages.
  size_t poll_interval = 8;
  /// How often a worker that ran out of jobs tries to steal one before it
  /// parks. Spinning costs CPU that the database server on the same box
  /// could use; 0 parks at once.
  size_t steal_attempts = 2;
  /// A worker that ran this many jobs in a row without its queue running dry
  /// wakes a parked peer to steal from its backlog (a parked worker
  /// otherwise looks for work only at its park timeout).
  size_t steal_wake = 8;
};

/// Makes the actor system built from `cfg` run libpool's io scheduler: CAF's
/// work-stealing scheduler whose idle workers block in `epoll_wait` on their
/// own epoll set — their share of the pools' sockets, connection i on worker
/// i mod n — plus an eventfd that enqueuing signals only when that worker is
/// parked. A reply from the database wakes the worker thread that owns the
/// socket, which runs the connection's actor, the reply and the client's
/// next request without another thread hand-off (like Go's netpoller, or
/// pgbench's event-loop threads). Call it before constructing the
/// `caf::actor_system`; pools spawned in that system then use it instead of
/// their poller thread. Without it (CAF's default or test scheduler) pools
/// keep the poller thread. `scheduler.max-threads` sets the worker count as
/// usual; `scheduler.policy` is ignored.
void use_io_scheduler(caf::actor_system_config& cfg,
                      io_scheduler_options opts = {});

/// Returns whether `sys` runs the io scheduler.
bool uses_io_scheduler(caf::actor_system& sys);

} // namespace pool
