#pragma once

#include <string>

#include "caf/expected.hpp"

#include "pool/types.hpp"

namespace pool {

/// Whether a pool can serve requests, as judged from its statistics.
struct health_status {
  /// True when the pool is expected to serve requests.
  bool ok = false;
  /// Why it is not healthy ("" when `ok`), e.g. "circuit breaker open: ...".
  std::string reason;
};

/// Judges a pool's health from a `stats_atom` answer. Not healthy when the
/// stats did not come (`stats` holds the error), the pool is shutting down,
/// it is paused, its circuit breaker is open, or no connection is open while
/// connects fail. The reason names the first of these that applies and, where
/// there is one, the last connect error (which never contains a password).
health_status health(const caf::expected<pool_stats>& stats);

} // namespace pool
