#pragma once

// Command-line and INI configuration of pool-demo.

#include <cstddef>
#include <string>

#include "app_cli.hpp"

namespace demo {

struct demo_config : app::cli_config {
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
  /// "io" (libpool's io scheduler, pool/io_scheduler.hpp) or "default"
  /// (CAF's work stealing + the pool's poller thread).
  std::string scheduler = "io";
  /// "HOST:PORT" of a pool node (poold): drive its pool `remote_pool` over
  /// the network instead of a pool in this process ("" = in-process).
  std::string remote;
  /// The remote pool's name ("" = the node's only pool).
  std::string remote_pool;
  /// Print a progress line this often while the clients run (0 = never).
  double progress = 1.0;

  demo_config();
};

/// The scheduler settings in effect, in one line (shared with pool-bench).
using app::scheduler_summary;

} // namespace demo
