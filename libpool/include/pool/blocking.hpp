#pragma once

#include <memory>
#include <vector>

#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/protocol.hpp"

namespace pool {

/// Calls a pool from code that is not an actor (a plain thread, `main`).
/// Each call blocks the calling thread until the reply or `timeout`. Never use
/// it inside an actor's handler: that would block a scheduler thread; use a
/// `pool::client` from the actor instead. One instance per thread.
///
/// Requests go out with `caf::infinite` (no CAF clock event); the calling
/// thread waits on its own mailbox until the deadline. A call whose deadline
/// passes answers `request_timeout`; its late reply is taken out of the
/// mailbox and dropped before a later call, so it never answers that call.
/// A call that reaches a pool that has shut down answers `shutting_down`.
class blocking_pool {
 public:
  /// A client of `pool` whose calls wait at most `timeout` each.
  blocking_pool(caf::actor_system& sys, pool_actor pool,
                caf::timespan timeout = std::chrono::seconds(30));
  ~blocking_pool();

  /// Runs one autocommit statement. Errors: as `(query_atom, statement)`,
  /// plus `request_timeout` if no reply came within the timeout (every call
  /// below can answer it, and `shutting_down` once the pool has shut down).
  caf::expected<query_result> query(statement st);

  /// Leases a connection, waiting at most `wait` for one.
  caf::expected<lease> acquire(caf::timespan wait);

  /// Runs `st` on the leased connection; `invalid_lease` if the lease's
  /// worker has stopped.
  caf::expected<query_result> query(const lease& l, statement st);

  /// Returns the lease; errors: `invalid_lease`.
  caf::error release(const lease& l);

  /// Runs `sts` in one transaction; all results after COMMIT or an error.
  caf::expected<std::vector<query_result>>
  transaction(std::vector<statement> sts);

  /// Returns the pool's statistics.
  caf::expected<pool_stats> stats();

  /// `query`, `acquire` and `transaction` with a priority class (see
  /// `pool::priority`); replies and errors as those.
  caf::expected<query_result> query(priority prio, statement st);
  caf::expected<lease> acquire(caf::timespan wait, priority prio);
  caf::expected<std::vector<query_result>>
  transaction(priority prio, std::vector<statement> sts);

  /// Sends `(resize_atom, min_size, max_size)`; errors as that request.
  caf::error resize(uint64_t min_size, uint64_t max_size);

  /// Sends `(pause_atom, deadline)` and waits for its answer (the call's
  /// own timeout still applies); errors as that request.
  caf::error pause(caf::timespan deadline);

  /// Sends `(resume_atom)`; errors as that request.
  caf::error resume();

  /// Sends `(reset_atom)`; errors as that request.
  caf::error reset();

  /// Sends `(reconfigure_atom, x)`; errors as that request.
  caf::error reconfigure(pool_settings x);

  /// Shuts the pool down, letting leased work finish until `deadline`.
  caf::error shutdown(caf::timespan deadline);

  /// The number of calls that timed out and whose late reply has not been
  /// dropped yet (it is dropped at the start of the next call after it came).
  size_t stale_replies() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace pool
