#include "cluster_budget.hpp"

#include <algorithm>

namespace pool::cluster {

std::map<std::string, uint32_t> split(uint32_t budget,
                                      std::vector<std::string> live) {
  std::map<std::string, uint32_t> result;
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  if (live.empty())
    return result;
  auto n = static_cast<uint32_t>(live.size());
  for (uint32_t i = 0; i < n; ++i)
    result[live[i]] = budget / n + (i < budget % n ? 1 : 0);
  return result;
}

namespace {

std::vector<std::string> live_names(const std::vector<node_load>& nodes) {
  std::vector<std::string> result;
  for (auto& n : nodes)
    if (n.live)
      result.push_back(n.name);
  return result;
}

} // namespace

std::map<std::string, uint32_t>
next_limits(uint32_t budget, const std::vector<node_load>& nodes) {
  auto shares = split(budget, live_names(nodes));
  // Shrink first: every live node above its share drops to it now.
  std::vector<node_load> next = nodes;
  for (auto& n : next)
    if (n.live)
      n.limit = std::min(n.limit, shares[n.name]);
  uint64_t held = 0;
  for (auto& n : next)
    held += committed(n);
  uint64_t free = held < budget ? budget - held : 0;
  // Then grow into what is free, in name order (`shares` is sorted).
  for (auto& [name, share] : shares) {
    auto i = std::find_if(next.begin(), next.end(), [&](const node_load& n) {
      return n.live && n.name == name;
    });
    if (i->limit >= share)
      continue;
    auto before = committed(*i);
    // The most the limit can rise to with `free` more committed (up to its
    // open connections it commits nothing more).
    auto room =
      static_cast<uint32_t>(std::min<uint64_t>(share, uint64_t{before} + free));
    if (room > i->limit) {
      i->limit = room;
      free -= committed(*i) - before;
    }
  }
  std::map<std::string, uint32_t> result;
  for (auto& n : next)
    if (n.live)
      result[n.name] = n.limit;
  return result;
}

bool settled(uint32_t budget, const std::vector<node_load>& nodes) {
  auto shares = split(budget, live_names(nodes));
  for (auto& n : nodes)
    if (n.live && n.limit != shares[n.name])
      return false;
  return true;
}

} // namespace pool::cluster
