#pragma once

// Hooks: code of the pool's user that runs at three points of a
// connection's life, like pgxpool's AfterConnect, BeforeAcquire and
// AfterRelease. Each hook exists in two forms: SQL in the configuration
// (`pool_config::after_connect_sql`, `before_acquire_sql`, `reset_query`)
// and callbacks (`pool_config::hooks`, this header). A hook that fails
// (its SQL fails, its callback throws) is handled like a failed health
// check: the connection is closed and replaced, the pool goes on.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "caf/timespan.hpp"

#include "pool/types.hpp"

namespace pool {

/// What a hook learns about the connection it runs for.
struct connection_info {
  /// The pool's id of the connection (as in logs and stats).
  uint32_t id = 0;
  /// The host and port it reached ("127.0.0.1:5432", "/tmp:5432").
  std::string endpoint;
  /// How long ago it was opened.
  caf::timespan age{0};
  /// How often it was handed out before (leases, transactions and pooled
  /// queries that took it; not queries that joined its pipeline).
  uint64_t uses = 0;
};

/// Callbacks run by the pool. Each is optional; an empty one costs one test
/// of a null function where it would run. They run inside the pool's
/// actors, so they must not block: decide from what they are given.
struct pool_hooks {
  /// Runs in the connection's worker once the connection is open, before it
  /// is ready for use, after the statements of `after_connect_sql`.
  /// Returns more statements to run on it, in order (e.g. `SET`, `PREPARE`);
  /// their results are dropped. A statement that fails, a transaction left
  /// open, or an exception fails the connect: `connect_failed` naming the
  /// hook, counted by the circuit breaker like any failed connect.
  std::function<std::vector<statement>(const connection_info&)> after_connect;

  /// Runs in the pool manager each time a free connection is about to be
  /// handed out (to a lease, a transaction or a pooled query; not to a
  /// query that joins its pipeline). Returning false (or throwing) rejects
  /// it: the connection is closed (close reason `hook`) and replaced, and
  /// the request goes to another connection.
  std::function<bool(const connection_info&)> before_acquire;

  /// Runs in the pool manager each time a connection comes back free after
  /// a lease, a transaction or pooled queries (after the lease's clean-up
  /// and `reset_query`). Returning false (or throwing) discards it: closed
  /// (close reason `hook`) and replaced.
  std::function<bool(const connection_info&)> after_release;
};

} // namespace pool
