#pragma once

// SIGHUP: poold reads its configuration again (the same command line, so
// --pools.NAME.KEY overrides still win) and applies what a running node can
// change: each pool's reconfigurable settings (pool::pool_settings, sent
// with reconfigure_atom; a changed conninfo replaces every connection) and
// the log level. Everything else is logged as taking a restart. A file that
// does not parse or validate changes nothing.

#include <map>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "caf/fwd.hpp"

#include "pool/config.hpp"
#include "pool/protocol.hpp"
#include "routing_settings.hpp"

namespace poold {

struct poold_config;

/// What a reload compares against and changes.
struct running_node {
  /// The pools being served, by name.
  std::map<std::string, pool::pool_actor> pools;
  /// Their settings as last applied (no logger).
  std::map<std::string, pool::pool_config> settings;
  /// Their routing keys as started (routing_settings.hpp).
  std::map<std::string, routing_settings> routing;
  /// The configuration the node started with (node, http, poold sections).
  const poold_config* started = nullptr;
  std::shared_ptr<spdlog::logger> log;
};

/// Parses `argc`/`argv` again and applies the result to `node` (see above);
/// logs one line per pool saying what changed. Returns false when the new
/// configuration was refused (the running settings stay).
bool reload(caf::actor_system& sys, int argc, char** argv, running_node& node);

} // namespace poold
