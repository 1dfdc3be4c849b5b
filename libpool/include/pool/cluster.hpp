#pragma once

// Several pool nodes in front of one database: a cluster member per node
// (poold runs one) that finds the other nodes through CAF's middleman,
// monitors them, and shares each clustered pool's connection budget among
// the live nodes that serve a pool of that name. The live node with the
// smallest name leads: it counts every node's connections on the server
// (pg_stat_activity, by application_name) and sets each node's limit
// (`limit_atom`), shrinking first and growing only into connections that no
// node holds or may hold, so that the sum stays within the budget while
// nodes join, die and come back.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/timespan.hpp"
#include "caf/type_id.hpp"

#include "pool/protocol.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace pool {

/// One node's part of one clustered pool's budget.
struct cluster_share {
  /// The pool's name (the same on every node that serves it).
  std::string pool;
  /// The node's name.
  std::string node;
  /// The connections the node may hold for the pool, its watch connection
  /// included (its pool's limit is one less).
  uint32_t limit = 0;
  /// The connections the node holds: as the server reported them at the
  /// leader's last count (in a plan), or as the node counts them itself (in
  /// a report).
  uint32_t open = 0;
  /// The pool's budget across the cluster (0 while unknown).
  uint32_t budget = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_share& x) {
  return f(caf::meta::type_name("pool::cluster_share"), x.pool, x.node, x.limit,
           x.open, x.budget);
}

/// A node of the cluster as one member sees it.
struct cluster_node {
  /// The node's name ("" for a configured peer not reached yet).
  std::string name;
  /// The address it was dialled at ("host:port"; "" for the member itself).
  std::string address;
  /// Whether it is a live member now.
  bool live = false;
  /// Why not, e.g. "lost: remote_link_unreachable", "unreachable: ...".
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_node& x) {
  return f(caf::meta::type_name("pool::cluster_node"), x.name, x.address,
           x.live, x.reason);
}

/// The cluster as one member sees it: `(cluster_atom)` to a member (or to a
/// node's directory, which forwards it) replies this.
struct cluster_view {
  /// The member that answered.
  std::string node;
  /// The leader it follows ("" while it knows none).
  std::string leader;
  /// Every node it knows: itself, its configured peers, and the nodes that
  /// joined it.
  std::vector<cluster_node> nodes;
  /// The leader's last plan: every node's limit and its count on the server,
  /// per clustered pool.
  std::vector<cluster_share> shares;
  /// Plans the leader sent since this member started (its own count).
  uint64_t plans = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("pool::cluster_view"), x.node, x.leader,
           x.nodes, x.shares, x.plans);
}

} // namespace pool

CAF_BEGIN_TYPE_ID_BLOCK(libpool_cluster, caf::first_custom_type_id + 150)
CAF_ADD_TYPE_ID(libpool_cluster, (pool::cluster_share))
CAF_ADD_TYPE_ID(libpool_cluster, (std::vector<pool::cluster_share>))
CAF_ADD_TYPE_ID(libpool_cluster, (pool::cluster_node))
CAF_ADD_TYPE_ID(libpool_cluster, (std::vector<pool::cluster_node>))
CAF_ADD_TYPE_ID(libpool_cluster, (pool::cluster_view))
CAF_ADD_ATOM(libpool_cluster, pool, cluster_atom, "cluster")
CAF_END_TYPE_ID_BLOCK(libpool_cluster)

namespace pool {

/// One pool of a cluster node whose connections count against a budget
/// that all nodes serving a pool of this name share.
struct cluster_pool {
  /// The pool's name: the same on every node that serves it.
  std::string name;
  /// This node's pool. The member sets its limit (`limit_atom`); start it
  /// with a limit of 0 (before clients can reach it) so that it opens
  /// nothing until the leader's first plan.
  pool_actor pool;
  /// A pool of one connection to the same server (min_size = max_size = 1):
  /// the leader reads the server's counts through it. Its connections and
  /// the pool's carry `cluster_application_name(node, name)` as their
  /// application_name: that is how the leader counts them.
  pool_actor watch;
  /// The budget across the cluster; 0: `max_connections` of the server
  /// minus `reserve`.
  uint32_t budget = 0;
  /// Connections kept out of an automatic budget (superusers, other
  /// clients).
  uint32_t reserve = 0;
};

/// A node's cluster settings.
struct cluster_config {
  /// This node's name, unique in the cluster (at most 30 characters of
  /// letters, digits, '-', '_' and '.'). The live node with the smallest
  /// name leads.
  std::string node;
  /// The other nodes, as "host:port" of their directories
  /// (`publish_pools`). A node that dials this one joins too, so a new node
  /// may name only one member (a seed).
  std::vector<std::string> peers;
  /// How often the member dials the peers it lost, and how often the leader
  /// counts and plans.
  caf::timespan interval = std::chrono::milliseconds(250);
  /// The clustered pools of this node.
  std::vector<cluster_pool> pools;
  /// Where the member logs (joins, losses, leaders, limits); null: spdlog's
  /// default logger.
  std::shared_ptr<spdlog::logger> logger;
};

/// The application_name that marks the connections of node `node`'s pool
/// `pool` on the server: "libpool-cluster/<node>/<pool>" (the server keeps
/// the first 63 bytes).
std::string cluster_application_name(const std::string& node,
                                     const std::string& pool);

/// Checks `cfg`: a valid node name, peers as "host:port", pools with names,
/// both actors, and distinct names. Errors: `invalid_config` naming the
/// field and the value.
caf::error validate(const cluster_config& cfg);

/// Spawns this node's cluster member for a validated `cfg`. Give it to
/// `publish_pools` (its `cluster` argument) so that the other nodes find it
/// through the node's directory. It answers `(cluster_atom)` with a
/// `cluster_view`. Stop it with an exit message before the pools.
caf::actor spawn_cluster_member(caf::actor_system& sys, cluster_config cfg);

/// Asks the pool node at `host:port` for its view of the cluster, within
/// `timeout`. Blocking, like `list_pools` (call it from main or a thread).
/// Errors: `pool_down` (no node there, or no answer in time; the message
/// says which), `invalid_request` (the node is not in a cluster).
caf::expected<cluster_view>
cluster_view_of(caf::actor_system& sys, const std::string& host, uint16_t port,
                caf::timespan timeout = std::chrono::seconds(5));

} // namespace pool
