#pragma once

// The measured window of a throughput phase: timing, progress lines, and
// the process's CPU time and allocations inside the window.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace bench {

using clock = std::chrono::steady_clock;

/// Start, warm-up end and window end of a phase that begins in 20 ms.
struct phase_times {
  clock::time_point start;
  clock::time_point window_start;
  clock::time_point window_end;

  static phase_times from_now(double warmup_s, double duration_s);
};

/// What the process spent inside the window.
struct window_usage {
  /// Measured length of the window, in seconds.
  double seconds = 0;
  double cpu_seconds = 0;
  uint64_t news = 0;
  uint64_t mallocs = 0;
};

/// Sleeps until `t.window_end`; once per second prints a progress line to
/// stderr, "[label] elapsed/total s: qps last second, qps so far", from
/// `ops` (all queries completed since `t.start`, warm-up included).
/// Snapshots CPU time and allocation counters at the window's edges.
window_usage watch_window(const std::string& label, const phase_times& t,
                          const std::atomic<uint64_t>& ops);

} // namespace bench
