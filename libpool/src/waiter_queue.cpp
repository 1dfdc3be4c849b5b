#include "waiter_queue.hpp"

#include <utility>

namespace pool {

uint64_t waiter_queue::push(waiter w, bool retry, uint32_t conn) {
  auto id = retry ? next_retry_id_-- : next_id_++;
  w.id = id;
  auto deadline = w.since + w.timeout;
  // Usually the latest deadline so far: the hint makes the insert O(1).
  deadline_map::iterator d;
  if (spare_deadlines_.empty()) {
    d = deadlines_.emplace_hint(deadlines_.end(), deadline, id);
  } else {
    auto n = std::move(spare_deadlines_.back());
    spare_deadlines_.pop_back();
    n.key() = deadline;
    n.mapped() = id;
    d = deadlines_.insert(deadlines_.end(), std::move(n));
  }
  // A new request has the highest id so far, a retry the lowest.
  auto at = retry ? waiters_.begin() : waiters_.end();
  if (spare_entries_.empty()) {
    waiters_.emplace_hint(at, id, entry{std::move(w), d, conn});
  } else {
    auto n = std::move(spare_entries_.back());
    spare_entries_.pop_back();
    n.key() = id;
    n.mapped() = entry{std::move(w), d, conn};
    waiters_.insert(at, std::move(n));
  }
  if (conn != no_conn) {
    parked_by_conn_[conn] = id;
    ++parked_;
  }
  return id;
}

const waiter* waiter_queue::front() const {
  for (auto& kvp : waiters_)
    if (kvp.second.parked_on == no_conn)
      return &kvp.second.w;
  return nullptr;
}

waiter waiter_queue::pop_front() {
  auto i = waiters_.begin();
  while (i->second.parked_on != no_conn)
    ++i;
  return take(i);
}

uint64_t waiter_queue::park_front(uint32_t conn) {
  auto i = waiters_.begin();
  while (i->second.parked_on != no_conn)
    ++i;
  i->second.parked_on = conn;
  parked_by_conn_[conn] = i->first;
  ++parked_;
  return i->first;
}

std::optional<waiter> waiter_queue::take_parked(uint32_t conn) {
  auto p = parked_by_conn_.find(conn);
  if (p == parked_by_conn_.end())
    return std::nullopt;
  return take(waiters_.find(p->second));
}

void waiter_queue::unpark(uint32_t conn) {
  auto p = parked_by_conn_.find(conn);
  if (p == parked_by_conn_.end())
    return;
  waiters_.find(p->second)->second.parked_on = no_conn;
  parked_by_conn_.erase(p);
  --parked_;
}

std::vector<waiter> waiter_queue::take_expired(caf::timespan t) {
  std::vector<waiter> result;
  while (!deadlines_.empty() && deadlines_.begin()->first <= t)
    result.emplace_back(take(waiters_.find(deadlines_.begin()->second)));
  return result;
}

std::vector<waiter> waiter_queue::take_all() {
  std::vector<waiter> result;
  result.reserve(waiters_.size());
  while (!waiters_.empty())
    result.emplace_back(take(waiters_.begin()));
  return result;
}

caf::timespan waiter_queue::next_deadline() const {
  return deadlines_.empty() ? caf::timespan::max() : deadlines_.begin()->first;
}

std::optional<caf::timespan> waiter_queue::oldest_since() const {
  if (auto w = front())
    return w->since;
  return std::nullopt;
}

waiter waiter_queue::take(entry_map::iterator i) {
  auto& e = i->second;
  auto d = deadlines_.extract(e.deadline);
  if (spare_deadlines_.size() < max_spare)
    spare_deadlines_.push_back(std::move(d));
  if (e.parked_on != no_conn) {
    parked_by_conn_.erase(e.parked_on);
    --parked_;
  }
  auto w = std::move(e.w);
  auto n = waiters_.extract(i);
  if (spare_entries_.size() < max_spare) {
    n.mapped() = entry{}; // holds nothing of the waiter
    spare_entries_.push_back(std::move(n));
  }
  return w;
}

} // namespace pool
