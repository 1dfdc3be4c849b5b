#include "report.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <thread>

#include <libpq-fe.h>

#ifndef LIBPOOL_VERSION
#define LIBPOOL_VERSION "unknown"
#endif

namespace bench {

namespace {

constexpr const char* query_text = "SELECT $1::int";

double ratio(double x, double y) {
  return y > 0 ? x / y : std::nan("");
}

// Adds the latency summary `l` as <prefix>p50_us ... <prefix>mean_us.
json_object& add_latency(json_object& j, const std::string& prefix,
                         const latency_summary& l) {
  return j.add((prefix + "p50_us").c_str(), l.p50_us)
    .add((prefix + "p99_us").c_str(), l.p99_us)
    .add((prefix + "p999_us").c_str(), l.p999_us)
    .add((prefix + "max_us").c_str(), l.max_us)
    .add((prefix + "mean_us").c_str(), l.mean_us);
}

// Adds errors, fairness and per-query costs of `r` as <prefix>errors,
// <prefix>worker_ops_min/max and `add_costs`'s fields.
json_object& add_counts(json_object& j, const std::string& prefix,
                        const load_result& r) {
  j.add((prefix + "errors").c_str(), r.errors)
    .add((prefix + "worker_ops_min").c_str(), r.ops_min)
    .add((prefix + "worker_ops_max").c_str(), r.ops_max);
  return add_costs(j, prefix, r);
}

void print_row(const std::string& label, const load_result& r) {
  if (!r.failure.empty() && r.ops == 0) {
    std::printf("%-24s FAILED: %s\n", label.c_str(), r.failure.c_str());
    return;
  }
  const auto& l = r.latency;
  std::printf("%-24s %8.0f %8.1f %8.1f %9.1f %9.1f %6" PRIu64 " %7" PRIu64
              "..%-7" PRIu64 " %6.1f %6.2f %7.1f %6.2f %6.2f\n",
              label.c_str(), r.qps, l.p50_us, l.p99_us, l.p999_us, l.max_us,
              r.errors, r.ops_min, r.ops_max, r.cpu_us_per_query,
              r.ctx_per_query, r.server_cpu_us_per_query, r.allocs_per_query,
              r.mallocs_per_query);
}

void print_problems(const std::string& what, const load_result& r) {
  if (!r.failure.empty())
    std::printf("  %s: %s\n", what.c_str(), r.failure.c_str());
  if (r.errors > 0)
    std::printf("  %s: %" PRIu64 " errors, first: %s\n", what.c_str(), r.errors,
                r.first_error.c_str());
}

std::string result_line(const char* peer, const char* mode, uint64_t clients,
                        uint64_t pool, const load_result& r, double acq_p50,
                        double acq_p99, const std::string& version) {
  json_object j;
  j.add("peer", peer)
    .add("scheduler_mode", mode)
    .add("clients", clients)
    .add("pool", pool)
    .add("qps", r.qps);
  add_latency(j, "", r.latency)
    .add("acq_p50_us", acq_p50)
    .add("acq_p99_us", acq_p99)
    .add("ops", r.ops);
  add_counts(j, "", r)
    .add("allocs_per_query", r.allocs_per_query)
    .add("seconds", r.seconds)
    .add("query", query_text)
    .add("version", version);
  return "RESULT " + j.str();
}

} // namespace

const char* libpool_version() {
  return LIBPOOL_VERSION;
}

std::string libpq_version() {
  auto v = PQlibVersion();
  return std::to_string(v / 10000) + "." + std::to_string(v % 10000);
}

json_object& add_costs(json_object& j, const std::string& prefix,
                       const load_result& r) {
  return j.add((prefix + "client_cpu_us_per_q").c_str(), r.cpu_us_per_query)
    .add((prefix + "ctx_switches_per_q").c_str(), r.ctx_per_query)
    .add((prefix + "server_cpu_us_per_q").c_str(), r.server_cpu_us_per_query);
}

void print_config(const config_result& r) {
  const auto& s = r.spec;
  std::printf("\n%-24s %8s %8s %8s %9s %9s %6s %16s %6s %6s %7s %6s %6s\n",
              ("config " + s.name()).c_str(), "qps", "p50 us", "p99 us",
              "p99.9 us", "max us", "errors", "ops/client", "CPU/q", "csw/q",
              "srvCPU/q", "new/q", "mall/q");
  for (const auto& p : r.pools)
    print_row("pool " + std::string{to_string(p.mode)} + " " +
                std::to_string(s.clients) + " actors",
              p.load);
  for (const auto& p : r.remotes)
    print_row("remote " + std::string{to_string(p.mode)} + " " +
                std::to_string(s.clients) + " actors",
              p.load);
  print_row("raw libpq " + std::to_string(s.pool) + " threads", r.raw);
  if (r.connect.ran || !r.connect.failure.empty())
    print_row("connect/query " + std::to_string(s.pool) + " thr", r.connect);
  std::printf("(CPU/q: this process's CPU us per query; csw/q: its context "
              "switches per query; srvCPU/q: the server's CPU us per query)\n");
  for (const auto& p : r.pools)
    std::printf("ratio (%s scheduler) = pool qps / raw libpq qps = %.3f\n",
                to_string(p.mode), ratio(p.load.qps, r.raw.qps));
  for (size_t i = 0; i < r.remotes.size() && i < r.pools.size(); ++i)
    std::printf("ratio (%s scheduler) = remote pool qps / in-process pool qps "
                "= %.3f (remote: %.0f qps, %.1f client CPU us/q, not counting "
                "the pool node's CPU)\n",
                to_string(r.remotes[i].mode),
                ratio(r.remotes[i].load.qps, r.pools[i].load.qps),
                r.remotes[i].load.qps, r.remotes[i].load.cpu_us_per_query);
  if (r.connect.ran)
    std::printf("connect-per-request: %.0f qps = %.3f of raw libpq\n",
                r.connect.qps, ratio(r.connect.qps, r.raw.qps));
  for (const auto& p : r.pools)
    print_problems("pool " + std::string{to_string(p.mode)}, p.load);
  for (const auto& p : r.remotes)
    print_problems("remote " + std::string{to_string(p.mode)}, p.load);
  print_problems("raw libpq", r.raw);
  print_problems("connect-per-request", r.connect);
}

void print_summary(const std::vector<config_result>& rs) {
  std::printf("\nsummary: %s, latencies in us, costs per query\n", query_text);
  std::printf("%-9s %-7s %8s %8s %8s %9s %8s %6s %6s %6s %7s %6s %6s  %s\n",
              "config", "sched", "qps", "p50", "p99", "p99.9", "raw qps",
              "ratio", "CPU/q", "csw/q", "srvCPU", "new/q", "acqp99",
              "ops/client");
  for (const auto& r : rs) {
    for (const auto& x : r.pools) {
      const auto& p = x.load;
      std::printf(
        "%-9s %-7s %8.0f %8.1f %8.1f %9.1f %8.0f %6.3f %6.1f %6.2f "
        "%7.1f %6.2f %6.1f  %" PRIu64 "..%" PRIu64 "\n",
        r.spec.name().c_str(), to_string(x.mode), p.qps, p.latency.p50_us,
        p.latency.p99_us, p.latency.p999_us, r.raw.qps, ratio(p.qps, r.raw.qps),
        p.cpu_us_per_query, p.ctx_per_query, p.server_cpu_us_per_query,
        p.allocs_per_query, x.acq.acquire.p99_us, p.ops_min, p.ops_max);
    }
    for (const auto& x : r.remotes) {
      const auto& p = x.load;
      std::printf("%-9s %-7s %8.0f %8.1f %8.1f %9.1f %8.0f %6.3f %6.1f %6.2f "
                  "%7.1f %6.2f %6s  %" PRIu64 "..%" PRIu64 "\n",
                  r.spec.name().c_str(),
                  x.mode == scheduler_mode::io ? "r:io" : "r:def", p.qps,
                  p.latency.p50_us, p.latency.p99_us, p.latency.p999_us,
                  r.raw.qps, ratio(p.qps, r.raw.qps), p.cpu_us_per_query,
                  p.ctx_per_query, p.server_cpu_us_per_query,
                  p.allocs_per_query, "", p.ops_min, p.ops_max);
    }
    const auto& w = r.raw;
    std::printf("%-9s %-7s %8.0f %8.1f %8.1f %9.1f %8s %6s %6.1f %6.2f %7.1f "
                "%6.2f %6s  %" PRIu64 "..%" PRIu64 "\n",
                r.spec.name().c_str(), "raw", w.qps, w.latency.p50_us,
                w.latency.p99_us, w.latency.p999_us, "", "", w.cpu_us_per_query,
                w.ctx_per_query, w.server_cpu_us_per_query, w.allocs_per_query,
                "", w.ops_min, w.ops_max);
  }
}

std::vector<std::string> to_json(const config_result& r,
                                 const std::vector<std::string>& sched) {
  std::vector<std::string> out;
  const auto& w = r.raw;
  const auto& c = r.connect;
  auto nan = std::nan("");
  for (size_t i = 0; i < r.pools.size(); ++i) {
    const auto& p = r.pools[i].load;
    const auto& acq = r.pools[i].acq;
    json_object j;
    j.add("phase", "select")
      .add("scheduler_mode", to_string(r.pools[i].mode))
      .add("clients", uint64_t{r.spec.clients})
      .add("pool", uint64_t{r.spec.pool})
      .add("qps", p.qps);
    add_latency(j, "", p.latency)
      .add("acq_p50_us", acq.acquire.p50_us)
      .add("acq_p99_us", acq.acquire.p99_us)
      .add("raw_qps", w.qps)
      .add("ratio", ratio(p.qps, w.qps))
      .add("allocs_per_query", p.allocs_per_query)
      .add("mallocs_per_query", p.mallocs_per_query)
      .add("ops", p.ops);
    add_counts(j, "", p).add("seconds", p.seconds);
    add_latency(j, "raw_", w.latency);
    add_counts(j, "raw_", w)
      .add("raw_allocs_per_query", w.allocs_per_query)
      .add("raw_mallocs_per_query", w.mallocs_per_query)
      .add("connect_qps", c.ran ? c.qps : nan)
      .add("connect_ratio", c.ran ? ratio(c.qps, w.qps) : nan)
      .add("connect_p50_us", c.ran ? c.latency.p50_us : nan)
      .add("connect_errors", c.errors)
      .add("acq_p999_us", acq.acquire.p999_us)
      .add("acq_max_us", acq.acquire.max_us)
      .add("acq_samples", acq.acquire.count)
      .add("acq_errors", acq.errors)
      .add("warmup_s", r.spec.warmup)
      .add("cores", uint64_t{std::thread::hardware_concurrency()})
      .add("scheduler", i < sched.size() ? sched[i] : std::string{})
      .add("query", query_text)
      .add("version", libpool_version());
    if (i < r.remotes.size()) {
      const auto& x = r.remotes[i].load;
      j.add("remote_qps", x.qps)
        .add("remote_over_inprocess", ratio(x.qps, p.qps))
        .add("remote_p50_us", x.latency.p50_us)
        .add("remote_p99_us", x.latency.p99_us)
        .add("remote_errors", x.errors)
        .add("remote_client_cpu_us_per_q", x.cpu_us_per_query)
        .add("remote_pool_connections", x.pool_connections);
    }
    out.emplace_back(j.str());
  }
  return out;
}

void print_result_lines(const config_result& r) {
  auto n = uint64_t{r.spec.clients};
  auto p = uint64_t{r.spec.pool};
  for (const auto& x : r.pools)
    std::printf("%s\n", result_line("libpool", to_string(x.mode), n, p, x.load,
                                    x.acq.acquire.p50_us, x.acq.acquire.p99_us,
                                    libpool_version())
                          .c_str());
  for (const auto& x : r.remotes)
    std::printf("%s\n", result_line("libpool-remote", to_string(x.mode), n, p,
                                    x.load, -1, -1, libpool_version())
                          .c_str());
  std::printf("%s\n", result_line("raw-libpq", "none", p, p, r.raw, -1, -1,
                                  libpq_version())
                        .c_str());
  if (r.connect.ran)
    std::printf("%s\n", result_line("libpq-connect-per-request", "none", p, 0,
                                    r.connect, -1, -1, libpq_version())
                          .c_str());
  for (size_t i = 0; i < r.remotes.size() && i < r.pools.size(); ++i) {
    const auto& in = r.pools[i].load;
    const auto& re = r.remotes[i].load;
    json_object j;
    j.add("scheduler_mode", to_string(r.remotes[i].mode))
      .add("clients", n)
      .add("pool", p)
      .add("inprocess_qps", in.qps)
      .add("remote_qps", re.qps)
      .add("ratio", ratio(re.qps, in.qps))
      .add("remote_pool_connections", re.pool_connections)
      .add("inprocess_client_cpu_us_per_q", in.cpu_us_per_query)
      .add("remote_client_cpu_us_per_q", re.cpu_us_per_query)
      .add("inprocess_errors", in.errors)
      .add("remote_errors", re.errors);
    std::printf("REMOTE %s\n", j.str().c_str());
  }
}

} // namespace bench
