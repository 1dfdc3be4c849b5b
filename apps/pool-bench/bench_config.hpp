#pragma once

#include "pool/config.hpp"

// Command-line and INI configuration of pool-bench.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "caf/fwd.hpp"

#include "app_cli.hpp"
#include "phases.hpp"

namespace bench {

/// The configurations (clients, pool size) of the default run.
constexpr const char* default_configs = "4x4,64x16,256x16,1024x16";

struct bench_config : app::cli_config {
  /// libpq connection string (PG* environment variables fill in the rest).
  std::string conninfo;
  /// Configurations to run, "CLIENTSxPOOL,..." (empty: `default_configs`).
  std::string configs;
  /// A single configuration instead: client actors (0: not given).
  size_t clients = 0;
  /// ... and pool size (min = max), also the raw baseline's threads.
  size_t pool = 0;
  /// Measured window of the throughput phases, in seconds.
  double duration = 5;
  /// Warm-up before the measured window, in seconds.
  double warmup = 1;
  /// Write the results as JSON to this file (empty: do not).
  std::string json;
  /// Draw the latency CDFs of pool vs raw libpq to this PNG (empty: do not).
  std::string plot;
  /// Print "RESULT {json}" per configuration and peer.
  bool result_line = false;
  /// Run the connect-per-request baseline for every configuration (by
  /// default only for the first).
  bool connect_baseline = false;
  /// Run the scale checks instead of the throughput run.
  bool scale = false;
  /// Scale: requests waiting on a pool of 16.
  size_t scale_waiters = 10000;
  /// Scale: size of the large pool (capped by the server's
  /// max_connections - 20).
  size_t scale_pool = 500;
  /// Measured acquire/release round trips.
  size_t acquire_samples = 20000;
  /// Unmeasured acquire/release round trips before them.
  size_t acquire_warmup = 1000;
  /// The pool's pipeline_depth in the throughput runs (1 = off).
  size_t pipeline_depth = pool::pool_config{}.pipeline_depth;
  /// Whether the pools of the throughput runs have a tracer that counts
  /// the events (what tracing costs).
  bool trace = false;
  /// Scheduler modes of the pool phases: "io", "default" or "both".
  std::string scheduler = "both";
  /// The server's data directory, to find its postmaster for the server
  /// CPU figures (default: $POOL_TEST_PGDATA; empty: every process named
  /// postgres on this machine counts).
  std::string pgdata;
  /// Run pgbench's TPC-B transaction through the pool and with pgbench
  /// instead of the throughput run.
  bool tpcb = false;
  /// TPC-B: pgbench's scale factor (`pgbench -i -s`).
  size_t tpcb_scale = 1;
  /// TPC-B: the pgbench binary (empty: $POOL_TEST_PGBIN/pgbench,
  /// /usr/lib/postgresql/15/bin/pgbench, then pgbench on PATH).
  std::string pgbench;
  /// Run only the idle phase.
  bool idle = false;
  /// Length of the idle phase in seconds (0: 10 with --idle, 3 in the
  /// throughput run; negative: no idle phase in the throughput run).
  double idle_seconds = 0;
  /// Size of the idle pool.
  size_t idle_pool = 16;
  /// A pool node (poold) "HOST:PORT": the throughput run's pool phases run
  /// against its pool too, beside the in-process pool (empty: do not).
  std::string remote;
  /// The remote pool's name (empty: the node's only pool).
  std::string remote_pool;

  bench_config();

  /// The configurations to run as (clients, pool) pairs, or an error
  /// message in `error`.
  std::vector<std::pair<size_t, size_t>> run_list(std::string& error) const;

  /// The pool of --remote/--remote-pool (host empty: none), or an error
  /// message in `error` (bad HOST:PORT, --remote-pool without --remote,
  /// --remote with --scale, --tpcb or --idle).
  remote_ref remote_target(std::string& error) const;
};

/// The scheduler settings (shared with pool-demo).
using app::read_scheduler_info;
using app::scheduler_info;

} // namespace bench
