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
/// it inside an actor's handler: that would block a scheduler thread; send
/// requests from the actor instead. One instance per thread.
class blocking_pool {
 public:
  /// A client of `pool` whose calls wait at most `timeout` each.
  blocking_pool(caf::actor_system& sys, pool_actor pool,
                caf::timespan timeout = std::chrono::seconds(30));
  ~blocking_pool();

  /// Runs one autocommit statement. Errors: as `(query_atom, statement)`,
  /// plus CAF's `request_timeout` if no reply came within the timeout.
  caf::expected<query_result> query(statement st);

  /// Leases a connection, waiting at most `wait` for one.
  caf::expected<lease> acquire(caf::timespan wait);

  /// Runs `st` on the leased connection.
  caf::expected<query_result> query(const lease& l, statement st);

  /// Returns the lease; errors: `invalid_lease`.
  caf::error release(const lease& l);

  /// Runs `sts` in one transaction; all results after COMMIT or an error.
  caf::expected<std::vector<query_result>>
  transaction(std::vector<statement> sts);

  /// Returns the pool's statistics.
  caf::expected<pool_stats> stats();

  /// Shuts the pool down, letting leased work finish until `deadline`.
  caf::error shutdown(caf::timespan deadline);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace pool
