// pool-bench: the pool against raw libpq on the same server, in one run.
//
// For each configuration (client actors N, pool size P):
//   pool      N event-based actors in a closed loop, SELECT $1::int through
//             a pool of P connections
//   raw       raw libpq on P threads with a dedicated connection each, the
//             same prepared statement with a text parameter: the ceiling
//   connect   connect-per-request (PQconnectdb + PQexecParams + PQfinish) on
//             P threads: for the first configuration, or all with
//             --connect-baseline
// once before them: acquire -> release latency with an idle connection.
// --scale runs the scale checks instead (scale.cpp).
//
// Exit status: 0 everything ran without errors, 1 a phase failed or saw
// errors, 2 bad options or no database.

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "caf/all.hpp"

#include "pool/config.hpp"

#include "alloc_count.hpp"
#include "bench_config.hpp"
#include "phases.hpp"
#include "plot.hpp"
#include "report.hpp"

namespace bench {

namespace {

/// Connects once to check the server and to describe it.
struct server_info {
  std::string error;
  std::string host;
  int version = 0;
};

server_info probe_server(const std::string& conninfo) {
  server_info x;
  auto* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    x.error = PQerrorMessage(conn);
  } else {
    x.host = PQhost(conn);
    x.version = PQserverVersion(conn);
  }
  PQfinish(conn);
  return x;
}

bool is_local(const std::string& host) {
  return host.empty() || host[0] == '/' || host == "localhost" ||
         host.rfind("127.", 0) == 0 || host == "::1";
}

void print_header(const bench_config& cfg, const scheduler_info& sched,
                  const server_info& srv) {
  auto cores = std::thread::hardware_concurrency();
  std::printf("pool-bench%s (libpool %s)\n", cfg.scale ? " --scale" : "",
              libpool_version());
  if (is_local(srv.host))
    std::printf("NOTE: client and server share this machine's %u cores "
                "(server at %s): every number includes that contention\n",
                cores, srv.host.c_str());
  else
    std::printf("NOTE: server at %s; this machine has %u cores; if the "
                "server runs here, client and server share them\n",
                srv.host.c_str(), cores);
  std::printf("CAF %d.%d.%d: %s\n", CAF_MAJOR_VERSION, CAF_MINOR_VERSION,
              CAF_PATCH_VERSION, sched.to_string().c_str());
  std::printf("libpq %s, server PostgreSQL %d.%d, conninfo '%s'\n",
              libpq_version().c_str(), srv.version / 10000, srv.version % 10000,
              pool::redact_conninfo(cfg.conninfo).c_str());
  std::printf("allocations counted: operator new%s\n",
              mallocs_counted() ? " and malloc/calloc/realloc"
                                : " only (sanitizer build)");
  if (!cfg.scale)
    std::printf("warm-up %.1f s, measured %.1f s per phase; acquire samples "
                "%zu (+%zu warm-up)\n",
                cfg.warmup, cfg.duration, cfg.acquire_samples,
                cfg.acquire_warmup);
}

acquire_result run_acquire(caf::actor_system& sys, const bench_config& cfg) {
  std::printf("\nacquire: acquire -> lease -> release, one actor, pool of 2 "
              "idle connections\n");
  auto acq = run_acquire_phase(sys, cfg.conninfo, cfg.acquire_warmup,
                               cfg.acquire_samples);
  if (!acq.failure.empty())
    std::printf("  FAILED: %s\n", acq.failure.c_str());
  std::printf("  acquire: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, "
              "max %.1f us (%llu samples); release: p50 %.1f us, p99 %.1f "
              "us; errors %llu%s%s\n",
              acq.acquire.p50_us, acq.acquire.p99_us, acq.acquire.p999_us,
              acq.acquire.max_us,
              static_cast<unsigned long long>(acq.acquire.count),
              acq.release.p50_us, acq.release.p99_us,
              static_cast<unsigned long long>(acq.errors),
              acq.errors ? ", first: " : "", acq.first_error.c_str());
  return acq;
}

bool clean(const load_result& r) {
  return !r.ran || (r.failure.empty() && r.errors == 0);
}

bool write_json(const std::string& path,
                const std::vector<std::string>& objects) {
  if (write_json_file(path, objects)) {
    std::printf("wrote %s\n", path.c_str());
    return true;
  }
  std::printf("cannot write %s\n", path.c_str());
  return false;
}

int run(caf::actor_system& sys, const bench_config& cfg,
        const std::vector<std::pair<size_t, size_t>>& list) {
  auto srv = probe_server(cfg.conninfo);
  if (!srv.error.empty()) {
    std::printf("pool-bench: cannot connect: %s", srv.error.c_str());
    return 2;
  }
  auto sched = read_scheduler_info(sys);
  print_header(cfg, sched, srv);
  if (cfg.scale) {
    auto res = run_scale(sys, cfg.conninfo, cfg.scale_waiters, cfg.scale_pool);
    bool ok = res.ok && (cfg.json.empty() || write_json(cfg.json, {res.json}));
    std::printf("\nscale: %s\n", res.ok ? "all requests answered" : "FAILED");
    return ok ? 0 : 1;
  }
  auto acq = run_acquire(sys, cfg);
  bool ok = acq.failure.empty() && acq.errors == 0;
  std::vector<config_result> results;
  std::vector<std::string> objects;
  for (auto [clients, pool] : list) {
    config_result r;
    r.spec = run_spec{cfg.conninfo, clients,      pool,
                      cfg.warmup,   cfg.duration, cfg.pipeline_depth};
    std::printf("\nconfig %s: %zu client actors -> pool of %zu; raw libpq on "
                "%zu threads\n",
                r.spec.name().c_str(), clients, pool, pool);
    r.pool = run_pool_phase(sys, r.spec);
    r.raw = run_raw_phase(r.spec, raw_mode::dedicated);
    if (results.empty() || cfg.connect_baseline)
      r.connect = run_raw_phase(r.spec, raw_mode::connect_per_query);
    print_config(r);
    if (cfg.result_line)
      print_result_lines(r, acq);
    ok &= clean(r.pool) && clean(r.raw) && clean(r.connect) && r.pool.ran &&
          r.raw.ran;
    objects.emplace_back(to_json(r, acq, sched));
    results.emplace_back(std::move(r));
  }
  print_summary(results, acq);
  if (!cfg.json.empty())
    ok &= write_json(cfg.json, objects);
  if (!cfg.plot.empty()) {
    std::string msg;
    auto st = plot_latency(cfg.plot, results, msg);
    std::printf("plot: %s\n", msg.c_str());
    ok &= st != plot_status::failed;
  }
  return ok ? 0 : 1;
}

} // namespace

} // namespace bench

int main(int argc, char** argv) {
  bench::bench_config cfg;
  if (auto err = cfg.parse_args(argc, argv)) {
    std::fprintf(stderr, "pool-bench: %s\n", caf::to_string(err).c_str());
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  std::string error;
  auto list = cfg.run_list(error);
  if (!error.empty()) {
    std::fprintf(stderr, "pool-bench: %s\n", error.c_str());
    return 2;
  }
  if (cfg.duration <= 0 || cfg.warmup < 0 || cfg.acquire_samples == 0 ||
      cfg.scale_waiters == 0 || cfg.scale_pool == 0) {
    std::fprintf(stderr, "pool-bench: need --duration > 0, --warmup >= 0, "
                         "--acquire-samples >= 1, --scale-waiters >= 1, "
                         "--scale-pool >= 1\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  caf::actor_system sys{cfg};
  return bench::run(sys, cfg, list);
}
