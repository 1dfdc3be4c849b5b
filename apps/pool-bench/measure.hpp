#pragma once

// Measurement helpers: latency percentiles, process CPU time, JSON output.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

/// Percentiles of a set of latencies, in microseconds.
struct latency_summary {
  size_t count = 0;
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

/// Summarizes latencies given in nanoseconds (sorts `ns`).
latency_summary summarize(std::vector<int64_t>& ns);

/// User + system CPU time of this process so far, in seconds.
double process_cpu_seconds();

/// Builds one flat JSON object, fields in insertion order.
class json_object {
 public:
  json_object& add(const char* name, double value);
  json_object& add(const char* name, uint64_t value);
  json_object& add(const char* name, const std::string& value);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const char* name);
  std::string body_;
};

/// Writes `objects` as a JSON array to `path`; returns false on I/O errors.
bool write_json_file(const std::string& path,
                     const std::vector<std::string>& objects);

} // namespace bench
