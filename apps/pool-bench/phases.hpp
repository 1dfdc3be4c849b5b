#pragma once

// The benchmark's phases. Each returns what it measured, or says in
// `failure` why it could not measure.

#include <cstddef>
#include <cstdint>
#include <string>

#include "caf/fwd.hpp"

#include "measure.hpp"
#include "window.hpp"

namespace bench {

/// One configuration of the throughput phases.
struct run_spec {
  std::string conninfo;
  size_t clients = 64;
  size_t pool = 16;
  double warmup = 1;
  double duration = 5;
  /// The pool's pipeline_depth (1 = off).
  size_t pipeline_depth = 4;

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
  std::string first_error;
  /// Fewest and most queries one client (actor or thread) completed inside
  /// the window: the spread shows how fairly the load was served.
  uint64_t ops_min = 0;
  uint64_t ops_max = 0;
  /// Process CPU time (user + system, all threads) per query in the window.
  double cpu_us_per_query = 0;
  /// `operator new` calls per query in the window (whole process).
  double allocs_per_query = 0;
  /// malloc/calloc/realloc calls per query in the window (whole process,
  /// libpq included); -1 if not counted.
  double mallocs_per_query = -1;
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
load_result run_pool_phase(caf::actor_system& sys, const run_spec& spec);

/// The baselines, each on `spec.pool` threads.
enum class raw_mode {
  /// One connection per thread, the statement prepared once, then
  /// `PQexecPrepared` with a text parameter: the ceiling for the pool.
  dedicated,
  /// `PQconnectdb` + `PQexecParams` + `PQfinish` for every query.
  connect_per_query,
};

load_result run_raw_phase(const run_spec& spec, raw_mode mode);

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
