#pragma once

// The settings of a running pool that `reconfigure` may change: every field
// is optional, and only the fields that are set change.

#include <cstdint>
#include <string>

#include "caf/meta/type_name.hpp"
#include "caf/optional.hpp"
#include "caf/timespan.hpp"

namespace pool {

struct pool_config;

/// A change to a running pool's settings, sent with `reconfigure_atom`. Each
/// field that is set replaces the `pool_config` field of the same name (see
/// there for its meaning and its valid values); unset fields keep their
/// value. The pool checks the result like `validate(pool_config)` and refuses
/// the whole change with `invalid_request` naming the first bad field.
///
/// When each takes effect:
/// - at once: the timeouts (`acquire_timeout` for requests that arrive from
///   now on, `query_timeout` for statements that start from now on,
///   `connect_timeout` for connects that start from now on), `min_size` and
///   `max_size` (as `resize`), the health settings, `max_waiters`,
///   `leak_threshold`, `lease_timeout`, `priority_aging`;
///   `max_lifetime` for connections opened from now on;
/// - through a `reset` that the change triggers (every connection is
///   replaced without interrupting service): `conninfo`, `reset_query`,
///   `statement_cache_size`, `pipeline_depth`.
struct pool_settings {
  caf::optional<caf::timespan> acquire_timeout;
  caf::optional<caf::timespan> query_timeout;
  caf::optional<caf::timespan> connect_timeout;
  caf::optional<uint64_t> min_size;
  caf::optional<uint64_t> max_size;
  caf::optional<caf::timespan> health_check_interval;
  caf::optional<caf::timespan> idle_timeout;
  caf::optional<caf::timespan> max_lifetime;
  caf::optional<caf::timespan> validate_after_idle;
  caf::optional<uint64_t> max_waiters;
  caf::optional<caf::timespan> leak_threshold;
  caf::optional<caf::timespan> lease_timeout;
  caf::optional<caf::timespan> priority_aging;
  /// Needs new connections: applied through a reset. Never logged.
  caf::optional<std::string> conninfo;
  /// Needs new connections: applied through a reset.
  caf::optional<std::string> reset_query;
  /// Needs new connections: applied through a reset.
  caf::optional<uint64_t> statement_cache_size;
  /// Needs new connections: applied through a reset.
  caf::optional<uint64_t> pipeline_depth;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_settings& x) {
  return f(caf::meta::type_name("pool::pool_settings"), x.acquire_timeout,
           x.query_timeout, x.connect_timeout, x.min_size, x.max_size,
           x.health_check_interval, x.idle_timeout, x.max_lifetime,
           x.validate_after_idle, x.max_waiters, x.leak_threshold,
           x.lease_timeout, x.priority_aging, x.conninfo, x.reset_query,
           x.statement_cache_size, x.pipeline_depth);
}

/// Applies the fields of `x` that are set to `cfg`. Sets `needs_reset` if a
/// field that takes new connections (conninfo, reset_query,
/// statement_cache_size, pipeline_depth) changed its value. Returns the
/// names of the fields that changed, comma-separated ("" if none).
std::string apply(const pool_settings& x, pool_config& cfg, bool& needs_reset);

} // namespace pool
