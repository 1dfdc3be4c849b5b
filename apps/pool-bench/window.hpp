#pragma once

// The measured window of a throughput phase: timing, progress lines, and
// what the process (CPU time, context switches, allocations) and the server
// (CPU time) spent inside the window.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "proc_stat.hpp"

namespace bench {

using clock = std::chrono::steady_clock;

/// Start, warm-up end and window end of a phase that begins in 20 ms.
struct phase_times {
  clock::time_point start;
  clock::time_point window_start;
  clock::time_point window_end;

  static phase_times from_now(double warmup_s, double duration_s);
};

/// What the process and the server spent inside the window.
struct window_usage {
  /// Measured length of the window, in seconds.
  double seconds = 0;
  /// This process: CPU time (user + system, all threads).
  double cpu_seconds = 0;
  /// This process: voluntary + involuntary context switches, all threads.
  uint64_t ctx_switches = 0;
  uint64_t news = 0;
  uint64_t mallocs = 0;
  /// The server's CPU time (see `server_cpu_probe`) in µs; negative if no
  /// server process was found.
  double server_cpu_us = -1;
};

/// The counters at one instant.
struct usage_snapshot {
  clock::time_point at;
  double cpu = 0;
  uint64_t ctx = 0;
  uint64_t news = 0;
  uint64_t mallocs = 0;
  double server_us = -1;
};

/// Reads the counters; the server's first (it scans /proc), so that the
/// scan's own CPU lies outside a window that starts here.
usage_snapshot snapshot_begin(const server_cpu_probe& server);

/// Reads the counters; this process's first, so that the /proc scan lies
/// outside a window that ends here.
usage_snapshot snapshot_end(const server_cpu_probe& server);

/// What was spent from `a` to `b`.
window_usage usage_between(const usage_snapshot& a, const usage_snapshot& b);

/// Sleeps until `t.window_end`; once per second prints a progress line to
/// stderr, "[label] elapsed/total s: qps last second, qps so far", from
/// `ops` (all queries completed since `t.start`, warm-up included).
/// Snapshots the counters at the window's edges.
window_usage watch_window(const std::string& label, const phase_times& t,
                          const std::atomic<uint64_t>& ops,
                          const server_cpu_probe& server);

} // namespace bench
