#include "bench_config.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "caf/actor_system.hpp"
#include "caf/config_option_set.hpp"
#include "caf/config_value.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/defaults.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"
#include "caf/settings.hpp"

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
         "unmeasured acquire/release round trips first (default 1000)");
  // Client and server share this machine's cores: the default scheduler
  // (4 threads on 2 cores, spinning while idle) takes CPU from PostgreSQL
  // (CAF-0.17-NOTES.md §12). The command line or the INI file can override
  // both, e.g. --scheduler.max-threads=4.
  set("scheduler.max-threads", 2);
  set("work-stealing.moderate-poll-attempts", 0);
  pool::add_message_types(*this);
}

caf::error bench_config::parse_args(int argc, char** argv) {
  string_list args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0 &&
        arg.find('=') == std::string::npos && i + 1 < argc) {
      auto opt = custom_options_.cli_long_name_lookup(arg.substr(2));
      if (opt != nullptr && !opt->is_flag()) {
        arg += '=';
        arg += argv[++i];
      }
    }
    args.emplace_back(std::move(arg));
  }
  return parse(std::move(args));
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

std::string scheduler_info::to_string() const {
  return "scheduler.policy=" + policy + " workers=" + std::to_string(workers) +
         " max-threads=" + std::to_string(max_threads) + " max-throughput=" +
         (max_throughput == std::numeric_limits<size_t>::max()
            ? std::string{"unlimited"}
            : std::to_string(max_throughput)) +
         " work-stealing.aggressive-poll-attempts=" +
         std::to_string(aggressive_poll_attempts) +
         " moderate-poll-attempts=" + std::to_string(moderate_poll_attempts) +
         " moderate-sleep-duration=" + moderate_sleep +
         " relaxed-sleep-duration=" + relaxed_sleep;
}

scheduler_info read_scheduler_info(caf::actor_system& sys) {
  namespace sd = caf::defaults::scheduler;
  namespace ws = caf::defaults::work_stealing;
  const auto& cfg = sys.config();
  scheduler_info x;
  x.policy = caf::to_string(get_or(cfg, "scheduler.policy", sd::policy));
  x.workers = sys.scheduler().num_workers();
  x.max_threads = get_or(cfg, "scheduler.max-threads", sd::max_threads);
  x.max_throughput =
    get_or(cfg, "scheduler.max-throughput", sd::max_throughput);
  x.aggressive_poll_attempts =
    get_or(cfg, "work-stealing.aggressive-poll-attempts",
           ws::aggressive_poll_attempts);
  x.moderate_poll_attempts = get_or(cfg, "work-stealing.moderate-poll-attempts",
                                    ws::moderate_poll_attempts);
  x.moderate_sleep = caf::deep_to_string(get_or(
    cfg, "work-stealing.moderate-sleep-duration", ws::moderate_sleep_duration));
  x.relaxed_sleep = caf::deep_to_string(get_or(
    cfg, "work-stealing.relaxed-sleep-duration", ws::relaxed_sleep_duration));
  return x;
}

} // namespace bench
