#include "measure.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <sys/resource.h>

namespace bench {

namespace {

// Bucket layout: values below 64 ns have a bucket each; above, the top six
// bits of the value select one of 32 buckets per power of two.
constexpr int64_t exact_limit = 64;
constexpr int max_shift = 35; // values up to 2^41 ns (~36 minutes)
constexpr size_t num_buckets = 32 * max_shift + 64;

size_t bucket_of(int64_t ns) {
  if (ns < exact_limit)
    return static_cast<size_t>(std::max<int64_t>(ns, 0));
  auto msb = 63 - __builtin_clzll(static_cast<unsigned long long>(ns));
  auto shift = std::min(msb - 5, max_shift);
  auto mantissa = std::min<int64_t>(ns >> shift, 63);
  return static_cast<size_t>(32 * shift + mantissa);
}

/// [lower, upper) of bucket `i`, in nanoseconds.
std::pair<double, double> bounds_of(size_t i) {
  if (i < static_cast<size_t>(exact_limit))
    return {static_cast<double>(i), static_cast<double>(i + 1)};
  auto shift = static_cast<int>(i / 32) - 1;
  auto mantissa = static_cast<double>(i - 32 * static_cast<size_t>(shift));
  auto width = std::ldexp(1.0, shift);
  return {mantissa * width, (mantissa + 1) * width};
}

} // namespace

histogram::histogram() : buckets_(num_buckets, 0) {
  // nop
}

void histogram::record(int64_t ns) {
  ++buckets_[bucket_of(ns)];
  ++count_;
  sum_ns_ += static_cast<double>(ns);
  max_ns_ = std::max(max_ns_, ns);
}

void histogram::merge(const histogram& other) {
  for (size_t i = 0; i < num_buckets; ++i)
    buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ns_ += other.sum_ns_;
  max_ns_ = std::max(max_ns_, other.max_ns_);
}

double histogram::percentile_us(double q) const {
  if (count_ == 0)
    return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < num_buckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      auto [lo, hi] = bounds_of(i);
      auto mid = i < static_cast<size_t>(exact_limit) ? lo : (lo + hi) / 2;
      return std::min(mid, static_cast<double>(max_ns_)) / 1e3;
    }
  }
  return static_cast<double>(max_ns_) / 1e3;
}

latency_summary histogram::summary() const {
  latency_summary s;
  s.count = count_;
  if (count_ == 0)
    return s;
  s.p50_us = percentile_us(0.50);
  s.p99_us = percentile_us(0.99);
  s.p999_us = percentile_us(0.999);
  s.max_us = static_cast<double>(max_ns_) / 1e3;
  s.mean_us = sum_ns_ / static_cast<double>(count_) / 1e3;
  return s;
}

std::vector<std::pair<double, double>> histogram::cdf() const {
  std::vector<std::pair<double, double>> out;
  uint64_t seen = 0;
  for (size_t i = 0; i < num_buckets && count_ > 0; ++i) {
    if (buckets_[i] == 0)
      continue;
    seen += buckets_[i];
    out.emplace_back(bounds_of(i).second / 1e3,
                     static_cast<double>(seen) / static_cast<double>(count_));
  }
  return out;
}

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) +
           static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

uint64_t rss_bytes() {
  auto* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr)
    return 0;
  char line[256];
  unsigned long long kb = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr)
    if (std::sscanf(line, "VmRSS: %llu kB", &kb) == 1)
      break;
  std::fclose(f);
  return kb * 1024;
}

bool write_json_file(const std::string& path,
                     const std::vector<std::string>& objects) {
  std::ofstream out{path};
  out << "[\n";
  for (size_t i = 0; i < objects.size(); ++i)
    out << "  " << objects[i] << (i + 1 < objects.size() ? ",\n" : "\n");
  out << "]\n";
  out.flush();
  return static_cast<bool>(out);
}

} // namespace bench
