#include "tpcb.hpp"

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "caf/all.hpp"

#include "measure.hpp"
#include "pgbench.hpp"
#include "phases.hpp"
#include "report.hpp"
#include "systems.hpp"

namespace bench {

namespace {

double ratio(double x, double y) {
  return y > 0 ? x / y : std::nan("");
}

void print_row(const std::string& label, double tps, double p50_ms,
               double p99_ms, uint64_t errors, uint64_t retryable, double cpu,
               double ctx, double server, double news) {
  std::printf("%-26s %8.0f %8.2f %8.2f %7" PRIu64 " %9" PRIu64
              " %8.1f %7.2f %9.1f %7.1f\n",
              label.c_str(), tps, p50_ms, p99_ms, errors, retryable, cpu, ctx,
              server, news);
}

std::string tpcb_json(const char* peer, const char* mode, size_t clients,
                      size_t pool, size_t scale, double tps, uint64_t txns,
                      double p50_ms, double p99_ms, uint64_t errors,
                      uint64_t retryable, double cpu, double ctx, double server,
                      double ratio_to_pgbench) {
  json_object j;
  j.add("phase", "tpcb")
    .add("peer", peer)
    .add("scheduler_mode", mode)
    .add("clients", uint64_t{clients})
    .add("pool", uint64_t{pool})
    .add("scale", uint64_t{scale})
    .add("tps", tps)
    .add("transactions", txns)
    .add("p50_ms", p50_ms)
    .add("p99_ms", p99_ms)
    .add("errors", errors)
    .add("retryable", retryable)
    .add("client_cpu_us_per_txn", cpu)
    .add("ctx_switches_per_txn", ctx)
    .add("server_cpu_us_per_txn", server)
    .add("ratio_to_pgbench", ratio_to_pgbench)
    .add("version", libpool_version());
  return j.str();
}

} // namespace

bool run_tpcb_mode(const bench_config& cfg, const system_factory& systems,
                   const std::vector<scheduler_mode>& modes,
                   const server_cpu_probe& server,
                   const std::vector<std::pair<size_t, size_t>>& list,
                   std::vector<std::string>& objects) {
  auto pgbench = find_pgbench(cfg.pgbench);
  auto t0 = std::chrono::steady_clock::now();
  if (auto err = pgbench_init(pgbench, cfg.conninfo, cfg.tpcb_scale);
      !err.empty()) {
    std::printf("\ntpcb: cannot initialise pgbench's tables with %s: %s\n",
                pgbench.c_str(), err.c_str());
    return false;
  }
  std::printf(
    "\ntpcb: %s -i -s %zu: tables initialised in %.1f s\n", pgbench.c_str(),
    cfg.tpcb_scale,
    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count());
  // pgbench -T takes whole seconds; the pool's window has the same length.
  auto seconds = std::max(1, static_cast<int>(std::lround(cfg.duration)));
  bool ok = true;
  for (auto [clients, pool] : list) {
    run_spec spec{
      cfg.conninfo, clients, pool, cfg.warmup, static_cast<double>(seconds), 1,
      server,       {}};
    std::printf("\ntpcb %s: %zu client actors -> pool of %zu, one "
                "`transaction` message per TPC-B transaction; pgbench -M "
                "prepared -c %zu -j %zu -T %d\n",
                spec.name().c_str(), clients, pool, pool,
                pool < 2 ? pool : size_t{2}, seconds);
    std::vector<std::pair<scheduler_mode, load_result>> runs;
    for (auto mode : modes) {
      auto label = "tpcb " + std::string{to_string(mode)} + " " + spec.name();
      load_result r;
      if (auto err = systems.run(mode, [&](caf::actor_system& sys) {
            r = run_tpcb_phase(sys, spec, cfg.tpcb_scale, label);
          })) {
        r.failure = caf::to_string(err);
      }
      runs.emplace_back(mode, std::move(r));
    }
    auto pg = run_pgbench(pgbench, cfg.conninfo, pool, seconds, server);
    std::printf("\n%-26s %8s %8s %8s %7s %9s %8s %7s %9s %7s\n",
                ("tpcb " + spec.name()).c_str(), "tps", "p50 ms", "p99 ms",
                "errors", "retryable", "CPU/txn", "csw/txn", "srvCPU/tx",
                "new/txn");
    for (auto& [mode, r] : runs) {
      auto label = "pool " + std::string{to_string(mode)} + " " +
                   std::to_string(clients) + " actors";
      if (!r.failure.empty() || !r.ran) {
        std::printf("%-26s FAILED: %s\n", label.c_str(), r.failure.c_str());
        ok = false;
        continue;
      }
      print_row(label, r.qps, r.latency.p50_us / 1e3, r.latency.p99_us / 1e3,
                r.errors, r.retryable, r.cpu_us_per_query, r.ctx_per_query,
                r.server_cpu_us_per_query, r.allocs_per_query);
      if (r.errors > 0) {
        std::printf("  %" PRIu64 " errors, first: %s\n", r.errors,
                    r.first_error.c_str());
        ok = false;
      }
      auto j =
        tpcb_json("libpool", to_string(mode), clients, pool, cfg.tpcb_scale,
                  r.qps, r.ops, r.latency.p50_us / 1e3, r.latency.p99_us / 1e3,
                  r.errors, r.retryable, r.cpu_us_per_query, r.ctx_per_query,
                  r.server_cpu_us_per_query, ratio(r.qps, pg.tps));
      if (cfg.result_line)
        std::printf("TPCB %s\n", j.c_str());
      objects.emplace_back(std::move(j));
    }
    auto pg_label = "pgbench -c " + std::to_string(pool);
    if (!pg.failure.empty()) {
      std::printf("%-26s FAILED: %s\n", pg_label.c_str(), pg.failure.c_str());
      ok = false;
      continue;
    }
    auto nan = std::nan("");
    print_row(pg_label, pg.tps, nan, nan, 0, pg.failed, pg.cpu_us_per_txn,
              pg.ctx_per_txn, pg.server_cpu_us_per_txn, nan);
    std::printf("(pgbench: CPU and csw are pgbench's own process; srvCPU/tx "
                "includes its connection set-up; failed transactions shown "
                "as retryable)\n");
    auto j =
      tpcb_json("pgbench", "none", pool, pool, cfg.tpcb_scale, pg.tps,
                pg.transactions, nan, nan, 0, pg.failed, pg.cpu_us_per_txn,
                pg.ctx_per_txn, pg.server_cpu_us_per_txn, 1.0);
    if (cfg.result_line)
      std::printf("TPCB %s\n", j.c_str());
    objects.emplace_back(std::move(j));
    for (auto& [mode, r] : runs)
      if (r.ran)
        std::printf("ratio (%s scheduler) = pool tps / pgbench tps = %.3f "
                    "(target >= 0.8 at 64x16)\n",
                    to_string(mode), ratio(r.qps, pg.tps));
  }
  return ok;
}

} // namespace bench
