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
  auto open = st.conns.size() - st.conns.closing();
  // The oldest idle connections sit at the bottom of the LIFO stack.
  for (auto id : st.conns.idle()) {
    auto& e = *st.conns.find(id);
    if (cfg.idle_timeout.count() > 0 && t - e.idle_since >= cfg.idle_timeout &&
        open - to_close.size() > st.ctx->min_open())
      to_close.push_back(id);
    else if (cfg.health_check_interval.count() > 0 &&
             t - std::max(e.idle_since, e.last_checked) >=
               cfg.health_check_interval)
      to_check.push_back(id);
  }
  for (auto id : to_close) {
    ++st.counters.connections_recycled;
    close_slot(self, id, close_reason::idle_timeout);
  }
  for (auto id : to_check)
    validate(self, id, false); // it leaves the idle stack while pinged
  if (!to_close.empty())
    update_want(self);
}

void check_leases(manager_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  auto t = now(self);
  auto held_ms = [&](const lease_table::entry& e) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - e.since)
      .count();
  };
  if (cfg.leak_threshold.count() > 0)
    for (auto lease_id : st.leases.take_leaks(t, cfg.leak_threshold)) {
      auto& e = *st.leases.find(lease_id);
      ++st.counters.leaks;
      log(self).warn("lease {} held for {} ms by {}: possible leak", lease_id,
                     held_ms(e), caf::to_string(e.holder));
    }
  if (cfg.lease_timeout.count() <= 0)
    return;
  for (auto lease_id : st.leases.overdue(t, cfg.lease_timeout)) {
    log(self).warn("lease {} reclaimed after lease_timeout from {}", lease_id,
                   caf::to_string(st.leases.find(lease_id)->holder));
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
