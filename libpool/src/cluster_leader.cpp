// The leader's round (cluster.hpp): every live member reports what it may
// hold and holds per clustered pool, each pool's watch connection reads the
// server's counts per node (application_name) and max_connections, and
// cluster::next_limits turns that into the next limits: a node above its
// share shrinks at once, one below grows only into connections no node
// holds or may hold. Every live member gets the whole plan; each applies its
// own shares. A round that misses a report or a count changes nothing.

#include "cluster_member.hpp"

#include <map>

#include "caf/event_based_actor.hpp"

#include "cluster_budget.hpp"
#include "pool/error.hpp"

namespace pool::detail {

namespace {

/// What a round collected.
struct round_data {
  size_t pending = 0;
  bool failed = false;
  std::string why;
  /// Reports, by member name.
  std::map<std::string, std::vector<cluster_share>> reports;
  /// Per pool (cfg.pools order): the server's count per node.
  std::vector<std::map<std::string, uint32_t>> counts;
  /// Per pool: the server's max_connections (0: unknown).
  std::vector<uint32_t> max_connections;
};

using round_ptr = std::shared_ptr<round_data>;

constexpr const char* app_prefix = "libpool-cluster/";

uint32_t to_count(const std::string& x) {
  try {
    return static_cast<uint32_t>(std::stoul(x));
  } catch (...) {
    return 0;
  }
}

// Reads count_sql()'s rows for the pool called `pool` into `counts` and
// `max_conn`.
void read_counts(const query_result& r, const std::string& pool,
                 std::map<std::string, uint32_t>& counts, uint32_t& max_conn) {
  auto suffix = "/" + pool;
  for (size_t row = 0; row < r.rows(); ++row) {
    auto& app = r.at(row, 0);
    max_conn = to_count(r.at(row, 2));
    if (app.size() <= suffix.size() + std::string{app_prefix}.size() ||
        app.compare(app.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    auto node =
      app.substr(std::string{app_prefix}.size(),
                 app.size() - suffix.size() - std::string{app_prefix}.size());
    counts[node] += to_count(r.at(row, 1));
  }
}

// The plan for pool `i` from what the round collected; empty if the budget
// is unknown.
std::vector<cluster_share> plan_pool(member_ptr self, const round_data& d,
                                     size_t i) {
  auto& cp = self->state.cfg.pools[i];
  uint32_t budget = cp.budget;
  if (budget == 0) {
    auto mc = d.max_connections[i];
    budget = mc > cp.reserve ? mc - cp.reserve : 0;
  }
  std::map<std::string, cluster::node_load> loads;
  for (auto& kv : d.reports)
    for (auto& s : kv.second)
      if (s.pool == cp.name)
        loads[kv.first] = cluster::node_load{kv.first, true, s.limit, s.open};
  for (auto& kv : d.counts[i]) {
    auto& n = loads[kv.first];
    n.name = kv.first;
    n.open = std::max(n.open, kv.second);
  }
  std::vector<cluster::node_load> xs;
  for (auto& kv : loads)
    xs.push_back(kv.second);
  auto next = cluster::next_limits(budget, xs);
  std::vector<cluster_share> out;
  for (auto& n : xs) {
    auto server = d.counts[i].count(n.name) ? d.counts[i].at(n.name) : 0u;
    uint32_t limit = n.live ? next[n.name] : 0;
    if (n.live && limit != n.limit)
      self->state.log->info("cluster: {} on {}: limit {} -> {} (budget {}, "
                            "{} open on the server)",
                            cp.name, n.name, n.limit, limit, budget, server);
    out.push_back(cluster_share{cp.name, n.name, limit, server, budget});
  }
  return out;
}

void finish(member_ptr self, const round_data& d) {
  auto& st = self->state;
  st.planning = false;
  if (d.failed) {
    st.log->debug("cluster: no plan this round: {}", d.why);
    return;
  }
  if (st.leader != st.cfg.node)
    return; // a leader with a smaller name joined meanwhile
  std::vector<cluster_share> plan;
  for (size_t i = 0; i < st.cfg.pools.size(); ++i) {
    auto xs = plan_pool(self, d, i);
    plan.insert(plan.end(), xs.begin(), xs.end());
  }
  // Only to the members that reported: a node that joined during the round
  // is not in the plan (it would read its share as 0).
  for (auto& m : live_members(self))
    if (d.reports.count(m.first) > 0)
      self->send(m.second, plan_atom::value, st.cfg.node, plan);
}

} // namespace

const char* count_sql() {
  return "SELECT '', 0, current_setting('max_connections') UNION ALL "
         "SELECT application_name, count(*), "
         "current_setting('max_connections') FROM pg_stat_activity "
         "WHERE application_name LIKE 'libpool-cluster/%' GROUP BY 1";
}

void plan_round(member_ptr self) {
  auto& st = self->state;
  if (st.planning)
    return;
  st.planning = true;
  auto d = std::make_shared<round_data>();
  auto members = live_members(self);
  d->pending = members.size() + st.cfg.pools.size();
  d->counts.resize(st.cfg.pools.size());
  d->max_connections.assign(st.cfg.pools.size(), 0);
  auto done = [=](std::string why) {
    if (!why.empty() && !d->failed) {
      d->failed = true;
      d->why = std::move(why);
    }
    if (--d->pending == 0)
      finish(self, *d);
  };
  auto timeout = member_timeout(st.cfg);
  for (auto& m : members) {
    auto name = m.first;
    self->request(m.second, timeout, report_atom::value)
      .then(
        [=](std::vector<cluster_share>& xs) {
          d->reports[name] = std::move(xs);
          done("");
        },
        [=](caf::error& err) {
          done("no report from " + name + ": " + describe(err));
        });
  }
  for (size_t i = 0; i < st.cfg.pools.size(); ++i) {
    auto& cp = st.cfg.pools[i];
    auto name = cp.name;
    self->request(cp.watch, timeout, query_atom::value, statement{count_sql()})
      .then(
        [=](query_result& r) {
          read_counts(r, name, d->counts[i], d->max_connections[i]);
          done("");
        },
        [=](caf::error& err) {
          done("no count for " + name + ": " + describe(err));
        });
  }
}

} // namespace pool::detail
