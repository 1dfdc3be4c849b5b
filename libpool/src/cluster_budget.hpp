#pragma once

// One connection budget shared by the pool nodes of a cluster (issue 13):
// the split of the budget among the live nodes, and the step that moves
// each node's connection limit towards its share without the sum ever
// exceeding the budget. Plain values, no actors: the cluster actor calls it
// with what it knows (the live nodes, their limits, and the connections the
// server reports per node) and sends each node its new limit.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pool::cluster {

/// What the planner knows of one node that holds or may hold connections.
struct node_load {
  /// The node's name, unique in the cluster.
  std::string name;
  /// Whether the node is a live member (it gets a share).
  bool live = false;
  /// The limit the node runs with now (its pool's max_size); 0 for a node
  /// that is not live.
  uint32_t limit = 0;
  /// The connections the server reports for the node (pg_stat_activity):
  /// a dead or unreachable node's connections count until they are gone.
  uint32_t open = 0;
};

/// Splits `budget` among `live` (names, in any order): each gets
/// budget / n, and the first budget % n in name order get one more. Names
/// are unique; an empty list gets an empty map.
std::map<std::string, uint32_t> split(uint32_t budget,
                                      std::vector<std::string> live);

/// What a node may hold in the worst case: its limit or what it has open,
/// whichever is more.
inline uint32_t committed(const node_load& n) {
  return n.limit > n.open ? n.limit : n.open;
}

/// The next limits of the live nodes: each live node above its share
/// shrinks to it at once; a live node below its share grows only into what
/// no node holds or may hold (the budget minus every node's `committed`,
/// the shrunk limits counted), in name order. So the sum of `committed`
/// over all nodes stays at most `budget` if it was, and never grows if it
/// was not. Returns name → new limit for every live node.
std::map<std::string, uint32_t>
next_limits(uint32_t budget, const std::vector<node_load>& nodes);

/// Whether every live node runs with its share (nothing left to do).
bool settled(uint32_t budget, const std::vector<node_load>& nodes);

} // namespace pool::cluster
