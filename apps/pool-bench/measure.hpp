#pragma once

// Measurement helpers: latency histograms, process CPU time and memory,
// JSON output.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "json.hpp"

namespace bench {

/// Percentiles of a set of latencies, in microseconds.
struct latency_summary {
  uint64_t count = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
  double mean_us = 0;
};

/// A log-linear latency histogram (like HdrHistogram): exact below 64 ns,
/// then 32 buckets per power of two, so a percentile is off by at most
/// ~1.6 %. Recording never allocates; count, sum and max are exact.
class histogram {
 public:
  histogram();

  /// Records one latency in nanoseconds.
  void record(int64_t ns);
  /// Adds all of `other`'s samples.
  void merge(const histogram& other);

  uint64_t count() const { return count_; }
  /// The value (in µs) at quantile `q` (0 < q <= 1): the midpoint of the
  /// bucket that holds the sample of rank ceil(q * count).
  double percentile_us(double q) const;
  latency_summary summary() const;
  /// The empirical CDF: (upper bound of each non-empty bucket in µs,
  /// fraction of samples at or below it).
  std::vector<std::pair<double, double>> cdf() const;

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
  double sum_ns_ = 0;
  int64_t max_ns_ = 0;
};

/// User + system CPU time of this process so far, in seconds.
double process_cpu_seconds();

/// This process's resident set size (VmRSS of /proc/self/status) in bytes,
/// or 0 if unreadable.
uint64_t rss_bytes();

/// One flat JSON object (the apps' shared writer).
using app::json_object;

/// Writes `objects` as a JSON array to `path`; returns false on I/O errors.
bool write_json_file(const std::string& path,
                     const std::vector<std::string>& objects);

} // namespace bench
