#pragma once

// poold's configuration: CAF's INI file (--config-file, default
// caf-application.ini in the working directory), then the command line.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "caf/settings.hpp"
#include "caf/timespan.hpp"

#include "app_cli.hpp"
#include "cluster_settings.hpp"
#include "pool/config.hpp"
#include "routing_settings.hpp"

namespace poold {

/// Every option of poold. Pools come from the `pools` section: one
/// sub-section per pool (`[pools.orders]`), its keys those of
/// pool::pool_setting_docs(); `--pools.NAME.KEY=VALUE` overrides one.
struct poold_config : app::cli_config {
  /// Address the node listens on for other CAF nodes.
  std::string node_address = "127.0.0.1";
  /// Port the node listens on (0: any free port, printed at start).
  uint16_t node_port = 4270;
  /// Speak TLS to other nodes, with mutual certificate checks (needs
  /// openssl.certificate, openssl.key and openssl.cafile or capath).
  bool node_tls = false;
  /// Address of the HTTP endpoint (/metrics, /health).
  std::string http_address = "127.0.0.1";
  /// Port of the HTTP endpoint (0: any free port, see `http_port_file`).
  /// An empty `http_address` turns the endpoint off.
  uint16_t http_port = 9187;
  /// spdlog level: trace, debug, info, warn, error, critical, off.
  std::string log_level = "info";
  /// Time that running work gets to finish at SIGINT/SIGTERM.
  caf::timespan shutdown_deadline = std::chrono::seconds(10);
  /// "io" (libpool's io scheduler) or "default" (CAF's).
  std::string scheduler = "io";
  /// Write the node's port to this file once it listens ("" = do not).
  std::string port_file;
  /// Write the HTTP endpoint's port to this file once it listens.
  std::string http_port_file;
  /// This node's name in its cluster ("" = not in a cluster).
  std::string cluster_node;
  /// The other nodes of the cluster ("host:port" of their node ports).
  std::vector<std::string> cluster_peers;
  /// How often the node dials lost peers, and the leader plans.
  caf::timespan cluster_interval = std::chrono::milliseconds(250);

  poold_config();

  /// Parses the command line and the configuration file, then the pools.
  /// Returns an error naming the bad option, key or value. Sets
  /// `help_printed` when --help was given (the help is printed then), and
  /// `dump_requested` when --dump-config was given (nothing printed yet).
  caf::error parse_all(int argc, char** argv);

  /// The pools, by name, with their logger not yet set.
  std::map<std::string, pool::pool_config> pools;

  /// Each pool's routing keys (routing_settings.hpp), by name; a pool with
  /// replicas is spawned with pool::spawn_routed_pool.
  std::map<std::string, routing_settings> routing;

  /// Each pool's cluster keys (cluster_settings.hpp), by name.
  std::map<std::string, pool_cluster_settings> clustering;

  /// The cluster settings of the node (its pools not filled in).
  pool::cluster_config cluster() const;

  /// Each pool's section as given (file, then --pools.NAME.KEY overrides),
  /// by name: what `dump_config` prints, with the defaults of the keys it
  /// leaves out.
  std::map<std::string, caf::settings> pool_sections;

  /// Whether --help printed the help (poold then exits with 0).
  bool help_printed = false;

  /// Whether --dump-config was given: poold then prints `dump_config(*this)`
  /// (dump_config.hpp) and exits with 0. CAF never sees the option (its own
  /// dump would print every password).
  bool dump_requested = false;
};

} // namespace poold
