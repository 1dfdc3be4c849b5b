#pragma once

// Read routing: one pool handle in front of a primary and its streaming
// replicas. Requests marked read-only (`statement::read_only`) go to a
// replica that is serving; everything else goes to the primary.

#include <chrono>
#include <vector>

#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/config.hpp"
#include "pool/protocol.hpp"

namespace pool {

/// What a routed pool needs: one pool configuration for the primary and one
/// per replica (each a pool of its own, with its own size, breaker and
/// health checks).
struct routed_pool_config {
  /// The primary: every request not marked read-only, every lease.
  pool_config primary;
  /// The replicas, in any order; names must differ from each other and from
  /// the primary's. May be empty (then reads go where the fallback says).
  std::vector<pool_config> replicas;
  /// Whether a read-only request runs on the primary when no replica is
  /// serving (true), or is answered with `no_replica` (false). Default true.
  bool reads_fall_back_to_primary = true;
  /// A replica whose replay lag is above this gets no reads until a later
  /// check finds it within the bound again (like Odyssey's
  /// `catchup_timeout`). Default 10 s; 0 = no bound (the lag is still
  /// measured and reported). Must not be negative.
  caf::timespan max_replica_lag = std::chrono::seconds(10);
  /// How often the lag is checked: one query through the primary's pool
  /// for its WAL position (bounded by this interval), then one through each
  /// replica's pool (with its `health_check_timeout`). A replica whose check
  /// fails gets no reads until one succeeds. Default 1 s; must be positive.
  caf::timespan lag_check_interval = std::chrono::seconds(1);
};

/// Checks `cfg`: each pool configuration (see `validate(const
/// pool_config&)`; the field is named "primary.max_size",
/// "replicas[1].conninfo", ...), distinct names, the lag settings. Returns
/// an `invalid_config` error naming the first bad field, or an empty error.
caf::error validate(const routed_pool_config& cfg);

/// Spawns the primary and replica pools of `cfg` and the router in front of
/// them, and returns the router: a `pool_actor` that answers every request
/// of the pool protocol (see pool/protocol.hpp) as follows.
///
/// - `query` and `transaction` whose statements are all `read_only` go to a
///   serving replica (round robin), or, when none serves, to the primary
///   (counted in `pool_stats::reads_on_primary`) or fail with `no_replica`
///   (see `reads_fall_back_to_primary`). Everything else goes to the
///   primary, which answers the requester directly (CAF's `delegate`). A
///   read's answer passes back through the router: a read that the replica
///   could not run (`connect_failed`, `circuit_open`, `auth_failed`, or
///   `connection_lost`: it changed nothing) runs once more at once, on
///   another serving replica or as the fallback says, and that replica is
///   out until its next lag check succeeds. Other errors are the answer.
/// - `acquire` and `release` go to the primary: leases are on the primary.
/// - `stats` replies the primary's `pool_stats` with `replicas` filled in:
///   per replica whether it serves, why not, its lag and its hosts.
/// - `subscribe` goes to the primary (its breaker's events), and so do
///   `listen` and `unlisten` (notifications are the primary's), and
///   `limit` (a cluster's budget is the primary server's connections).
/// - `resize`, `reconfigure`, `pause`, `resume`, `reset` and `shutdown` go
///   to every pool and reply once all did, with the first error if any
///   failed; a `conninfo` in `reconfigure` is the primary's only (each
///   replica keeps its own). After `shutdown` the router exits.
///
/// A replica serves while its last lag check succeeded, its lag is within
/// `max_replica_lag`, its circuit breaker is not open and no read failed on
/// it as above since that check. Lag is not hidden: a serving replica may
/// return data up to `max_replica_lag` (plus one check interval) older than the
/// primary's. Errors: `invalid_config` naming the field (and nothing is
/// spawned).
caf::expected<pool_actor> spawn_routed_pool(caf::actor_system& sys,
                                            routed_pool_config cfg);

/// The SQL that samples the primary's WAL position for the lag check
/// (`pg_current_wal_lsn()`).
extern const char* const primary_lsn_sql;

/// The SQL of a replica's lag check: whether it is in recovery, the WAL
/// position it replayed, and its own lag estimate in seconds (0 when it
/// replayed all the WAL it received, else `now() -
/// pg_last_xact_replay_timestamp()`).
///
/// The lag the router uses: 0 for a server not in recovery; 0 if the replica
/// replayed the position the primary showed in this round's sample; else the
/// time since the primary first showed a position beyond the replica's
/// (like `pg_stat_replication.replay_lag`, in steps of the check interval).
/// So a replica whose stream broke lags from the primary's first write
/// after the break, although it replayed all it received. The replica's own
/// estimate counts when the primary could not be sampled this round (it is
/// down, or in recovery), and as a lower bound when the replica is behind
/// every sample kept (e.g. at start, or after a pause longer than
/// `max_replica_lag`).
extern const char* const replica_lag_sql;

} // namespace pool
