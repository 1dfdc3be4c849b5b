#include "waiter_queue.hpp"

#include <algorithm>
#include <utility>

namespace pool {

uint64_t waiter_queue::push(waiter w, bool retry, uint32_t conn) {
  size_t region = retry ? 0 : 1 + static_cast<size_t>(w.prio);
  auto id = (uint64_t{region} << region_shift) |
            (retry ? next_retry_id_-- : next_id_++);
  w.id = id;
  ++by_class_[static_cast<size_t>(w.prio)];
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
  // A new request has the highest id of its region so far, a retry the
  // lowest of all; with one class waiting, the hint is the end: O(1).
  auto at = waiters_.end();
  if (retry)
    at = waiters_.begin();
  else if (!waiters_.empty() && region_of(waiters_.rbegin()->first) > region)
    at = waiters_.lower_bound(uint64_t{region + 1} << region_shift);
  entry_map::iterator i;
  if (spare_entries_.empty()) {
    i = waiters_.emplace_hint(at, id, entry{std::move(w), d, no_conn});
  } else {
    auto n = std::move(spare_entries_.back());
    spare_entries_.pop_back();
    n.key() = id;
    n.mapped() = entry{std::move(w), d, no_conn};
    i = waiters_.insert(at, std::move(n));
  }
  ++ready_[region];
  if (conn != no_conn)
    set_parked(i->second, conn);
  return id;
}

void waiter_queue::set_parked(entry& e, uint32_t conn) {
  e.parked_on = conn;
  parked_by_conn_[conn] = e.w.id;
  ++parked_;
  --ready_[region_of(e.w.id)];
}

waiter_queue::entry_map::const_iterator
waiter_queue::first_ready(size_t r) const {
  auto i = waiters_.lower_bound(uint64_t{r} << region_shift);
  while (i != waiters_.end() && region_of(i->first) == r &&
         i->second.parked_on != no_conn)
    ++i;
  return i != waiters_.end() && region_of(i->first) == r ? i : waiters_.end();
}

bool waiter_queue::before(const entry& a, const entry& b,
                          caf::timespan t) const {
  auto effective = [&](const entry& e) -> uint64_t {
    uint64_t c = region_of(e.w.id) - 1;
    auto waited = std::max(t - e.w.since, caf::timespan{0});
    auto steps = static_cast<uint64_t>(waited.count() / aging_.count());
    return steps >= c ? 0 : c - steps;
  };
  auto x = effective(a);
  auto y = effective(b);
  if (x != y)
    return x < y;
  return (a.w.id & seq_mask) < (b.w.id & seq_mask); // arrived first
}

waiter_queue::entry_map::const_iterator
waiter_queue::pick(caf::timespan t) const {
  // The first ready waiter: a retry, else one of the best class waiting.
  auto i = waiters_.begin();
  while (i != waiters_.end() && i->second.parked_on != no_conn)
    ++i;
  if (i == waiters_.end())
    return i;
  auto r = region_of(i->first);
  if (r == 0 || aging_.count() <= 0)
    return i;
  // Lower classes waiting too: the best effective class goes first.
  auto best = i;
  for (auto other = r + 1; other < regions; ++other)
    if (ready_[other] > 0)
      if (auto j = first_ready(other); before(j->second, best->second, t))
        best = j;
  return best;
}

waiter_queue::entry_map::iterator waiter_queue::mutable_pick(caf::timespan t) {
  auto i = pick(t);
  return waiters_.erase(i, i); // the same position, mutable
}

const waiter* waiter_queue::front(caf::timespan t) const {
  auto i = pick(t);
  return i == waiters_.end() ? nullptr : &i->second.w;
}

waiter waiter_queue::pop_front(caf::timespan t) {
  return take(mutable_pick(t));
}

uint64_t waiter_queue::park_front(uint32_t conn, caf::timespan t) {
  auto i = mutable_pick(t);
  set_parked(i->second, conn);
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
  ++ready_[region_of(p->second)];
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
  // With one region waiting (the usual case), its first ready waiter.
  auto i = waiters_.begin();
  while (i != waiters_.end() && i->second.parked_on != no_conn)
    ++i;
  if (i == waiters_.end())
    return std::nullopt;
  auto result = i->second.w.since;
  for (auto r = region_of(i->first) + 1; r < regions; ++r)
    if (ready_[r] > 0)
      result = std::min(result, first_ready(r)->second.w.since);
  return result;
}

waiter waiter_queue::take(entry_map::iterator i) {
  auto& e = i->second;
  auto d = deadlines_.extract(e.deadline);
  if (spare_deadlines_.size() < max_spare)
    spare_deadlines_.push_back(std::move(d));
  if (e.parked_on != no_conn) {
    parked_by_conn_.erase(e.parked_on);
    --parked_;
  } else {
    --ready_[region_of(i->first)];
  }
  --by_class_[static_cast<size_t>(e.w.prio)];
  auto w = std::move(e.w);
  auto n = waiters_.extract(i);
  if (spare_entries_.size() < max_spare) {
    n.mapped() = entry{}; // holds nothing of the waiter
    spare_entries_.push_back(std::move(n));
  }
  return w;
}

} // namespace pool
