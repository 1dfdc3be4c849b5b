#pragma once

// poold in a cluster (pool/cluster.hpp): the `[cluster]` section names the
// node and its peers; a pool section with `cluster-budget` shares that budget
// with the pools of the same name on the other nodes.
//
//   [cluster]
//   node = "a"
//   peers = ["10.0.0.2:4270", "10.0.0.3:4270"]
//   [pools.orders]
//   conninfo = "..."
//   cluster-budget = 40        # or "auto": max_connections - cluster-reserve
//   cluster-reserve = 5

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "caf/error.hpp"
#include "caf/fwd.hpp"
#include "caf/settings.hpp"

#include "pool/cluster.hpp"
#include "pool/config.hpp"
#include "pool/config_settings.hpp"

namespace poold {

/// A pool section's cluster keys.
struct pool_cluster_settings {
  /// Whether the section has `cluster-budget`.
  bool clustered = false;
  /// `cluster-budget`: a number (0 in the file: not clustered), or 0 here
  /// for "auto" (`clustered` set).
  uint32_t budget = 0;
  /// `cluster-reserve`, for "auto".
  uint32_t reserve = 0;

  bool operator==(const pool_cluster_settings& x) const {
    return clustered == x.clustered && budget == x.budget &&
           reserve == x.reserve;
  }
  bool operator!=(const pool_cluster_settings& x) const {
    return !(*this == x);
  }
};

/// The cluster keys, for --help and --dump-config, with their defaults.
std::vector<pool::setting_doc> cluster_setting_docs();

/// Moves the cluster keys out of `section` into `out`. Errors name `where`
/// and the key ("pools.orders.cluster-budget: expected a positive number or
/// \"auto\", got ...").
caf::error take_cluster_settings(caf::settings& section,
                                 const std::string& where,
                                 pool_cluster_settings& out);

/// For a clustered pool of node `node`: sets the application_name of `pc`'s
/// conninfo to pool::cluster_application_name (how the leader counts the
/// node's connections), and refuses what a clustered pool cannot be (a
/// routed pool). Errors name `where`.
caf::error prepare_clustered(pool::pool_config& pc, const std::string& node,
                             bool routed, const std::string& where);

/// The configuration to spawn the pool `pc` with: min_size 0 if it is
/// clustered (`start_cluster` gives it a limit of 0, then its min_size).
pool::pool_config spawn_config(pool::pool_config pc,
                               const pool_cluster_settings& cs);

/// The pools of a node in a cluster, started: each clustered pool with a
/// limit of 0 and its watch pool, and the member (not yet published).
struct started_cluster {
  caf::actor member;
  /// The watch pools, by pool name (shut down after the pools).
  std::map<std::string, pool::pool_actor> watches;
};

/// Starts the watch pools of the clustered pools in `pools` (already
/// spawned, each given a limit of 0 here, before any client can reach it)
/// and the member. Returns an error naming the pool whose watch could not
/// start.
caf::expected<started_cluster>
start_cluster(caf::actor_system& sys, const pool::cluster_config& base,
              const std::map<std::string, pool::pool_actor>& pools,
              const std::map<std::string, pool::pool_config>& configs,
              const std::map<std::string, pool_cluster_settings>& clustering,
              std::shared_ptr<spdlog::logger> log);

} // namespace poold
