#include "measure.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include <sys/resource.h>

namespace bench {

namespace {

double pct_us(const std::vector<int64_t>& sorted, double q) {
  auto rank = static_cast<size_t>(q * static_cast<double>(sorted.size()));
  rank = std::min(rank, sorted.size() - 1);
  return static_cast<double>(sorted[rank]) / 1e3;
}

} // namespace

latency_summary summarize(std::vector<int64_t>& ns) {
  latency_summary s;
  s.count = ns.size();
  if (ns.empty())
    return s;
  std::sort(ns.begin(), ns.end());
  s.p50_us = pct_us(ns, 0.50);
  s.p99_us = pct_us(ns, 0.99);
  s.p999_us = pct_us(ns, 0.999);
  s.max_us = static_cast<double>(ns.back()) / 1e3;
  return s;
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

void json_object::key(const char* name) {
  if (!body_.empty())
    body_ += ", ";
  body_ += '"';
  body_ += name; // names are plain identifiers
  body_ += "\": ";
}

json_object& json_object::add(const char* name, double value) {
  key(name);
  if (!std::isfinite(value)) {
    body_ += "null";
    return *this;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f", value);
  body_ += buf;
  return *this;
}

json_object& json_object::add(const char* name, uint64_t value) {
  key(name);
  body_ += std::to_string(value);
  return *this;
}

json_object& json_object::add(const char* name, const std::string& value) {
  key(name);
  body_ += '"';
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      body_ += '\\';
      body_ += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      body_ += buf;
    } else {
      body_ += c;
    }
  }
  body_ += '"';
  return *this;
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
