#pragma once

// Running pgbench as a child process: initialising its tables and running
// its TPC-B transaction, for the --tpcb mode.

#include <cstdint>
#include <string>

#include "proc_stat.hpp"

namespace bench {

/// The pgbench binary: `given` if not empty, else $POOL_TEST_PGBIN/pgbench,
/// else /usr/lib/postgresql/15/bin/pgbench, else "pgbench" (from PATH).
std::string find_pgbench(const std::string& given);

/// `pgbench -i -s scale -q conninfo`: (re)creates pgbench's tables. Returns
/// "" on success, else what went wrong (with pgbench's output).
std::string pgbench_init(const std::string& pgbench,
                         const std::string& conninfo, size_t scale);

/// What a pgbench run measured.
struct pgbench_result {
  /// "tps = … (without initial connection time)".
  double tps = 0;
  /// "number of transactions actually processed: N".
  uint64_t transactions = 0;
  /// "number of failed transactions: N" (PostgreSQL 15's pgbench).
  uint64_t failed = 0;
  /// pgbench's own CPU (user + system, from wait4) per transaction, in µs.
  double cpu_us_per_txn = 0;
  /// pgbench's context switches per transaction.
  double ctx_per_txn = 0;
  /// The server's CPU per transaction over pgbench's whole run
  /// (connection set-up included), in µs; NaN if not measured.
  double server_cpu_us_per_txn = 0;
  /// Empty on success, else what went wrong.
  std::string failure;
};

/// `pgbench -M prepared -c clients -j min(2, clients) -T seconds -n
/// conninfo`.
pgbench_result run_pgbench(const std::string& pgbench,
                           const std::string& conninfo, size_t clients,
                           int seconds, const server_cpu_probe& server);

} // namespace bench
