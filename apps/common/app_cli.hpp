#pragma once

// Command-line handling and the scheduler line shared by the apps
// (pool-demo, pool-bench).

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor_system_config.hpp"
#include "caf/fwd.hpp"

namespace app {

/// Parses the command line `argc`/`argv` (and caf-application.ini) into
/// `cfg`. Accepts both "--name=value" and "--name value" for the options in
/// `opts` that take a value; CAF's own parser only knows the first form.
/// `opts` is the config's `custom_options_` (protected in CAF, so the
/// config's own member function passes it in).
caf::error parse_spaced_args(caf::actor_system_config& cfg,
                             const caf::config_option_set& opts, int argc,
                             char** argv);

/// Base of the apps' configurations: adds `parse_args`.
struct cli_config : caf::actor_system_config {
  /// Parses the command line (and caf-application.ini) with
  /// `parse_spaced_args` and this config's own options, then applies the
  /// `set_default`s that the command line did not override.
  caf::error parse_args(int argc, char** argv);

 protected:
  /// Sets `name` (e.g. "scheduler.max-threads") to `value` after parsing,
  /// unless the command line sets it. A plain `set` in the constructor does
  /// not survive CAF 0.17.6's `parse` for every option: it puts
  /// scheduler.max-threads back to max(4, cores), so pool-bench and
  /// pool-demo ran 4 workers on 2 cores while their comments said 2.
  void set_default(std::string name, size_t value);

 private:
  std::vector<std::pair<std::string, size_t>> defaults_;
};

/// Splits "HOST:PORT" (or "[V6]:PORT") into `host` and `port`. Returns ""
/// or a message naming `option` and what is wrong with `text`.
std::string parse_host_port(const std::string& option, const std::string& text,
                            std::string& host, uint16_t& port);

/// The scheduler settings in effect.
struct scheduler_info {
  std::string policy;
  size_t workers = 0;
  size_t max_threads = 0;
  size_t max_throughput = 0;
  size_t aggressive_poll_attempts = 0;
  size_t moderate_poll_attempts = 0;
  std::string moderate_sleep;
  std::string relaxed_sleep;

  /// Every field, in one line.
  std::string to_string() const;
};

/// Reads the scheduler settings of `sys` (its config, CAF's defaults).
scheduler_info read_scheduler_info(caf::actor_system& sys);

/// The policy, workers and moderate polling of `sys`, in one line.
std::string scheduler_summary(caf::actor_system& sys);

} // namespace app
