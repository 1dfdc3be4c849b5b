#include "demo_config.hpp"

#include "caf/actor_system.hpp"
#include "caf/config_option_set.hpp"
#include "caf/config_value.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/defaults.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"
#include "caf/settings.hpp"

#include "pool/pool.hpp"

namespace demo {

demo_config::demo_config() {
  opt_group{custom_options_, "global"}
    .add(conninfo, "conninfo", "libpq connection string")
    .add(clients, "clients", "number of client actors (default 32)")
    .add(duration, "duration", "workload duration in seconds (default 3)")
    .add(accounts, "accounts", "accounts used by the transfers (default 16)");
  opt_group{custom_options_, "pool"}
    .add(min_size, "min-size", "connections kept open (default 2)")
    .add(max_size, "max-size", "upper bound on connections (default 8)");
  // The database server shares this machine's cores: a scheduler that spins
  // while idle takes CPU from PostgreSQL (CAF-0.17-NOTES.md §12). The
  // command line or the INI file can override both.
  set("scheduler.max-threads", 2);
  set("work-stealing.moderate-poll-attempts", 0);
  pool::add_message_types(*this);
}

caf::error demo_config::parse_args(int argc, char** argv) {
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

std::string scheduler_summary(caf::actor_system& sys) {
  namespace ws = caf::defaults::work_stealing;
  const auto& cfg = sys.config();
  auto policy = get_or(cfg, "scheduler.policy", caf::atom("stealing"));
  auto mod_sleep = get_or(cfg, "work-stealing.moderate-sleep-duration",
                          ws::moderate_sleep_duration);
  std::string s = "scheduler.policy=" + caf::to_string(policy);
  s += " workers=" + std::to_string(sys.scheduler().num_workers());
  s += " work-stealing.moderate-poll-attempts=" +
       std::to_string(get_or(cfg, "work-stealing.moderate-poll-attempts",
                             ws::moderate_poll_attempts));
  s += " moderate-sleep-duration=" + caf::deep_to_string(mod_sleep);
  return s;
}

} // namespace demo
