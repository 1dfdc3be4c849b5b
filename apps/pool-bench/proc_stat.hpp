#pragma once

// Process statistics from the kernel: this process's context switches, and
// the CPU time of the PostgreSQL server's processes (from /proc).

#include <cstdint>
#include <string>

namespace bench {

/// Voluntary + involuntary context switches of this process so far, all
/// threads (getrusage RUSAGE_SELF: ru_nvcsw + ru_nivcsw).
uint64_t context_switches();

/// Which processes count as "the server" when measuring its CPU time.
///
/// With a data directory: the postmaster whose pid is the first line of
/// `$PGDATA/postmaster.pid`, and its children (backends, background
/// workers). Without one (or if that file cannot be read): every process
/// on this machine whose name (`/proc/<pid>/comm`) is `postgres` — which
/// includes other PostgreSQL servers running here.
///
/// A snapshot sums, over those processes, utime + stime + cutime + cstime:
/// a backend that exits is reaped by the postmaster and its CPU moves into
/// the postmaster's cutime/cstime, and a new one counts from zero, so the
/// difference of two snapshots is the CPU the server used between them,
/// however many backends came and went. Resolution: one clock tick (usually
/// 10 ms) per process.
class server_cpu_probe {
 public:
  server_cpu_probe() = default;

  /// `pgdata` may be empty (then every `postgres` process counts).
  explicit server_cpu_probe(std::string pgdata) : pgdata_(std::move(pgdata)) {
    // nop
  }

  /// The server's CPU time so far, in microseconds, or a negative value if
  /// no server process was found (e.g. the server runs on another machine).
  double cpu_us() const;

  /// Which processes are counted, in one line (for the report's header).
  std::string describe() const;

 private:
  /// The postmaster's pid from `pgdata_`, or 0.
  int postmaster_pid() const;

  std::string pgdata_;
};

} // namespace bench
