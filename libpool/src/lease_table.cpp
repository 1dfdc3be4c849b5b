#include "lease_table.hpp"

#include <algorithm>

namespace pool {

std::optional<lease_table::opened>
lease_table::open(uint32_t conn, const caf::actor_addr& holder,
                  caf::timespan now) {
  if (by_conn_.count(conn) > 0)
    return std::nullopt;
  auto id = next_id_++;
  auto& e = leases_[id];
  e.conn = conn;
  e.holder = holder;
  e.since = now;
  by_conn_.emplace(conn, id);
  return opened{id, holders_[holder]++ == 0};
}

std::optional<lease_table::closed> lease_table::erase(uint64_t id) {
  auto i = leases_.find(id);
  if (i == leases_.end())
    return std::nullopt;
  closed result{i->second.conn, std::move(i->second.holder), false};
  if (i->second.pinned)
    --pinned_;
  by_conn_.erase(result.conn);
  leases_.erase(i);
  auto h = holders_.find(result.holder);
  if (h != holders_.end() && --h->second == 0) {
    holders_.erase(h);
    result.last_of_holder = true;
  }
  return result;
}

std::optional<lease_table::closed> lease_table::close(uint64_t id) {
  return erase(id);
}

std::optional<lease_table::closed> lease_table::close_conn(uint32_t conn) {
  auto i = by_conn_.find(conn);
  if (i == by_conn_.end())
    return std::nullopt;
  return erase(i->second);
}

const lease_table::entry* lease_table::find(uint64_t id) const {
  auto i = leases_.find(id);
  return i == leases_.end() ? nullptr : &i->second;
}

std::optional<uint64_t> lease_table::lease_on(uint32_t conn) const {
  auto i = by_conn_.find(conn);
  if (i == by_conn_.end())
    return std::nullopt;
  return i->second;
}

std::vector<uint64_t> lease_table::sorted_ids() const {
  std::vector<uint64_t> result;
  result.reserve(leases_.size());
  for (auto& kvp : leases_)
    result.push_back(kvp.first);
  std::sort(result.begin(), result.end()); // ids grow: oldest first
  return result;
}

std::vector<uint64_t>
lease_table::held_by(const caf::actor_addr& holder) const {
  std::vector<uint64_t> result;
  if (!holds(holder))
    return result;
  for (auto id : sorted_ids())
    if (leases_.at(id).holder == holder)
      result.push_back(id);
  return result;
}

std::vector<uint64_t> lease_table::take_leaks(caf::timespan now,
                                              caf::timespan threshold) {
  std::vector<uint64_t> result;
  for (auto id : sorted_ids()) {
    auto& e = leases_.at(id);
    if (!e.pinned && !e.leak_reported && now - e.since >= threshold) {
      e.leak_reported = true;
      result.push_back(id);
    }
  }
  return result;
}

std::vector<uint64_t> lease_table::overdue(caf::timespan now,
                                           caf::timespan timeout) const {
  std::vector<uint64_t> result;
  for (auto id : sorted_ids()) {
    auto& e = leases_.at(id);
    if (!e.pinned && now - e.since >= timeout)
      result.push_back(id);
  }
  return result;
}

bool lease_table::pin(uint64_t id) {
  auto i = leases_.find(id);
  if (i == leases_.end())
    return false;
  if (!i->second.pinned) {
    i->second.pinned = true;
    ++pinned_;
  }
  return true;
}

} // namespace pool
