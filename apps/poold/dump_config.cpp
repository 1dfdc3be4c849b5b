#include "dump_config.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <sstream>

#include "caf/config_value.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/settings.hpp"

#include "pool/config_settings.hpp"

#include "ini.hpp"
#include "poold_config.hpp"

namespace poold {

using app::ini_quote;

namespace {

// `x` in CAF's duration syntax, in the largest unit that keeps it exact.
std::string duration(caf::timespan x) {
  auto ns = x.count();
  if (ns == 0)
    return "0";
  struct unit {
    int64_t ns;
    const char* suffix;
  };
  for (auto u : {unit{60'000'000'000, "min"}, unit{1'000'000'000, "s"},
                 unit{1'000'000, "ms"}, unit{1'000, "us"}})
    if (ns % u.ns == 0)
      return std::to_string(ns / u.ns) + u.suffix;
  return std::to_string(ns) + "ns";
}

// A pool setting's value in CAF's INI syntax; a conninfo is redacted.
std::string ini_value(const std::string& key, const caf::config_value& v) {
  if (auto x = caf::get_if<std::string>(&v))
    return ini_quote(key == "conninfo" ? pool::redact_conninfo(*x) : *x);
  if (auto x = caf::get_if<bool>(&v))
    return *x ? "true" : "false";
  if (auto x = caf::get_if<int64_t>(&v))
    return std::to_string(*x);
  if (auto x = caf::get_if<caf::timespan>(&v))
    return duration(*x);
  if (auto xs = caf::get_if<caf::config_value::list>(&v)) {
    std::string out = "[";
    for (auto& x : *xs)
      out += (out.size() == 1 ? "" : ", ") + ini_value(key, x);
    return out + "]";
  }
  // read_pool_settings accepts no other type: never reached for a pool
  // that passed parse_all.
  return caf::deep_to_string(v);
}

} // namespace

namespace {

// The routing keys of a pool section (routing_settings.hpp), every replica
// conninfo redacted.
std::string routing_keys(const routing_settings& r) {
  std::string out = "replicas=[";
  for (size_t i = 0; i < r.replicas.size(); ++i)
    out +=
      (i == 0 ? "" : ", ") + ini_quote(pool::redact_conninfo(r.replicas[i]));
  out += "]\n";
  out += std::string{"reads-fall-back-to-primary="} +
         (r.reads_fall_back_to_primary ? "true" : "false") + "\n";
  out += "max-replica-lag=" + duration(r.max_replica_lag) + "\n";
  out += "lag-check-interval=" + duration(r.lag_check_interval) + "\n";
  return out;
}

// The cluster keys of a pool section (cluster_settings.hpp); budget 0: not
// clustered.
std::string cluster_keys(const pool_cluster_settings& c) {
  return "cluster-budget=" +
         (c.clustered && c.budget == 0 ? std::string{"\"auto\""}
                                       : std::to_string(c.budget)) +
         "\ncluster-reserve=" + std::to_string(c.reserve) + "\n";
}

} // namespace

std::string dump_config(const poold_config& cfg) {
  std::ostringstream out;
  out << "; poold --dump-config: the effective configuration (defaults "
         "filled in).\n"
      << "; Passwords are replaced by " << redacted
      << ": put them back (or use ~/.pgpass, PGPASSFILE) before using it.\n"
      << "[node]\n"
      << "address=" << ini_quote(cfg.node_address) << "\n"
      << "port=" << cfg.node_port << "\n"
      << "tls=" << (cfg.node_tls ? "true" : "false") << "\n"
      << "[http]\n"
      << "address=" << ini_quote(cfg.http_address) << "\n"
      << "port=" << cfg.http_port << "\n"
      << "[log]\n"
      << "level=" << ini_quote(cfg.log_level) << "\n"
      << "[poold]\n"
      << "shutdown-deadline=" << duration(cfg.shutdown_deadline) << "\n"
      << "scheduler=" << ini_quote(cfg.scheduler) << "\n"
      << "port-file=" << ini_quote(cfg.port_file) << "\n"
      << "http-port-file=" << ini_quote(cfg.http_port_file) << "\n";
  if (!cfg.cluster_node.empty()) {
    out << "[cluster]\n"
        << "node=" << ini_quote(cfg.cluster_node) << "\n"
        << "peers=[";
    for (size_t i = 0; i < cfg.cluster_peers.size(); ++i)
      out << (i == 0 ? "" : ", ") << ini_quote(cfg.cluster_peers[i]);
    out << "]\n"
        << "interval=" << duration(cfg.cluster_interval) << "\n";
  }
  if (cfg.node_tls || !cfg.openssl_certificate.empty() ||
      !cfg.openssl_key.empty() || !cfg.openssl_passphrase.empty() ||
      !cfg.openssl_cafile.empty() || !cfg.openssl_capath.empty()) {
    out << "[openssl]\n"
        << "certificate=" << ini_quote(cfg.openssl_certificate) << "\n"
        << "key=" << ini_quote(cfg.openssl_key) << "\n";
    if (!cfg.openssl_passphrase.empty())
      out << "passphrase=" << ini_quote(redacted) << "\n";
    out << "cafile=" << ini_quote(cfg.openssl_cafile) << "\n"
        << "capath=" << ini_quote(cfg.openssl_capath) << "\n";
  }
  auto docs = pool::pool_setting_docs();
  for (auto& [name, section] : cfg.pool_sections) {
    out << "[pools." << name << "]\n";
    for (auto& d : docs) {
      out << d.key << "=";
      if (auto i = section.find(d.key); i != section.end())
        out << ini_value(d.key, i->second);
      else
        out << d.default_value;
      out << "\n";
    }
    out << routing_keys(cfg.routing.at(name));
    out << cluster_keys(cfg.clustering.at(name));
  }
  return out.str();
}

} // namespace poold
