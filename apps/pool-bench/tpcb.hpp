#pragma once

// The --tpcb mode: pgbench's TPC-B transaction through the pool (per
// scheduler mode) beside pgbench itself, on the same tables, in one run.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "bench_config.hpp"
#include "proc_stat.hpp"
#include "scheduler_mode.hpp"

namespace bench {

class system_factory;

/// Initialises pgbench's tables (`pgbench -i -s cfg.tpcb_scale`), then per
/// configuration (clients N, pool P) runs the TPC-B phase through a pool
/// of P in each of `modes` and `pgbench -M prepared -c P -j 2 -T duration
/// -n`, prints a table (and "TPCB {json}" lines with --result-line) and
/// appends one JSON object per peer to `objects`. Returns false if a phase
/// failed or saw errors other than serialisation failures and deadlocks.
bool run_tpcb_mode(const bench_config& cfg, const system_factory& systems,
                   const std::vector<scheduler_mode>& modes,
                   const server_cpu_probe& server,
                   const std::vector<std::pair<size_t, size_t>>& list,
                   std::vector<std::string>& objects);

} // namespace bench
