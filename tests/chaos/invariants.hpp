#pragma once

// The checks every chaos scenario runs once its fault is over:
// - every request answered exactly once, by its deadline, with a correct
//   result or an error of an expected kind (`check_answers`);
// - no lease left behind (`check_no_leases`);
// - pool size back within [min_size, max_size] (`check_size_in_range`);
// - every connection, leased one by one, is a live backend of its own
//   (`check_idle_ping`);
// and, while the scenario runs, `open connections <= max_size` at every
// sample (`stats_monitor`).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "fixture.hpp"
#include "load.hpp"

namespace chaos {

/// Prints the counts (sent, answered, per kind and operation, latencies) and
/// checks: sent == answered, no duplicate answer, no wrong value, no request
/// that the pool left unanswered past the client's deadline, every error
/// kind in `allowed`, `invalid_lease` only for lease operations and
/// `request_receiver_down` only for queries on a lease, and (if
/// `every_op_ok`) correct answers for each of query, acquire, lease query,
/// release and transaction. Returns the number of answers of a kind not in
/// `allowed`.
uint64_t check_answers(const std::string& scenario, const load_report& rep,
                       const std::set<std::string>& allowed,
                       bool every_op_ok = true);

/// Polls stats until `leased == 0` (at most `bound`); checks it.
void check_no_leases(fixture& f, const pool::pool_actor& p, ms bound);

/// Polls stats every 20 ms from now until the pool's size is within
/// [min_size, max_size] with at least min_size connections open (not
/// connecting), at most `bound`. `since` is when the fault ended; prints
/// and returns the time from `since` until then (-1 if never).
long long check_size_in_range(fixture& f, const pool::pool_actor& p,
                              size_t min_size, size_t max_size, ms bound,
                              time_point since);

/// Pings every connection itself, in a way validation-on-handout cannot
/// rescue: waits (at most 5 s) until every connection is idle, leases all
/// `stats.total` of them (each acquire waits at most 3 s), asks each lease
/// for `pg_backend_pid()`, checks that the pids are distinct and are live
/// backends on the server (pg_stat_activity, asked from outside the pool),
/// releases them, and checks that no connection was opened, closed or
/// failed a health check meanwhile (a dead one handed out would have been
/// replaced and counted).
void check_idle_ping(fixture& f, const pool::pool_actor& p);

/// The checks once the load stopped: no lease left (within 5 s), the size
/// still within [min_size, max_size] (within 2 s), every connection a live
/// backend of its own (`check_idle_ping`).
void check_at_rest(fixture& f, const pool::pool_actor& p, size_t min_size,
                   size_t max_size);

/// Samples the pool's stats every `interval` on its own thread (with its own
/// scoped actor) and remembers the largest `total` seen.
class stats_monitor {
 public:
  stats_monitor(caf::actor_system& sys, pool::pool_actor p,
                ms interval = 100ms);
  ~stats_monitor();

  stats_monitor(const stats_monitor&) = delete;
  stats_monitor& operator=(const stats_monitor&) = delete;

  uint32_t max_total() const { return max_total_; }
  uint64_t samples() const { return samples_; }
  /// Stats requests that failed (the pool did not answer within 5 s).
  uint64_t failed_samples() const { return failed_; }

  /// Stops sampling and checks `max_total() <= max_size`, printing it.
  void check(size_t max_size);

 private:
  caf::actor_system& sys_;
  pool::pool_actor pool_;
  ms interval_;
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> max_total_{0};
  std::atomic<uint64_t> samples_{0};
  std::atomic<uint64_t> failed_{0};
  std::thread thread_;
};

/// A scenario's pool under the steady load. Construction spawns a pool with
/// `config` through `f` (which shuts it down at the end), waits until
/// min_size connections are open, starts a `stats_monitor` and a
/// `load_generator` with default options, and checks that the load gets 50
/// correct results within 5 s.
struct loaded_pool {
  loaded_pool(fixture& f, pool::pool_config config);

  pool::pool_config pc;
  pool::pool_actor p;
  stats_monitor mon;
  load_generator load;

  /// Stops the load, checks that every client quit within 12 s, and returns
  /// what the clients saw.
  load_report stop_load();

  /// The end of a scenario: `mon.check`, `check_at_rest`, and the final
  /// stats printed.
  void check_final(fixture& f);
};

/// The median latency (ms) of `records` (-1 if empty).
long long median_latency(std::vector<answer_record> records);

} // namespace chaos
