#pragma once

// Command-line and INI configuration of pool-demo.

#include <cstddef>
#include <string>

#include "caf/actor_system_config.hpp"

namespace demo {

struct demo_config : caf::actor_system_config {
  /// libpq connection string (PG* environment variables fill in the rest).
  std::string conninfo;
  /// Number of client actors.
  size_t clients = 32;
  /// How long the clients run, in seconds.
  double duration = 3.0;
  /// Number of rows in the accounts table used by the transfers.
  size_t accounts = 16;
  /// Pool sizes.
  size_t min_size = 2;
  size_t max_size = 8;

  demo_config();

  /// Parses the command line (and caf-application.ini). Accepts both
  /// "--name=value" and "--name value" for options that take a value; CAF's
  /// own parser only knows the first form.
  caf::error parse_args(int argc, char** argv);
};

/// Returns the scheduler settings in effect, in one line.
std::string scheduler_summary(caf::actor_system& sys);

} // namespace demo
