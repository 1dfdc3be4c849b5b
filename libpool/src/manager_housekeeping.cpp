// The manager's periodic housekeeping: health checks of idle connections,
// idle timeouts above min_size, leak detection and forced lease timeouts.

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

#include "caf/deep_to_string.hpp"

#include "manager_ops.hpp"
#include "pool/error.hpp"

namespace pool {

caf::timespan housekeeping_interval(const pool_config& cfg) {
  using namespace std::chrono;
  caf::timespan result = seconds(1);
  for (auto x : {cfg.health_check_interval, cfg.idle_timeout,
                 cfg.leak_threshold, cfg.lease_timeout})
    if (x.count() > 0)
      result = std::min(result, x / 4);
  return std::max<caf::timespan>(result, milliseconds(10));
}

namespace {

void check_idle_connections(manager_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  auto t = now(self);
  std::vector<uint32_t> to_close, to_check;
  auto open = st.slots.size() - st.closing;
  // The oldest idle connections sit at the bottom of the LIFO stack.
  for (auto id : st.idle) {
    auto& slot = st.slots[id];
    if (cfg.idle_timeout.count() > 0 &&
        t - slot.idle_since >= cfg.idle_timeout &&
        open - to_close.size() > cfg.min_size)
      to_close.push_back(id);
    else if (cfg.health_check_interval.count() > 0 &&
             t - std::max(slot.idle_since, slot.last_checked) >=
               cfg.health_check_interval)
      to_check.push_back(id);
  }
  for (auto id : to_close) {
    ++st.counters.connections_recycled;
    close_slot(self, id);
  }
  for (auto id : to_check) {
    st.idle.erase(std::find(st.idle.begin(), st.idle.end(), id));
    validate(self, id);
  }
  if (!to_close.empty())
    update_want(self);
}

void check_leases(manager_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  auto t = now(self);
  std::vector<uint64_t> expired;
  for (auto& kvp : st.leases) {
    auto& slot = st.slots[kvp.second];
    auto held = t - slot.leased_at;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(held);
    if (cfg.leak_threshold.count() > 0 && held >= cfg.leak_threshold &&
        !slot.leak_reported) {
      slot.leak_reported = true;
      ++st.counters.leaks;
      log(self).warn("lease {} held for {} ms by {}: possible leak", kvp.first,
                     ms.count(), caf::to_string(slot.holder));
    }
    if (cfg.lease_timeout.count() > 0 && held >= cfg.lease_timeout)
      expired.push_back(kvp.first);
  }
  for (auto lease_id : expired) {
    auto holder = st.slots[st.leases[lease_id]].holder;
    log(self).warn("lease {} reclaimed after lease_timeout from {}", lease_id,
                   caf::to_string(holder));
    ++st.counters.leases_timed_out;
    end_lease(self, lease_id);
  }
}

} // namespace

void housekeeping(manager_ptr self) {
  if (self->state.counters.shutting_down)
    return;
  roll_window(self);
  check_idle_connections(self);
  check_leases(self);
}

} // namespace pool
