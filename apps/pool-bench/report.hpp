#pragma once

// Printing the results: the per-configuration table, the summary, the JSON
// objects and the RESULT lines.

#include <string>
#include <vector>

#include "bench_config.hpp"
#include "phases.hpp"

namespace bench {

/// Everything measured for one configuration.
struct config_result {
  run_spec spec;
  load_result pool;
  load_result raw;
  /// Connect-per-request; `connect.ran` is false where it was skipped.
  load_result connect;
};

/// Prints the configuration's rows: pool, raw libpq, connect-per-request.
void print_config(const config_result& r);

/// Prints one line per configuration with the headline figures.
void print_summary(const std::vector<config_result>& rs,
                   const acquire_result& acq);

/// The JSON object of one configuration (the `--json` file's elements).
std::string to_json(const config_result& r, const acquire_result& acq,
                    const scheduler_info& sched);

/// Prints "RESULT {json}" lines for the pool, raw libpq and, if it ran,
/// connect-per-request.
void print_result_lines(const config_result& r, const acquire_result& acq);

/// libpool's version (the CMake project version).
const char* libpool_version();

/// libpq's version, e.g. "15.18".
std::string libpq_version();

} // namespace bench
