#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "caf/error.hpp"
#include "caf/timespan.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace pool {

class backend;

/// Everything a pool needs to start. `validate()` checks it; `spawn_pool`
/// refuses an invalid one with an `invalid_config` error naming the field.
struct pool_config {
  /// libpq connection string: keyword/value ("host=/tmp port=5432
  /// dbname=app") or URI ("postgresql://user@host/db"). libpq's `PG*`
  /// environment variables fill in what it leaves out. Default: "" (all from
  /// the environment). The password in it never appears in logs or errors.
  std::string conninfo;

  /// Connections opened at start and kept open. Default 1.
  size_t min_size = 1;

  /// Upper bound on open connections, connecting ones included. Default 10;
  /// must be at least 1 and at least `min_size`.
  size_t max_size = 10;

  /// How long a `query` or `transaction` may wait for a connection before it
  /// is answered with `acquire_timeout`. (`acquire` carries its own timeout.)
  /// Default 5 s; must be positive.
  caf::timespan acquire_timeout = std::chrono::seconds(5);

  /// How long one statement may run before it is cancelled on the server and
  /// answered with `query_timeout`. Default 30 s; must be positive.
  caf::timespan query_timeout = std::chrono::seconds(30);

  /// How long opening one connection may take (libpq's connect_timeout is set
  /// from it unless the conninfo sets its own). Default 10 s; must be
  /// positive.
  caf::timespan connect_timeout = std::chrono::seconds(10);

  /// Upper bound on requests waiting for a connection; beyond it requests are
  /// answered with `queue_full` at once. Default 10000; must be at least 1.
  size_t max_waiters = 10000;

  /// Prepared statements cached per connection (least recently used ones are
  /// deallocated first). 0 turns the cache off, e.g. for PgBouncer's
  /// transaction mode. Default 128.
  size_t statement_cache_size = 128;

  /// The connection backend. Default (nullptr): libpq. Tests plug in a fake;
  /// other databases plug in here (see pool/backend.hpp).
  std::shared_ptr<backend> connection_backend;

  /// Where the pool logs. Default (nullptr): a logger named "pool" that
  /// writes to stderr at level warn.
  std::shared_ptr<spdlog::logger> logger;
};

/// Checks `cfg` and returns an `invalid_config` error whose message names the
/// first invalid field and why ("max_size: must be at least min_size (4), is
/// 2"), or an empty error when `cfg` is valid. Checks the conninfo syntax
/// with libpq's parser without echoing the password.
caf::error validate(const pool_config& cfg);

/// Returns `conninfo` with the password's value replaced by "***", for logs.
std::string redact_conninfo(const std::string& conninfo);

} // namespace pool
