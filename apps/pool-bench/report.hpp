#pragma once

// Printing the results: the per-configuration table, the summary, the JSON
// objects and the RESULT lines.

#include <string>
#include <vector>

#include "bench_config.hpp"
#include "phases.hpp"
#include "scheduler_mode.hpp"

namespace bench {

/// The pool phase of one configuration under one scheduler mode.
struct pool_run {
  scheduler_mode mode = scheduler_mode::standard;
  load_result load;
  /// The acquire phase of the same mode.
  acquire_result acq;
};

/// Everything measured for one configuration.
struct config_result {
  run_spec spec;
  /// One per scheduler mode that ran, in the order they ran.
  std::vector<pool_run> pools;
  /// --remote: the same phase against the remote pool, one per scheduler
  /// mode of this (client) process, in the order of `pools`.
  std::vector<pool_run> remotes;
  load_result raw;
  /// Connect-per-request; `connect.ran` is false where it was skipped.
  load_result connect;
};

/// Prints the configuration's rows: the pool per scheduler mode, raw
/// libpq, connect-per-request.
void print_config(const config_result& r);

/// Prints one line per configuration and scheduler mode with the headline
/// figures.
void print_summary(const std::vector<config_result>& rs);

/// The JSON objects of one configuration (the `--json` file's elements),
/// one per scheduler mode; `sched` describes each mode's scheduler
/// settings, in the order of `r.pools`.
std::vector<std::string> to_json(const config_result& r,
                                 const std::vector<std::string>& sched);

/// Prints "RESULT {json}" lines for the pool (per scheduler mode), the
/// remote pool (peer "libpool-remote", per mode), raw libpq and, if it ran,
/// connect-per-request; then with --remote one "REMOTE {json}" line per
/// mode: remote and in-process qps, their ratio, the remote pool's
/// connections and both client CPU costs.
void print_result_lines(const config_result& r);

/// Adds the per-query costs of `r` as <prefix>client_cpu_us_per_q,
/// <prefix>ctx_switches_per_q, <prefix>server_cpu_us_per_q and
/// <prefix>allocs_per_q (NaN is written as null).
json_object& add_costs(json_object& j, const std::string& prefix,
                       const load_result& r);

/// libpool's version (the CMake project version).
const char* libpool_version();

/// libpq's version, e.g. "15.18".
std::string libpq_version();

} // namespace bench
