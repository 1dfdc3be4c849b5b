#include "window.hpp"

#include <cmath>
#include <cstdio>
#include <thread>

#include "alloc_count.hpp"
#include "measure.hpp"
#include "phases.hpp"
#include "proc_stat.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;

double secs(clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

} // namespace

usage_snapshot snapshot_begin(const server_cpu_probe& server) {
  usage_snapshot s;
  s.server_us = server.cpu_us();
  s.at = clock::now();
  s.cpu = process_cpu_seconds();
  s.ctx = context_switches();
  auto a = current_alloc_counts();
  s.news = a.news;
  s.mallocs = a.mallocs;
  return s;
}

usage_snapshot snapshot_end(const server_cpu_probe& server) {
  usage_snapshot s;
  s.at = clock::now();
  s.cpu = process_cpu_seconds();
  s.ctx = context_switches();
  auto a = current_alloc_counts();
  s.news = a.news;
  s.mallocs = a.mallocs;
  s.server_us = server.cpu_us();
  return s;
}

window_usage usage_between(const usage_snapshot& a, const usage_snapshot& b) {
  window_usage u;
  u.seconds = secs(b.at - a.at);
  u.cpu_seconds = b.cpu - a.cpu;
  u.ctx_switches = b.ctx - a.ctx;
  u.news = b.news - a.news;
  u.mallocs = b.mallocs - a.mallocs;
  if (a.server_us >= 0 && b.server_us >= 0)
    u.server_cpu_us = b.server_us - a.server_us;
  return u;
}

phase_times phase_times::from_now(double warmup_s, double duration_s) {
  auto to_duration = [](double s) {
    return std::chrono::duration_cast<clock::duration>(
      std::chrono::duration<double>(s));
  };
  phase_times t;
  t.start = clock::now() + 20ms;
  t.window_start = t.start + to_duration(warmup_s);
  t.window_end = t.window_start + to_duration(duration_s);
  return t;
}

window_usage watch_window(const std::string& label, const phase_times& t,
                          const std::atomic<uint64_t>& ops,
                          const server_cpu_probe& server) {
  usage_snapshot first;
  bool in_window = false;
  auto tick = t.start + 1s;
  uint64_t last_ops = 0;
  auto total = secs(t.window_end - t.start);
  for (;;) {
    auto target = in_window ? t.window_end : t.window_start;
    if (tick < target) {
      std::this_thread::sleep_until(tick);
      auto n = ops.load(std::memory_order_relaxed);
      auto elapsed = secs(tick - t.start);
      std::fprintf(stderr,
                   "[%s] %.0f/%.1f s%s: %llu q/s last second, %.0f q/s so "
                   "far\n",
                   label.c_str(), elapsed, total, in_window ? "" : " (warm-up)",
                   static_cast<unsigned long long>(n - last_ops),
                   static_cast<double>(n) / elapsed);
      last_ops = n;
      tick += 1s;
      continue;
    }
    std::this_thread::sleep_until(target);
    if (!in_window) {
      first = snapshot_begin(server);
      in_window = true;
      continue;
    }
    return usage_between(first, snapshot_end(server));
  }
}

void load_result::finish(const window_usage& u, double duration) {
  ran = true;
  ops = hist.count();
  seconds = duration;
  qps = static_cast<double>(ops) / duration;
  latency = hist.summary();
  if (ops == 0)
    return;
  auto per_query = [this](double x) { return x / static_cast<double>(ops); };
  cpu_us_per_query = per_query(u.cpu_seconds * 1e6);
  ctx_per_query = per_query(static_cast<double>(u.ctx_switches));
  server_cpu_us_per_query =
    u.server_cpu_us >= 0 ? per_query(u.server_cpu_us) : std::nan("");
  allocs_per_query = per_query(static_cast<double>(u.news));
  mallocs_per_query =
    mallocs_counted() ? per_query(static_cast<double>(u.mallocs)) : -1;
}

} // namespace bench
