#pragma once

// Comparing two configurations of a pool, for a reload of a configuration
// file (poold's SIGHUP): what `reconfigure` can change on the running pool,
// and what takes a restart.

#include <string>

#include "pool/settings.hpp"

namespace pool {

struct pool_config;

/// Returns the settings of `cfg` that `reconfigure` can change, every field
/// set: sent to a running pool, it takes the values of `cfg` (a reload of a
/// configuration file).
pool_settings settings_of(const pool_config& cfg);

/// Returns the names of the `pool_config` fields that differ between `from`
/// and `to` but that `reconfigure` cannot change (they take effect when the
/// pool is spawned again), comma-separated ("" if none).
std::string restart_only_changes(const pool_config& from,
                                 const pool_config& to);

} // namespace pool
