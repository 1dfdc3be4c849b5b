#pragma once

// Command-line and INI configuration of pool-bench.

#include <cstddef>
#include <string>

#include "caf/actor_system_config.hpp"
#include "caf/fwd.hpp"

namespace bench {

struct bench_config : caf::actor_system_config {
  /// libpq connection string (PG* environment variables fill in the rest).
  std::string conninfo;
  /// Client actors of the throughput phase.
  size_t clients = 64;
  /// Pool size (min = max) of the throughput phase, and threads of the raw
  /// libpq baseline.
  size_t pool = 16;
  /// Measured window of the throughput phases, in seconds.
  double duration = 5;
  /// Warm-up before the measured window, in seconds.
  double warmup = 1;
  /// Write the results as JSON to this file (empty: do not).
  std::string json;
  /// Print "RESULT {json}" per configuration.
  bool result_line = false;
  /// Measured acquire/release round trips.
  size_t acquire_samples = 20000;
  /// Unmeasured acquire/release round trips before them.
  size_t acquire_warmup = 1000;

  bench_config();

  /// Parses the command line (and caf-application.ini). Accepts both
  /// "--name=value" and "--name value" for options that take a value; CAF's
  /// own parser only knows the first form.
  caf::error parse_args(int argc, char** argv);
};

/// The scheduler settings in effect.
struct scheduler_info {
  std::string policy;
  size_t workers = 0;
  size_t max_threads = 0;
  size_t max_throughput = 0;
  size_t aggressive_poll_attempts = 0;
  size_t moderate_poll_attempts = 0;
  std::string moderate_sleep;
  std::string relaxed_sleep;

  std::string to_string() const;
};

scheduler_info read_scheduler_info(caf::actor_system& sys);

} // namespace bench
