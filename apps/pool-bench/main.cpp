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
// once before them: acquire -> release latency with an idle connection;
// after them: what an idle pool costs (idle phase).
// The pool phases run once per scheduler mode (--scheduler io|default|
// both), each in an actor system of its own; raw libpq runs outside them.
// --remote HOST:PORT runs the pool phases against a pool node's pool as
// well (after the in-process ones, same client actors, same scheduler
// modes) and reports remote/in-process per configuration and mode.
// --scale runs the scale checks instead (scale.cpp), --tpcb pgbench's TPC-B
// transaction through the pool beside pgbench itself (tpcb.cpp), --idle only
// the idle phase.
//
// Exit status: 0 everything ran without errors, 1 a phase failed or saw
// errors, 2 bad options or no database.

#include <algorithm>
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
#include "proc_stat.hpp"
#include "report.hpp"
#include "scheduler_mode.hpp"
#include "systems.hpp"
#include "tpcb.hpp"

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

/// What the header needs to say about this run.
struct run_context {
  const bench_config& cfg;
  system_factory systems;
  /// The scheduler modes that run, and notes about those that do not.
  std::vector<scheduler_mode> modes;
  std::vector<std::string> notes;
  server_cpu_probe server;
  /// --remote: the pool node and pool (host empty: none).
  remote_ref remote;
};

void print_header(const run_context& ctx, const server_info& srv) {
  const auto& cfg = ctx.cfg;
  auto cores = std::thread::hardware_concurrency();
  std::printf("pool-bench%s (libpool %s)\n",
              cfg.scale  ? " --scale"
              : cfg.tpcb ? " --tpcb"
              : cfg.idle ? " --idle"
                         : "",
              libpool_version());
  if (is_local(srv.host))
    std::printf("NOTE: client and server share this machine's %u cores "
                "(server at %s): every number includes that contention\n",
                cores, srv.host.c_str());
  else
    std::printf("NOTE: server at %s; this machine has %u cores; if the "
                "server runs here, client and server share them\n",
                srv.host.c_str(), cores);
  std::printf("CAF %d.%d.%d; scheduler modes:", CAF_MAJOR_VERSION,
              CAF_MINOR_VERSION, CAF_PATCH_VERSION);
  for (auto m : ctx.modes)
    std::printf(" %s", to_string(m));
  std::printf(" (one actor system each)\n");
  for (const auto& note : ctx.notes)
    std::printf("NOTE: %s\n", note.c_str());
  std::printf("libpq %s, server PostgreSQL %d.%d, conninfo '%s'\n",
              libpq_version().c_str(), srv.version / 10000, srv.version % 10000,
              pool::redact_conninfo(cfg.conninfo).c_str());
  std::printf("server CPU: %s\n", ctx.server.describe().c_str());
  std::printf("allocations counted: operator new%s\n",
              mallocs_counted() ? " and malloc/calloc/realloc"
                                : " only (sanitizer build)");
  if (cfg.tpcb)
    std::printf("warm-up %.1f s (pool only), measured %d s per phase\n",
                cfg.warmup, std::max(1, static_cast<int>(cfg.duration + 0.5)));
  else if (!cfg.scale && !cfg.idle)
    std::printf("warm-up %.1f s, measured %.1f s per phase; acquire samples "
                "%zu (+%zu warm-up)\n",
                cfg.warmup, cfg.duration, cfg.acquire_samples,
                cfg.acquire_warmup);
}

/// The scheduler settings of `sys` in one line.
std::string describe_scheduler(caf::actor_system& sys, scheduler_mode mode) {
  auto info = read_scheduler_info(sys);
  if (mode == scheduler_mode::io)
    return "libpool io scheduler, workers=" + std::to_string(info.workers);
  return info.to_string();
}

acquire_result run_acquire(caf::actor_system& sys, const bench_config& cfg,
                           scheduler_mode mode) {
  std::printf("\nacquire (%s scheduler): acquire -> lease -> release, one "
              "actor, pool of 2 idle connections\n",
              to_string(mode));
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

/// Runs `f(sys)` in an actor system for `mode`; false if it could not.
template <class F>
bool in_system(const run_context& ctx, scheduler_mode mode, F&& f) {
  if (auto err = ctx.systems.run(mode, std::forward<F>(f))) {
    std::printf("scheduler %s: cannot start an actor system: %s\n",
                to_string(mode), caf::to_string(err).c_str());
    return false;
  }
  return true;
}

/// The idle phase per scheduler mode; appends JSON objects to `objects`.
bool run_idle(const run_context& ctx, double seconds,
              std::vector<std::string>& objects) {
  const auto& cfg = ctx.cfg;
  bool ok = true;
  std::printf("\nidle: a pool of %zu connections with nothing to do for "
              "%.1f s (target: < 1 %% of one core)\n",
              cfg.idle_pool, seconds);
  for (auto mode : ctx.modes) {
    idle_result r;
    ok &= in_system(ctx, mode, [&](caf::actor_system& sys) {
      r = run_idle_phase(sys, cfg.conninfo, cfg.idle_pool, seconds, ctx.server);
    });
    if (!r.failure.empty()) {
      std::printf("  idle %s scheduler: FAILED: %s\n", to_string(mode),
                  r.failure.c_str());
      ok = false;
      continue;
    }
    std::printf("  idle %s scheduler: process CPU %.2f %% of one core, "
                "%.0f context switches/s; server CPU %.2f %% of one core "
                "(%.1f s)\n",
                to_string(mode), r.cpu_percent, r.ctx_per_second,
                r.server_cpu_percent, r.seconds);
    json_object j;
    j.add("phase", "idle")
      .add("scheduler_mode", to_string(mode))
      .add("pool", uint64_t{r.pool})
      .add("seconds", r.seconds)
      .add("cpu_percent", r.cpu_percent)
      .add("ctx_switches_per_s", r.ctx_per_second)
      .add("server_cpu_percent", r.server_cpu_percent)
      .add("version", libpool_version());
    if (cfg.result_line)
      std::printf("IDLE %s\n", j.str().c_str());
    objects.emplace_back(j.str());
  }
  return ok;
}

int run_throughput(const run_context& ctx,
                   const std::vector<std::pair<size_t, size_t>>& list) {
  const auto& cfg = ctx.cfg;
  bool ok = true;
  std::vector<acquire_result> acqs(ctx.modes.size());
  std::vector<std::string> sched(ctx.modes.size());
  for (size_t i = 0; i < ctx.modes.size(); ++i)
    ok &= in_system(ctx, ctx.modes[i], [&](caf::actor_system& sys) {
      sched[i] = describe_scheduler(sys, ctx.modes[i]);
      std::printf("\nscheduler %s: %s\n", to_string(ctx.modes[i]),
                  sched[i].c_str());
      acqs[i] = run_acquire(sys, cfg, ctx.modes[i]);
      ok &= acqs[i].failure.empty() && acqs[i].errors == 0;
    });
  std::vector<config_result> results;
  std::vector<std::string> objects;
  for (auto [clients, pool] : list) {
    config_result r;
    r.spec =
      run_spec{cfg.conninfo,       clients,    pool, cfg.warmup, cfg.duration,
               cfg.pipeline_depth, ctx.server, {},   cfg.trace};
    std::printf("\nconfig %s: %zu client actors -> pool of %zu%s; raw libpq "
                "on %zu threads\n",
                r.spec.name().c_str(), clients, pool,
                cfg.trace ? " (with a counting tracer)" : "", pool);
    for (size_t i = 0; i < ctx.modes.size(); ++i) {
      auto mode = ctx.modes[i];
      auto label = "pool " + std::string{to_string(mode)} + " " + r.spec.name();
      ok &= in_system(ctx, mode, [&](caf::actor_system& sys) {
        r.pools.push_back({mode, run_pool_phase(sys, r.spec, label), acqs[i]});
      });
    }
    for (size_t i = 0; i < ctx.modes.size() && !ctx.remote.host.empty(); ++i) {
      auto mode = ctx.modes[i];
      auto spec = r.spec;
      spec.remote = ctx.remote;
      auto label = "remote " + std::string{to_string(mode)} + " " + spec.name();
      std::printf("%s: %zu client actors -> the pool node at %s\n",
                  label.c_str(), clients, ctx.remote.node().c_str());
      ok &= in_system(ctx, mode, [&](caf::actor_system& sys) {
        r.remotes.push_back({mode, run_pool_phase(sys, spec, label), {}});
      });
    }
    r.raw = run_raw_phase(r.spec, raw_mode::dedicated);
    if (results.empty() || cfg.connect_baseline)
      r.connect = run_raw_phase(r.spec, raw_mode::connect_per_query);
    print_config(r);
    if (cfg.result_line)
      print_result_lines(r);
    for (const auto& p : r.pools)
      ok &= clean(p.load) && p.load.ran;
    for (const auto& p : r.remotes)
      ok &= clean(p.load) && p.load.ran;
    ok &= clean(r.raw) && clean(r.connect) && r.raw.ran;
    for (auto& obj : to_json(r, sched))
      objects.emplace_back(std::move(obj));
    results.emplace_back(std::move(r));
  }
  if (cfg.idle_seconds >= 0)
    ok &= run_idle(ctx, cfg.idle_seconds > 0 ? cfg.idle_seconds : 3, objects);
  print_summary(results);
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

int run(const run_context& ctx,
        const std::vector<std::pair<size_t, size_t>>& list) {
  const auto& cfg = ctx.cfg;
  auto srv = probe_server(cfg.conninfo);
  if (!srv.error.empty()) {
    std::printf("pool-bench: cannot connect: %s", srv.error.c_str());
    return 2;
  }
  print_header(ctx, srv);
  if (cfg.scale) {
    scale_result res;
    in_system(ctx, ctx.modes.front(), [&](caf::actor_system& sys) {
      std::printf("scheduler %s: %s\n", to_string(ctx.modes.front()),
                  describe_scheduler(sys, ctx.modes.front()).c_str());
      res = run_scale(sys, cfg.conninfo, cfg.scale_waiters, cfg.scale_pool);
    });
    bool ok = res.ok && (cfg.json.empty() || write_json(cfg.json, {res.json}));
    std::printf("\nscale: %s\n", res.ok ? "all requests answered" : "FAILED");
    return ok ? 0 : 1;
  }
  if (cfg.tpcb) {
    std::vector<std::string> objects;
    bool ok =
      run_tpcb_mode(ctx.cfg, ctx.systems, ctx.modes, ctx.server, list, objects);
    if (!cfg.json.empty())
      ok &= write_json(cfg.json, objects);
    return ok ? 0 : 1;
  }
  if (cfg.idle) {
    std::vector<std::string> objects;
    bool ok =
      run_idle(ctx, cfg.idle_seconds > 0 ? cfg.idle_seconds : 10, objects);
    if (!cfg.json.empty())
      ok &= write_json(cfg.json, objects);
    return ok ? 0 : 1;
  }
  return run_throughput(ctx, list);
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
  if (error.empty() && cfg.tpcb && cfg.configs.empty() && cfg.clients == 0 &&
      cfg.pool == 0)
    list = {{64, 16}};
  auto wanted = bench::parse_scheduler_modes(cfg.scheduler, error);
  if (!error.empty()) {
    std::fprintf(stderr, "pool-bench: %s\n", error.c_str());
    return 2;
  }
  if (cfg.duration <= 0 || cfg.warmup < 0 || cfg.acquire_samples == 0 ||
      cfg.scale_waiters == 0 || cfg.scale_pool == 0 || cfg.tpcb_scale == 0 ||
      cfg.idle_pool == 0 || (cfg.idle && cfg.idle_seconds < 0) ||
      int{cfg.scale} + int{cfg.tpcb} + int{cfg.idle} > 1) {
    std::fprintf(stderr, "pool-bench: need --duration > 0, --warmup >= 0, "
                         "--acquire-samples >= 1, --scale-waiters >= 1, "
                         "--scale-pool >= 1, --tpcb-scale >= 1, "
                         "--idle-pool >= 1, --idle-seconds >= 0 with --idle, "
                         "and at most one of --scale, --tpcb, --idle\n");
    return 2;
  }
  auto remote = cfg.remote_target(error);
  if (!error.empty()) {
    std::fprintf(stderr, "pool-bench: %s\n", error.c_str());
    return 2;
  }
  std::vector<std::string> notes;
  auto modes = bench::system_factory::usable(wanted, notes);
  if (modes.empty()) {
    for (const auto& note : notes)
      std::fprintf(stderr, "pool-bench: %s\n", note.c_str());
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  bench::run_context ctx{
    cfg,
    bench::system_factory{argc, argv, !remote.host.empty()},
    std::move(modes),
    std::move(notes),
    bench::server_cpu_probe{cfg.pgdata},
    std::move(remote)};
  return bench::run(ctx, list);
}
