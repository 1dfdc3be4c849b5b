#pragma once

// The benchmark's phases. Each returns what it measured, or says in
// `failure` why it could not measure.

#include <cstddef>
#include <cstdint>
#include <string>

#include "caf/fwd.hpp"

#include "measure.hpp"
#include "proc_stat.hpp"
#include "window.hpp"

namespace bench {

/// A pool on a pool node (pool-bench --remote).
struct remote_ref {
  /// The node; empty: no remote pool.
  std::string host;
  uint16_t port = 0;
  /// The pool's name (empty: the node's only pool).
  std::string name;

  /// "HOST:PORT".
  std::string node() const { return host + ":" + std::to_string(port); }
};

/// One configuration of the throughput phases.
struct run_spec {
  std::string conninfo;
  size_t clients = 64;
  size_t pool = 16;
  double warmup = 1;
  double duration = 5;
  /// The pool's pipeline_depth (1 = off).
  size_t pipeline_depth = 4;
  /// Where the server's CPU time is read.
  server_cpu_probe server;
  /// The pool phase runs against this pool node's pool instead of an
  /// in-process pool when `remote.host` is set (the node owns that pool:
  /// its size and pipeline_depth are the node's, not the ones above).
  remote_ref remote;
  /// Whether the in-process pool has a tracer (one that counts events):
  /// the price of tracing.
  bool trace = false;

  /// "64x16".
  std::string name() const {
    return std::to_string(clients) + "x" + std::to_string(pool);
  }
};

/// Phase A: acquire latency with an idle connection available.
struct acquire_result {
  /// From sending `acquire` to receiving the lease.
  latency_summary acquire;
  /// From sending `release` to receiving `ok`.
  latency_summary release;
  uint64_t errors = 0;
  std::string first_error;
  std::string failure;
};

/// A closed-loop `SELECT $1::int` phase (pool, raw libpq, or
/// connect-per-request).
struct load_result {
  /// Whether the phase ran at all.
  bool ran = false;
  /// Queries completed inside the measured window.
  uint64_t ops = 0;
  double qps = 0;
  /// Measured length of the window, in seconds.
  double seconds = 0;
  /// End-to-end latency of the queries completed inside the window.
  histogram hist;
  latency_summary latency;
  /// Errors and wrong answers during warm-up and window.
  uint64_t errors = 0;
  /// TPC-B: serialisation failures and deadlocks (SQLSTATE 40001, 40P01),
  /// not counted in `errors`.
  uint64_t retryable = 0;
  std::string first_error;
  /// Fewest and most queries one client (actor or thread) completed inside
  /// the window: the spread shows how fairly the load was served.
  uint64_t ops_min = 0;
  uint64_t ops_max = 0;
  /// Process CPU time (user + system, all threads) per query in the window.
  double cpu_us_per_query = 0;
  /// Context switches of the process (all threads) per query in the
  /// window.
  double ctx_per_query = 0;
  /// The server's CPU time per query in the window, in µs (NaN: no server
  /// process found on this machine).
  double server_cpu_us_per_query = 0;
  /// `operator new` calls per query in the window (whole process).
  double allocs_per_query = 0;
  /// malloc/calloc/realloc calls per query in the window (whole process,
  /// libpq included); -1 if not counted.
  double mallocs_per_query = -1;
  /// A remote pool: its connections (`total` of its stats) when the phase
  /// began; -1 for an in-process pool.
  int64_t pool_connections = -1;
  std::string failure;

  /// Fills in ops, qps, latency, per-query figures from `hist` and `u`.
  void finish(const window_usage& u, double duration);
};

/// Phase A: a pool of 2 idle connections; one event-based actor runs
/// `samples` acquire/release round trips after `warmup` unmeasured ones.
acquire_result run_acquire_phase(caf::actor_system& sys,
                                 const std::string& conninfo, size_t warmup,
                                 size_t samples);

/// The pool: min = max = `spec.pool` connections; `spec.clients`
/// event-based actors in a closed loop, each with one query in flight.
/// `label` names the phase in progress lines.
load_result run_pool_phase(caf::actor_system& sys, const run_spec& spec,
                           const std::string& label);

/// The baselines, each on `spec.pool` threads.
enum class raw_mode {
  /// One connection per thread, the statement prepared once, then
  /// `PQexecPrepared` with a text parameter: the ceiling for the pool.
  dedicated,
  /// `PQconnectdb` + `PQexecParams` + `PQfinish` for every query.
  connect_per_query,
};

load_result run_raw_phase(const run_spec& spec, raw_mode mode);

/// pgbench's TPC-B transaction through a pool of `spec.pool` connections
/// (min = max): `spec.clients` actors in a closed loop, each sending the
/// five statements as one `transaction` message. The tables must exist at
/// `scale` (`pgbench -i -s scale`). Serialisation failures and deadlocks
/// are counted in `retryable`, other errors in `errors`.
load_result run_tpcb_phase(caf::actor_system& sys, const run_spec& spec,
                           size_t scale, const std::string& label);

/// What an idle pool cost.
struct idle_result {
  size_t pool = 0;
  /// Measured length of the idle window, in seconds.
  double seconds = 0;
  /// This process's CPU time in the window, as % of one core.
  double cpu_percent = 0;
  /// This process's context switches per second in the window.
  double ctx_per_second = 0;
  /// The server's CPU time in the window, as % of one core (NaN: no server
  /// process found).
  double server_cpu_percent = 0;
  std::string failure;
};

/// Starts a pool of `pool_size` connections (min = max), waits until all
/// are idle, then measures `seconds` of doing nothing.
idle_result run_idle_phase(caf::actor_system& sys, const std::string& conninfo,
                           size_t pool_size, double seconds,
                           const server_cpu_probe& server);

/// What the scale checks measured (see scale.cpp).
struct scale_result {
  bool ok = false;
  std::string json;
};

/// The scale checks: `waiters` requests waiting on a pool of 16, and a pool
/// of min(`big_pool`, max_connections - 20) connections.
scale_result run_scale(caf::actor_system& sys, const std::string& conninfo,
                       size_t waiters, size_t big_pool);

} // namespace bench
