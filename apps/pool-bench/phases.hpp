#pragma once

// The benchmark's phases. Each returns what it measured, or says in
// `failure` why it could not measure.

#include <cstddef>
#include <cstdint>
#include <string>

#include "caf/fwd.hpp"

#include "measure.hpp"

namespace bench {

/// One configuration of the throughput phases.
struct run_spec {
  std::string conninfo;
  size_t clients = 64;
  size_t pool = 16;
  double warmup = 1;
  double duration = 5;
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

/// Phase B (pool) or C (raw libpq): closed-loop `SELECT $1::int`.
struct load_result {
  /// Queries completed inside the measured window.
  uint64_t ops = 0;
  double qps = 0;
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
  std::string failure;
};

/// Phase A: a pool of 2 idle connections; one event-based actor runs
/// `samples` acquire/release round trips after `warmup` unmeasured ones.
acquire_result run_acquire_phase(caf::actor_system& sys,
                                 const std::string& conninfo, size_t warmup,
                                 size_t samples);

/// Phase B: a pool with min = max = `spec.pool`; `spec.clients` event-based
/// actors in a closed loop, each with one query in flight.
load_result run_pool_phase(caf::actor_system& sys, const run_spec& spec);

/// Phase C: `spec.pool` threads, each with its own libpq connection, running
/// the same prepared statement with blocking `PQexecPrepared`.
load_result run_raw_phase(const run_spec& spec);

} // namespace bench
