#include "cluster_settings.hpp"

#include "config_error.hpp"

#include "caf/actor_system.hpp"
#include "caf/config_value.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/send.hpp"

#include "pool/conninfo.hpp"
#include "pool/error.hpp"
#include "pool/pool.hpp"

namespace poold {

namespace {

const char* budget_key = "cluster-budget";
const char* reserve_key = "cluster-reserve";

} // namespace

std::vector<pool::setting_doc> cluster_setting_docs() {
  return {
    {budget_key, "number|\"auto\"", "0",
     "0: not clustered; else share this many connections with the pools of "
     "this name on the other "
     "nodes of the cluster ([cluster] node, peers); \"auto\": the server's "
     "max_connections minus cluster-reserve"},
    {reserve_key, "number", "0",
     "connections an \"auto\" budget leaves to others"},
  };
}

caf::error take_cluster_settings(caf::settings& section,
                                 const std::string& where,
                                 pool_cluster_settings& out) {
  if (auto i = section.find(budget_key); i != section.end()) {
    auto n = caf::get_if<int64_t>(&i->second);
    auto s = caf::get_if<std::string>(&i->second);
    if (n != nullptr && *n >= 0 && *n <= 1000000) {
      out.clustered = *n > 0;
      out.budget = static_cast<uint32_t>(*n);
    } else if (s != nullptr && *s == "auto") {
      out.clustered = true;
      out.budget = 0;
    } else {
      return bad(where + "." + budget_key +
                 ": expected a number (0: not clustered) or \"auto\", got " +
                 caf::deep_to_string(i->second));
    }
  }
  if (auto i = section.find(reserve_key); i != section.end()) {
    auto n = caf::get_if<int64_t>(&i->second);
    if (n == nullptr || *n < 0 || *n > 1000000)
      return bad(where + "." + reserve_key +
                 ": expected a number from 0, got " +
                 caf::deep_to_string(i->second));
    out.reserve = static_cast<uint32_t>(*n);
  }
  caf::settings rest; // caf::dictionary has no erase
  for (auto& kv : section)
    if (kv.first != budget_key && kv.first != reserve_key)
      rest.emplace(kv.first, kv.second);
  section = std::move(rest);
  return {};
}

caf::error prepare_clustered(pool::pool_config& pc, const std::string& node,
                             bool routed, const std::string& where) {
  if (node.empty())
    return bad(where + "." + budget_key +
               ": the node is in no cluster (set cluster.node)");
  if (routed)
    return bad(where + "." + budget_key +
               ": a pool with replicas cannot be clustered");
  auto tagged =
    pool::with_conninfo_option(pc.conninfo, "application_name",
                               pool::cluster_application_name(node, pc.name));
  if (tagged.empty())
    return bad(where + ".conninfo: libpq cannot parse it");
  pc.conninfo = std::move(tagged);
  return {};
}

pool::pool_config spawn_config(pool::pool_config pc,
                               const pool_cluster_settings& cs) {
  if (cs.clustered)
    pc.min_size = 0;
  return pc;
}

caf::expected<started_cluster>
start_cluster(caf::actor_system& sys, const pool::cluster_config& base,
              const std::map<std::string, pool::pool_actor>& pools,
              const std::map<std::string, pool::pool_config>& configs,
              const std::map<std::string, pool_cluster_settings>& clustering,
              std::shared_ptr<spdlog::logger> log) {
  started_cluster out;
  auto cfg = base;
  cfg.logger = log;
  for (auto& kv : clustering) {
    if (!kv.second.clustered)
      continue;
    auto& pool = pools.at(kv.first);
    auto& pc = configs.at(kv.first);
    // Spawned with min_size 0 (spawn_config), the pool opened nothing; now
    // it opens nothing before the leader's first plan either.
    caf::anon_send(pool, pool::limit_atom::value, uint64_t{0});
    caf::anon_send(pool, pool::resize_atom::value, uint64_t{pc.min_size},
                   uint64_t{pc.max_size});
    auto wc = pc;
    wc.name = kv.first + ".watch";
    wc.min_size = 1;
    wc.max_size = 1;
    wc.logger = log;
    auto watch = pool::spawn_pool(sys, std::move(wc));
    if (!watch) {
      for (auto& w : out.watches)
        caf::anon_send_exit(w.second, caf::exit_reason::user_shutdown);
      return bad("pool " + kv.first +
                 ": its watch pool: " + pool::describe(watch.error()));
    }
    out.watches.emplace(kv.first, *watch);
    cfg.pools.push_back(pool::cluster_pool{
      kv.first, pool, *watch, kv.second.budget, kv.second.reserve});
  }
  if (auto err = pool::validate(cfg)) {
    for (auto& w : out.watches)
      caf::anon_send_exit(w.second, caf::exit_reason::user_shutdown);
    return err;
  }
  out.member = pool::spawn_cluster_member(sys, std::move(cfg));
  return out;
}

} // namespace poold
