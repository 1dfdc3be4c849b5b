#include "reload.hpp"

#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"

#include "pool/error.hpp"
#include "pool/settings_diff.hpp"
#include "poold_config.hpp"

namespace poold {

namespace {

// The node-level options a running node cannot change, that differ.
std::string node_changes(const poold_config& a, const poold_config& b) {
  std::string out;
  auto note = [&](bool differs, const char* name) {
    if (differs)
      out += (out.empty() ? "" : ", ") + std::string{name};
  };
  note(a.node_address != b.node_address, "node.address");
  note(a.node_port != b.node_port, "node.port");
  note(a.node_tls != b.node_tls, "node.tls");
  note(a.http_address != b.http_address, "http.address");
  note(a.http_port != b.http_port, "http.port");
  note(a.scheduler != b.scheduler, "poold.scheduler");
  note(a.shutdown_deadline != b.shutdown_deadline, "poold.shutdown-deadline");
  return out;
}

// Sends the reconfigurable settings of `to` to the pool `name`; logs what
// changed. Returns whether the pool took them.
bool reconfigure(caf::scoped_actor& self, const std::string& name,
                 const pool::pool_actor& hdl, pool::pool_config& running,
                 const pool::pool_config& to, spdlog::logger& log) {
  auto settings = pool::settings_of(to);
  auto next = running;
  bool needs_reset = false;
  auto changed = pool::apply(settings, next, needs_reset);
  if (auto later = pool::restart_only_changes(running, to); !later.empty())
    log.warn("reload: pool {}: {} take a restart; running values kept", name,
             later);
  if (changed.empty()) {
    log.info("reload: pool {}: unchanged", name);
    return true;
  }
  bool ok = false;
  self
    ->request(hdl, std::chrono::seconds(10), pool::reconfigure_atom_v,
              std::move(settings))
    .receive(
      [&](caf::ok_atom) {
        ok = true;
        running = std::move(next);
        log.info("reload: pool {}: changed {}{}", name, changed,
                 needs_reset ? " (replacing its connections)" : "");
      },
      [&](caf::error& err) {
        log.error("reload: pool {}: refused: {}", name, pool::describe(err));
      });
  return ok;
}

// Nothing can change a routed pool's replica list or routing keys while it
// runs: warn about each such change. (Its other settings reach the primary
// and the replicas alike: the router passes `reconfigure` to every pool,
// the conninfo to the primary only.)
void warn_routing(const std::string& name, const routing_settings& running,
                  const routing_settings& fresh, spdlog::logger& log) {
  // Routing keys without replicas before and after change nothing now.
  auto later = routing_changes(running, fresh);
  if (!later.empty() && (running.routed() || fresh.routed()))
    log.warn("reload: pool {}: {} take a restart; running values kept", name,
             later);
}

} // namespace

bool reload(caf::actor_system& sys, int argc, char** argv, running_node& node) {
  auto& log = *node.log;
  poold_config fresh;
  if (auto err = fresh.parse_all(argc, argv)) {
    log.error("reload refused, running settings kept: {}", pool::describe(err));
    return false;
  }
  if (auto later = node_changes(*node.started, fresh); !later.empty())
    log.warn("reload: {} take a restart; running values kept", later);
  auto level = spdlog::level::from_str(fresh.log_level);
  if (level == spdlog::level::off && fresh.log_level != "off")
    log.warn("reload: log.level: unknown level \"{}\"; kept", fresh.log_level);
  else if (level != log.level())
    log.set_level(level);
  for (auto& kv : fresh.pools)
    if (node.pools.count(kv.first) == 0)
      log.warn("reload: pool {} is new in the configuration: a restart "
               "serves it",
               kv.first);
  for (auto& kv : node.pools)
    if (fresh.pools.count(kv.first) == 0)
      log.warn("reload: pool {} is no longer in the configuration: a "
               "restart removes it (still served)",
               kv.first);
  caf::scoped_actor self{sys};
  bool all = true;
  for (auto& kv : fresh.pools) {
    auto p = node.pools.find(kv.first);
    if (p == node.pools.end())
      continue;
    auto& routing = node.routing[kv.first];
    warn_routing(kv.first, routing, fresh.routing[kv.first], log);
    all &= reconfigure(self, kv.first, p->second, node.settings[kv.first],
                       kv.second, log);
  }
  return all;
}

} // namespace poold
