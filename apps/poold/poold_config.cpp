#include "poold_config.hpp"

#include "config_error.hpp"

#include <cstdio>
#include <iostream>
#include <sstream>
#include <utility>
#include <vector>

#include "caf/config_option_set.hpp"
#include "caf/config_value.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/settings.hpp"

#include "pool/config_settings.hpp"
#include "pool/error.hpp"
#include "pool/remote.hpp"

namespace poold {

namespace {

const char* pools_prefix = "--pools.";

// A `--pools.NAME.KEY=VALUE` argument, split.
struct pool_override {
  std::string name;
  std::string key;
  std::string value;
};

// Splits "--pools.NAME.KEY=VALUE" (or "--pools.NAME.KEY VALUE").
caf::expected<pool_override> split_override(const std::string& arg,
                                            const char* next, bool& used_next) {
  auto body = arg.substr(std::string{pools_prefix}.size());
  auto eq = body.find('=');
  std::string path = body.substr(0, eq);
  std::string value;
  if (eq != std::string::npos) {
    value = body.substr(eq + 1);
  } else if (next != nullptr) {
    value = next;
    used_next = true;
  } else {
    return bad(arg + ": missing value");
  }
  auto dot = path.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == path.size())
    return bad(arg.substr(0, arg.find('=')) +
               ": expected --pools.NAME.KEY=VALUE");
  return pool_override{path.substr(0, dot), path.substr(dot + 1), value};
}

// A command-line value: what CAF's INI syntax makes of it (numbers,
// durations, booleans, quoted strings), else the plain text.
caf::config_value parse_value(const std::string& text) {
  if (auto x = caf::config_value::parse(text))
    return std::move(*x);
  return caf::config_value{text};
}

// Prints one setting per line: key, type, help and default.
void print_docs(const char* title, const std::vector<pool::setting_doc>& docs) {
  std::cout << title;
  for (auto& d : docs) {
    std::string left = "  " + d.key + "=<" + d.type + ">";
    if (left.size() < 34)
      left.resize(34, ' ');
    std::cout << left << " " << d.help << " (default " << d.default_value
              << ")\n";
  }
}

void print_pool_help() {
  print_docs("\nPool settings, one section per pool ([pools.NAME] in the "
             "file, --pools.NAME.KEY=VALUE on the command line):\n",
             pool::pool_setting_docs());
  print_docs("\nRead routing (pool/routing.hpp), in the same sections:\n",
             routing_setting_docs());
  print_docs("\nCluster (pool/cluster.hpp), in the same sections:\n",
             cluster_setting_docs());
  std::cout << "\nEnvironment: libpq's PG* variables and ~/.pgpass apply to "
               "every conninfo as libpq defines.\n";
}

} // namespace

poold_config::poold_config() {
  opt_group{custom_options_, "node"}
    .add(node_address, "address",
         "address for other CAF nodes (default 127.0.0.1)")
    .add(node_port, "port", "port for other CAF nodes (default 4270; 0: any)")
    .add(node_tls, "tls",
         "TLS between nodes, certificates checked both ways (needs "
         "openssl.certificate, openssl.key, openssl.cafile)");
  opt_group{custom_options_, "http"}
    .add(http_address, "address",
         "address of /metrics and /health "
         "(default 127.0.0.1)")
    .add(http_port, "port", "port of /metrics and /health (default 0: off)");
  opt_group{custom_options_, "cluster"}
    .add(cluster_node, "node",
         "this node's name in its cluster (unique; empty: no cluster)")
    .add(cluster_peers, "peers",
         "the other nodes, as [\"host:port\", ...] of their node ports")
    .add(cluster_interval, "interval",
         "how often lost peers are dialled and the leader plans (default "
         "250ms)");
  opt_group{custom_options_, "log"}.add(
    log_level, "level",
    "trace, debug, info, warn, error, critical or off (default info)");
  opt_group{custom_options_, "poold"}
    .add(shutdown_deadline, "shutdown-deadline",
         "time running work gets at SIGINT/SIGTERM (default 10s)")
    .add(scheduler, "scheduler",
         "io (libpool's io scheduler, the default) or default (CAF's)")
    .add(port_file, "port-file",
         "write the node's port to this file once it listens")
    .add(http_port_file, "http-port-file",
         "write the HTTP port to this file once it listens");
  // Two worker threads on a 2-core box that also runs the database: CAF's
  // spinning scheduler would take CPU from it (CAF-0.17-NOTES.md §12).
  set_default("scheduler.max-threads", 2);
  pool::configure_node(*this);
}

caf::error poold_config::parse_all(int argc, char** argv) {
  std::vector<std::string> kept{argv[0]};
  std::vector<pool_override> overrides;
  bool help_asked = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "-?" || arg == "--long-help") {
      kept.emplace_back("--long-help");
      help_asked = true;
    } else if (arg == "--dump-config") {
      dump_requested = true; // printed by main, redacted (dump_config.hpp)
    } else if (arg.compare(0, std::string{pools_prefix}.size(), pools_prefix) ==
               0) {
      bool used_next = false;
      auto ov =
        split_override(arg, i + 1 < argc ? argv[i + 1] : nullptr, used_next);
      if (!ov)
        return std::move(ov.error());
      if (used_next)
        ++i;
      overrides.push_back(std::move(*ov));
    } else {
      kept.push_back(std::move(arg));
    }
  }
  std::vector<char*> args;
  for (auto& s : kept)
    args.push_back(s.data());
  // CAF prints its help, and its dump of the whole content (every pool's
  // conninfo with its password) when the file sets a global
  // `dump-config=true`, to std::cout inside parse: catch that output and
  // pass only the help on.
  std::ostringstream caf_output;
  auto* stdout_buf = std::cout.rdbuf(caf_output.rdbuf());
  auto err = parse_args(static_cast<int>(args.size()), args.data());
  std::cout.rdbuf(stdout_buf);
  if (err)
    return bad("bad option: " + caf::to_string(err));
  if (cli_helptext_printed && !help_asked) {
    cli_helptext_printed = false; // CAF's dump, discarded: ours instead
    dump_requested = true;
  }
  if (cli_helptext_printed) {
    std::cout << caf_output.str();
    print_pool_help();
    help_printed = true;
    return caf::none;
  }
  // CAF accepts unknown keys in the file silently: refuse them in poold's
  // own sections.
  for (auto group : {"node", "http", "log", "poold", "cluster"}) {
    auto xs = caf::get_if<caf::settings>(&content, group);
    if (!xs)
      continue;
    for (auto& kv : *xs)
      if (custom_options_.qualified_name_lookup(group, kv.first) == nullptr)
        return bad(std::string{group} + "." + kv.first + ": unknown option");
  }
  if (scheduler != "io" && scheduler != "default")
    return bad("poold.scheduler: expected io or default, got \"" + scheduler +
               "\"");
  if (node_tls) {
    if (openssl_certificate.empty() || openssl_key.empty() ||
        (openssl_cafile.empty() && openssl_capath.empty()))
      return bad("node.tls: needs openssl.certificate, openssl.key and "
                 "openssl.cafile (or openssl.capath)");
    load<caf::openssl::manager>();
  }
  if (shutdown_deadline.count() <= 0)
    return bad("poold.shutdown-deadline: must be positive");
  if (!cluster_node.empty())
    if (auto err = pool::validate(cluster()))
      return bad(pool::error_message(err));
  caf::settings all_pools;
  if (auto xs = caf::get_if<caf::settings>(&content, "pools"))
    all_pools = *xs;
  else if (content.count("pools") > 0)
    return bad("pools: expected sections [pools.NAME]");
  for (auto& ov : overrides) {
    auto& entry = all_pools[ov.name];
    if (!caf::holds_alternative<caf::settings>(entry))
      entry = caf::settings{};
    caf::get<caf::settings>(entry)[ov.key] = parse_value(ov.value);
  }
  if (all_pools.empty())
    return bad("no pools configured: add a [pools.NAME] section with a "
               "conninfo to the configuration file (see config/poold.ini), "
               "or --pools.NAME.conninfo=\"...\"");
  for (auto& kv : all_pools) {
    auto where = "pools." + kv.first;
    if (!caf::holds_alternative<caf::settings>(kv.second))
      return bad(where + ": expected a section [" + where + "]");
    pool::pool_config pc;
    pc.name = kv.first;
    auto section = caf::get<caf::settings>(kv.second);
    routing_settings rs;
    if (auto err = take_routing_settings(section, where, rs))
      return err;
    pool_cluster_settings cs;
    if (auto err = take_cluster_settings(section, where, cs))
      return err;
    if (auto err = read_pool_settings(section, where, pc))
      return err;
    if (auto err = pool::validate(pc))
      return bad(where + ": " + pool::error_message(err));
    if (auto err = validate_routing(pc, rs, where))
      return err;
    if (cs.clustered)
      if (auto err = prepare_clustered(pc, cluster_node, rs.routed(), where))
        return err;
    pools.emplace(kv.first, std::move(pc));
    routing.emplace(kv.first, std::move(rs));
    clustering.emplace(kv.first, cs);
    pool_sections.emplace(kv.first, caf::get<caf::settings>(kv.second));
  }
  return caf::none;
}

pool::cluster_config poold_config::cluster() const {
  pool::cluster_config out;
  out.node = cluster_node;
  out.peers = cluster_peers;
  out.interval = cluster_interval;
  return out;
}

} // namespace poold
