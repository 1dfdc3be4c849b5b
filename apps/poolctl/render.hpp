#pragma once

// What poolctl prints: stats, health and query results, as text or JSON.
// Plain functions of the values, no actors (so they are easy to check).

#include <string>
#include <vector>

#include "pool/cluster.hpp"
#include "pool/types.hpp"

namespace poolctl {

/// The verdict of `health`.
struct health {
  bool ok = false;
  /// Why not ("" when healthy).
  std::string reason;
};

/// Healthy when the pool is not shutting down, its circuit breaker is not
/// open, and a connection exists or connects do not fail (no connect error
/// since the last successful connect).
health evaluate_health(const pool::pool_stats& x);

/// "ok" or "not ok: REASON", with the pool's name.
std::string health_text(const std::string& pool, const health& h);

/// {"pool":..., "healthy":..., "reason":...}.
std::string health_json(const std::string& pool, const health& h);

/// "pool NAME: " followed by pool::to_string(x), every field labelled.
std::string stats_text(const std::string& pool, const pool::pool_stats& x);

/// One JSON object with every field of `x` under the labels of
/// pool::to_string, plus "pool" (the name); wait_time_total in
/// milliseconds, breaker as "closed", "open" or "half_open".
std::string stats_json(const std::string& pool, const pool::pool_stats& x);

/// psql-style: the column names, a rule, the rows with aligned columns
/// (NULL prints as nothing) and "(N rows)"; for commands without a result
/// set, the command tag.
std::string result_table(const pool::query_result& r);

/// {"columns":[...],"rows":[[...]],"command_tag":"..."}, null for NULL.
std::string result_json(const pool::query_result& r);

/// The pool names, one a line.
std::string pools_text(const std::vector<std::string>& names);

/// {"pools":[...]}.
std::string pools_json(const std::vector<std::string>& names);

/// The cluster as node `v.node` sees it: a line naming the node and the
/// leader, a table of the nodes (name, address, live or why not), and a
/// table of the shares (pool, node, limit, open on the server, budget).
std::string cluster_text(const pool::cluster_view& v);

/// {"node":..., "leader":..., "plans":N, "nodes":[{"name", "address",
/// "live", "reason"}], "shares":[{"pool", "node", "limit", "open",
/// "budget"}]}.
std::string cluster_json(const pool::cluster_view& v);

} // namespace poolctl
