#include "app_cli.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <utility>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/config_option.hpp"
#include "caf/config_option_set.hpp"
#include "caf/config_value.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/defaults.hpp"
#include "caf/scheduler/abstract_coordinator.hpp"
#include "caf/settings.hpp"

#include "pool/io_scheduler.hpp"

namespace app {

caf::error parse_spaced_args(caf::actor_system_config& cfg,
                             const caf::config_option_set& opts, int argc,
                             char** argv) {
  caf::actor_system_config::string_list args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0 &&
        arg.find('=') == std::string::npos && i + 1 < argc) {
      auto opt = opts.cli_long_name_lookup(arg.substr(2));
      if (opt != nullptr && !opt->is_flag()) {
        arg += '=';
        arg += argv[++i];
      }
    }
    args.emplace_back(std::move(arg));
  }
  return cfg.parse(std::move(args));
}

caf::error cli_config::parse_args(int argc, char** argv) {
  if (auto err = parse_spaced_args(*this, custom_options_, argc, argv))
    return err;
  for (auto& [name, value] : defaults_) {
    auto flag = "--" + name;
    bool given = false;
    for (int i = 1; i < argc && !given; ++i) {
      std::string arg = argv[i];
      given = arg == flag || arg.compare(0, flag.size() + 1, flag + "=") == 0;
    }
    if (!given)
      set(name, value);
  }
  return caf::none;
}

void cli_config::set_default(std::string name, size_t value) {
  defaults_.emplace_back(std::move(name), value);
}

std::string parse_host_port(const std::string& option, const std::string& text,
                            std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return option + ": expected HOST:PORT, got '" + text + "'";
  auto h = text.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']')
    h = h.substr(1, h.size() - 2);
  auto p = text.substr(colon + 1);
  char* end = nullptr;
  errno = 0;
  long n = std::strtol(p.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || n < 1 || n > 65535 ||
      !std::isdigit(static_cast<unsigned char>(p[0])))
    return option + ": bad port '" + p + "' in '" + text + "' (want 1..65535)";
  host = h;
  port = static_cast<uint16_t>(n);
  return {};
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
  x.policy = pool::uses_io_scheduler(sys)
               ? std::string{"libpool-io"}
               : caf::to_string(get_or(cfg, "scheduler.policy", sd::policy));
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

std::string scheduler_summary(caf::actor_system& sys) {
  auto x = read_scheduler_info(sys);
  return "scheduler.policy=" + x.policy +
         " workers=" + std::to_string(x.workers) +
         " work-stealing.moderate-poll-attempts=" +
         std::to_string(x.moderate_poll_attempts) +
         " moderate-sleep-duration=" + x.moderate_sleep;
}

} // namespace app
