#include "window.hpp"

#include <cstdio>
#include <thread>

#include "alloc_count.hpp"
#include "measure.hpp"
#include "phases.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;

double secs(clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

struct snapshot {
  clock::time_point at;
  double cpu = 0;
  alloc_counts allocs;

  static snapshot now() {
    return {clock::now(), process_cpu_seconds(), current_alloc_counts()};
  }
};

} // namespace

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
                          const std::atomic<uint64_t>& ops) {
  snapshot first;
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
      first = snapshot::now();
      in_window = true;
      continue;
    }
    auto last = snapshot::now();
    window_usage u;
    u.seconds = secs(last.at - first.at);
    u.cpu_seconds = last.cpu - first.cpu;
    u.news = last.allocs.news - first.allocs.news;
    u.mallocs = last.allocs.mallocs - first.allocs.mallocs;
    return u;
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
  allocs_per_query = per_query(static_cast<double>(u.news));
  mallocs_per_query =
    mallocs_counted() ? per_query(static_cast<double>(u.mallocs)) : -1;
}

} // namespace bench
