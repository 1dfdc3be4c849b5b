// The cluster's connection budget as plain values (cluster_budget.hpp): the
// split among live nodes, shrink before grow, a dead node's connections
// counted until the server drops them, and the sum never above the budget
// whatever happens in between.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE cluster_budget
#include "caf/test/unit_test.hpp"

#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cluster_budget.hpp"

using pool::cluster::node_load;
using limits = std::map<std::string, uint32_t>;

namespace {

uint64_t total_committed(const std::vector<node_load>& nodes) {
  uint64_t sum = 0;
  for (auto& n : nodes)
    sum += pool::cluster::committed(n);
  return sum;
}

// Applies `next` to the live nodes' limits.
void apply_limits(std::vector<node_load>& nodes, const limits& next) {
  for (auto& n : nodes)
    if (n.live)
      n.limit = next.at(n.name);
}

} // namespace

CAF_TEST(the budget is split evenly and the rest goes to the first names) {
  CAF_CHECK_EQUAL(pool::cluster::split(10, {"c", "a", "b"}),
                  (limits{{"a", 4}, {"b", 3}, {"c", 3}}));
  CAF_CHECK_EQUAL(pool::cluster::split(9, {"b", "a", "c"}),
                  (limits{{"a", 3}, {"b", 3}, {"c", 3}}));
  CAF_CHECK_EQUAL(pool::cluster::split(2, {"a", "b", "c"}),
                  (limits{{"a", 1}, {"b", 1}, {"c", 0}}));
  CAF_CHECK_EQUAL(pool::cluster::split(7, {"a", "a"}), (limits{{"a", 7}}));
  CAF_CHECK(pool::cluster::split(7, {}).empty());
}

// Proves shrink before grow: when a node joins a node that holds the whole
// budget, the old one drops to its share at once, the new one gets only
// what is free: nothing while the old node's connections are still open,
// its share once the server shows them closed.
CAF_TEST(a joining node grows only as the others give back) {
  std::vector<node_load> nodes{{"a", true, 10, 10}, {"b", true, 0, 0}};
  auto next = pool::cluster::next_limits(10, nodes);
  CAF_CHECK_EQUAL(next, (limits{{"a", 5}, {"b", 0}}));
  apply_limits(nodes, next);
  CAF_CHECK_LESS_OR_EQUAL(total_committed(nodes), 10u);
  nodes[0].open = 7; // a closes three of its connections
  next = pool::cluster::next_limits(10, nodes);
  CAF_CHECK_EQUAL(next, (limits{{"a", 5}, {"b", 3}}));
  apply_limits(nodes, next);
  CAF_CHECK(!pool::cluster::settled(10, nodes));
  nodes[0].open = 5;
  next = pool::cluster::next_limits(10, nodes);
  CAF_CHECK_EQUAL(next, (limits{{"a", 5}, {"b", 5}}));
  apply_limits(nodes, next);
  CAF_CHECK(pool::cluster::settled(10, nodes));
}

// Proves: a dead node's share moves to the survivors only as the server
// drops its connections (a node cut off from the others but not from the
// database keeps them, and they keep counting).
CAF_TEST(the share of a dead node moves once its connections are gone) {
  std::vector<node_load> nodes{
    {"a", true, 4, 4}, {"b", true, 3, 3}, {"c", true, 3, 3}};
  CAF_CHECK(pool::cluster::settled(10, nodes));
  nodes[2].live = false; // c is lost; its connections are still open
  nodes[2].limit = 0;
  auto next = pool::cluster::next_limits(10, nodes);
  CAF_CHECK_EQUAL(next, (limits{{"a", 4}, {"b", 3}}));
  nodes[2].open = 1;
  next = pool::cluster::next_limits(10, nodes);
  CAF_CHECK_EQUAL(next, (limits{{"a", 5}, {"b", 4}}));
  apply_limits(nodes, next);
  nodes[2].open = 0;
  next = pool::cluster::next_limits(10, nodes);
  CAF_CHECK_EQUAL(next, (limits{{"a", 5}, {"b", 5}}));
}

// Proves: when more is held than the budget (a node above its limit, e.g.
// leases not yet back), nobody grows; shrinking goes on.
CAF_TEST(nothing grows while the budget is overcommitted) {
  std::vector<node_load> nodes{
    {"a", true, 5, 8}, {"b", true, 2, 2}, {"x", false, 0, 1}};
  auto next = pool::cluster::next_limits(10, nodes);
  CAF_CHECK_EQUAL(next, (limits{{"a", 5}, {"b", 2}}));
}

// Proves the invariant under random events: nodes join, die, open and
// close connections within their limits, the server drops a dead node's
// connections late; after every step the planner's limits keep the sum of
// what each node holds or may hold at most the budget.
CAF_TEST(the budget is never exceeded) {
  std::mt19937 rng{4711};
  const uint32_t budget = 17;
  std::vector<node_load> nodes;
  for (auto name : {"a", "b", "c", "d"})
    nodes.push_back(node_load{name, false, 0, 0});
  nodes[0].live = true;
  size_t steps_settled = 0;
  for (int step = 0; step < 20000; ++step) {
    auto& n = nodes[rng() % nodes.size()];
    switch (rng() % 6) {
    case 0: // joins (with nothing open) or dies (connections linger)
      if (n.live) {
        n.live = false;
        n.limit = 0;
      } else if (n.open == 0) {
        n.live = true;
      }
      break;
    case 1: // the server drops a dead node's connections
      if (!n.live && n.open > 0)
        --n.open;
      break;
    default: // a live node opens or closes one, within its limit
      if (n.live && n.open < n.limit && rng() % 2 == 0)
        ++n.open;
      else if (n.open > 0 && n.live)
        --n.open;
      break;
    }
    apply_limits(nodes, pool::cluster::next_limits(budget, nodes));
    if (total_committed(nodes) > budget) {
      CAF_FAIL("step " << step << ": " << total_committed(nodes)
                       << " committed, budget " << budget);
    }
    if (pool::cluster::settled(budget, nodes))
      ++steps_settled;
  }
  CAF_CHECK_GREATER(steps_settled, 1000u); // it does converge
}
