#include "bench_config.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "caf/config_value.hpp"

#include "pool/pool.hpp"

namespace bench {

bench_config::bench_config() {
  opt_group{custom_options_, "global"}
    .add(conninfo, "conninfo", "libpq connection string")
    .add(configs, "configs",
         "configurations CLIENTSxPOOL,... (default 4x4,64x16,256x16,1024x16)")
    .add(clients, "clients", "a single configuration: client actors")
    .add(pool, "pool", "a single configuration: pool size = raw threads")
    .add(duration, "duration", "measured seconds per phase (default 5)")
    .add(warmup, "warmup", "warm-up seconds per phase (default 1)")
    .add(json, "json", "write the results as JSON to this file")
    .add(plot, "plot", "draw latency CDFs to this PNG (needs gnuplot)")
    .add(result_line, "result-line", "print RESULT {json} lines")
    .add(connect_baseline, "connect-baseline",
         "connect-per-request baseline for every configuration, not just "
         "the first")
    .add(scale, "scale", "run the scale checks instead of the throughput run")
    .add(scale_waiters, "scale-waiters",
         "scale: requests waiting on a pool of 16 (default 10000)")
    .add(scale_pool, "scale-pool",
         "scale: large pool size (default 500, at most max_connections-20)")
    .add(acquire_samples, "acquire-samples",
         "measured acquire/release round trips (default 20000)")
    .add(acquire_warmup, "acquire-warmup",
         "unmeasured acquire/release round trips first (default 1000)")
    .add(pipeline_depth, "pipeline-depth",
         "the pool's pipeline_depth in the throughput runs (default 4, "
         "1 = off)")
    .add(trace, "trace",
         "give the throughput runs' pools a tracer that counts the events "
         "(what tracing costs; compare with a run without)")
    .add(scheduler, "scheduler",
         "scheduler of the pool phases: io, default or both (default both)")
    .add(pgdata, "pgdata",
         "the server's data directory, to find its processes for the server "
         "CPU figures (default $POOL_TEST_PGDATA)")
    .add(tpcb, "tpcb",
         "run pgbench's TPC-B transaction through the pool and with pgbench "
         "(default configuration 64x16) instead of the throughput run")
    .add(tpcb_scale, "tpcb-scale", "TPC-B: pgbench -i scale (default 1)")
    .add(pgbench, "pgbench", "TPC-B: the pgbench binary")
    .add(idle, "idle", "run only the idle phase")
    .add(idle_seconds, "idle-seconds",
         "idle phase length (default 10 with --idle, 3 in the throughput "
         "run; < 0: none in the throughput run)")
    .add(idle_pool, "idle-pool", "idle phase: pool size (default 16)")
    .add(remote, "remote",
         "HOST:PORT of a pool node (poold): run the pool phases against its "
         "pool as well and report remote/in-process")
    .add(remote_pool, "remote-pool",
         "the remote pool's name (default: the node's only pool)");
  if (const char* dir = std::getenv("POOL_TEST_PGDATA"))
    pgdata = dir;
  // Client and server share this machine's cores: the default scheduler
  // (4 threads on 2 cores, spinning while idle) takes CPU from PostgreSQL
  // (CAF-0.17-NOTES.md §12). The command line can override both, e.g.
  // --scheduler.max-threads=4.
  set_default("scheduler.max-threads", 2);
  set("work-stealing.moderate-poll-attempts", 0);
  pool::add_message_types(*this);
}

std::vector<std::pair<size_t, size_t>>
bench_config::run_list(std::string& error) const {
  std::vector<std::pair<size_t, size_t>> out;
  if (clients != 0 || pool != 0) {
    if (!configs.empty()) {
      error = "give either --configs or --clients/--pool, not both";
      return {};
    }
    out.emplace_back(clients != 0 ? clients : 64, pool != 0 ? pool : 16);
    return out;
  }
  std::string list = configs.empty() ? default_configs : configs;
  size_t pos = 0;
  while (pos <= list.size()) {
    auto end = std::min(list.find(',', pos), list.size());
    auto item = list.substr(pos, end - pos);
    size_t n = 0;
    size_t p = 0;
    char rest = 0;
    if (std::sscanf(item.c_str(), "%zux%zu%c", &n, &p, &rest) != 2 || n == 0 ||
        p == 0) {
      error = "bad configuration '" + item + "' in --configs (want e.g. 64x16)";
      return {};
    }
    out.emplace_back(n, p);
    pos = end + 1;
  }
  return out;
}

remote_ref bench_config::remote_target(std::string& error) const {
  remote_ref out;
  if (remote.empty()) {
    if (!remote_pool.empty())
      error = "--remote-pool needs --remote";
    return out;
  }
  error = app::parse_host_port("--remote", remote, out.host, out.port);
  if (error.empty() && (scale || tpcb || idle))
    error = "--remote runs with the throughput run only, not with --scale, "
            "--tpcb or --idle";
  out.name = remote_pool;
  return out;
}

} // namespace bench
