#pragma once

// The read-routing keys of a pool section: `replicas` (a list of conninfos)
// and the router's settings (pool/routing.hpp). A section with replicas is
// served as one routed pool: a primary pool and one pool per replica, each
// with the section's settings except its conninfo.

#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/settings.hpp"
#include "caf/timespan.hpp"

#include "pool/config.hpp"
#include "pool/config_settings.hpp"
#include "pool/routing.hpp"

namespace poold {

/// A pool section's routing keys, defaults filled in.
struct routing_settings {
  /// `replicas`: one conninfo per replica (empty: a plain pool).
  std::vector<std::string> replicas;
  /// `reads-fall-back-to-primary`.
  bool reads_fall_back_to_primary = true;
  /// `max-replica-lag` (0 = no bound).
  caf::timespan max_replica_lag = std::chrono::seconds(10);
  /// `lag-check-interval` (positive).
  caf::timespan lag_check_interval = std::chrono::seconds(1);

  /// Whether the pool is routed (has replicas).
  bool routed() const { return !replicas.empty(); }

  /// Whether every key has the same value in `other`.
  bool operator==(const routing_settings& other) const;
  bool operator!=(const routing_settings& other) const {
    return !(*this == other);
  }
};

/// The routing keys, for --help and --dump-config, with their defaults.
std::vector<pool::setting_doc> routing_setting_docs();

/// The name of replica `i` (0-based) of pool `pool`: "pool.replica<i+1>".
std::string replica_name(const std::string& pool, size_t i);

/// Moves the routing keys out of `section` (the rest is for
/// pool::read_pool_settings) into `out`. Errors name `where` and the key
/// ("pools.orders.replicas[0]: expected a quoted string, ..."); a
/// conninfo's value never appears in them. A single string is taken as a
/// list of one.
caf::error take_routing_settings(caf::settings& section,
                                 const std::string& where,
                                 routing_settings& out);

/// The routed pool of `primary` (validated) and `r` (with replicas): each
/// replica is `primary` with the replica's conninfo and name.
pool::routed_pool_config routed_config(const pool::pool_config& primary,
                                       const routing_settings& r);

/// Checks `routed_config(primary, r)`; errors name `where` and the key
/// ("pools.orders.replicas[1] (orders.replica2): conninfo: ..."), never a
/// password. Empty error when `r` has no replicas.
caf::error validate_routing(const pool::pool_config& primary,
                            const routing_settings& r,
                            const std::string& where);

/// The routing keys whose values differ between `from` and `to`,
/// comma-separated ("" if none).
std::string routing_changes(const routing_settings& from,
                            const routing_settings& to);

/// Spawns the routed pool of `primary` (its logger set) and `r` (with
/// replicas), and logs its replicas (conninfos redacted) to `log`.
caf::expected<pool::pool_actor> spawn_routed(caf::actor_system& sys,
                                             const pool::pool_config& primary,
                                             const routing_settings& r,
                                             spdlog::logger& log);

} // namespace poold
