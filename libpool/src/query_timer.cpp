#include "query_timer.hpp"

namespace pool {

void query_timer::start(uint32_t id, caf::timespan t) {
  auto& r = rings_[id];
  if (r.size == r.xs.size()) {
    // Full (or new): grow, oldest first. Happens once per connection and
    // pipeline depth.
    std::vector<caf::timespan> grown;
    grown.reserve(r.xs.empty() ? 4 : r.xs.size() * 2);
    for (size_t i = 0; i < r.size; ++i)
      grown.push_back(r.xs[(r.head + i) % r.xs.size()]);
    grown.resize(grown.capacity());
    r.xs = std::move(grown);
    r.head = 0;
  }
  r.xs[(r.head + r.size) % r.xs.size()] = t;
  ++r.size;
}

void query_timer::finish(uint32_t id, uint32_t n, caf::timespan t,
                         duration_histogram& out) {
  auto i = rings_.find(id);
  if (i == rings_.end())
    return;
  auto& r = i->second;
  for (; n > 0 && r.size > 0; --n, --r.size) {
    out.observe(t - r.xs[r.head]);
    r.head = (r.head + 1) % r.xs.size();
  }
}

void query_timer::forget(uint32_t id) {
  rings_.erase(id);
}

size_t query_timer::in_flight(uint32_t id) const {
  auto i = rings_.find(id);
  return i == rings_.end() ? 0 : i->second.size;
}

} // namespace pool
