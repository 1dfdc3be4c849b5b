#pragma once

// Draws the latency distributions with gnuplot.

#include <string>
#include <vector>

#include "report.hpp"

namespace bench {

enum class plot_status { written, no_gnuplot, failed };

/// Draws one panel per configuration: the CDF of end-to-end latency (log
/// x-axis) of the pool, raw libpq and, where it ran, connect-per-request.
/// Runs gnuplot on a generated script and data files in a temporary
/// directory. `message` says what happened.
plot_status plot_latency(const std::string& png,
                         const std::vector<config_result>& rs,
                         std::string& message);

} // namespace bench
