// Operating a running pool: resize, reconfigure, pause/resume and reset.
// All run in the manager actor.

#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "caf/typed_event_based_actor.hpp"

#include "manager_ops.hpp"
#include "pool/config.hpp"
#include "pool/error.hpp"

namespace pool {

namespace {

std::string format_ms(caf::timespan d) {
  return std::to_string(
           std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) +
         "ms";
}

// Closes idle connections, least recently used first, while more are open
// than max_size allows.
void shrink_idle(manager_ptr self) {
  auto& st = self->state;
  auto idle = st.conns.idle(); // a copy: close_slot changes the stack
  for (auto id : idle) {
    if (!over_max(self))
      break;
    close_slot(self, id, close_reason::shrink);
  }
}

// Makes `ctx` the pool's context: shares it with the supervisor and the
// workers (before `want`: the supervisor opens up to the new max_open) and
// closes idle connections above a lower max_open.
void use_context(manager_ptr self, std::shared_ptr<const pool_context> ctx) {
  auto& st = self->state;
  st.shrinking = st.shrinking || ctx->max_open() < st.ctx->max_open();
  st.ctx = ctx;
  st.waiters.aging(ctx->cfg.priority_aging);
  self->send(st.supervisor, settings_atom::value, context_ptr{ctx});
  shrink_idle(self);
}

} // namespace

bool over_max(manager_ptr self) {
  auto& st = self->state;
  if (!st.shrinking)
    return false;
  auto open = st.conns.size() - st.conns.closing() + st.connecting();
  st.shrinking = open > st.ctx->max_open();
  return st.shrinking;
}

caf::error reconfigure(manager_ptr self, const pool_settings& x,
                       const std::string& what) {
  auto& st = self->state;
  if (st.counters.shutting_down)
    return shutting_down_error();
  auto cfg = st.ctx->cfg;
  bool needs_reset = false;
  auto changed = apply(x, cfg, needs_reset);
  if (auto err = validate(cfg))
    return make_error(pool_errc::invalid_request,
                      what + ": " + error_message(err));
  if (changed.empty())
    return {};
  auto ctx = std::make_shared<pool_context>(*st.ctx);
  ctx->cfg = std::move(cfg);
  // Names only: the conninfo may hold a password.
  log(self).info("{}: changed {}", what, changed);
  use_context(self, std::move(ctx));
  if (needs_reset)
    reset(self);
  update_want(self);
  dispatch(self);
  return {};
}

void set_limit(manager_ptr self, uint64_t limit) {
  auto& st = self->state;
  if (limit == st.ctx->limit)
    return;
  auto ctx = std::make_shared<pool_context>(*st.ctx);
  ctx->limit = limit;
  log(self).info("limit: at most {} connections (max_size {})", ctx->max_open(),
                 ctx->cfg.max_size);
  use_context(self, std::move(ctx));
  update_want(self);
  dispatch(self);
}

caf::result<caf::ok_atom> pause(manager_ptr self, caf::timespan deadline) {
  auto& st = self->state;
  if (st.counters.shutting_down)
    return shutting_down_error();
  if (deadline.count() <= 0)
    return make_error(pool_errc::invalid_request,
                      "pause: deadline must be positive, is " +
                        format_ms(deadline));
  if (!st.counters.paused) {
    st.counters.paused = true;
    log(self).info("pausing: {} leases held, {} requests waiting",
                   st.leases.size(), st.waiters.size());
  }
  auto n = st.next_pause++;
  st.pauses.emplace(n, self->make_response_promise());
  auto rp = st.pauses[n];
  self->delayed_send(self, deadline, drain_atom::value, n);
  check_drained(self);
  return rp;
}

void pause_deadline(manager_ptr self, uint64_t n) {
  auto& st = self->state;
  auto i = st.pauses.find(n);
  if (i == st.pauses.end())
    return; // answered already
  auto g = snapshot(self);
  auto rp = i->second;
  st.pauses.erase(i);
  rp.deliver(make_error(
    pool_errc::pause_timeout,
    "pause: not drained by its deadline: " + std::to_string(g.leased) +
      " connections leased (" + std::to_string(st.leases.size()) +
      " leases held), " + std::to_string(g.busy) + " busy, " +
      std::to_string(g.cleaning) +
      " cleaning or closing; the pool stays paused until resume"));
}

void cancel_pauses(manager_ptr self, const caf::error& err) {
  auto& st = self->state;
  auto pauses = std::move(st.pauses);
  st.pauses.clear();
  for (auto& kvp : pauses)
    kvp.second.deliver(err);
}

void resume(manager_ptr self) {
  auto& st = self->state;
  if (!st.counters.paused)
    return;
  st.counters.paused = false;
  st.resumed_at = now(self);
  cancel_pauses(self, make_error(pool_errc::pause_cancelled,
                                 "pause: cancelled by a resume before the "
                                 "pool drained"));
  log(self).info("resumed: {} requests waiting", st.waiters.size());
  update_want(self); // with pause_closes_idle, it wanted none
  dispatch(self);
}

void check_drained(manager_ptr self) {
  auto& st = self->state;
  // The listener's pinned lease is the pool's own: a pause does not wait
  // for it.
  auto pinned = st.leases.size() - st.leases.unpinned();
  if (!st.counters.paused || st.conns.demand() > pinned ||
      st.leases.unpinned() > 0)
    return;
  if (st.ctx->cfg.pause_closes_idle && st.conns.idle_count() > 0) {
    auto idle = st.conns.idle();
    for (auto id : idle)
      close_slot(self, id);
    update_want(self);
  }
  if (st.pauses.empty())
    return;
  log(self).info("paused: drained");
  auto pauses = std::move(st.pauses);
  st.pauses.clear();
  for (auto& kvp : pauses)
    kvp.second.deliver(caf::ok_atom::value);
}

bool reset_one(manager_ptr self, uint32_t id) {
  auto& st = self->state;
  auto e = st.conns.find(id);
  if (e == nullptr || e->state == conn_state::closing)
    return false;
  if (e->state == conn_state::idle) {
    ++st.counters.connections_reset;
    close_slot(self, id, close_reason::reset);
    return true;
  }
  // No pipelined query joins it any more; closed when it comes back.
  st.conns.retire(id);
  st.resetting.insert(id);
  return false;
}

void reset(manager_ptr self) {
  auto& st = self->state;
  size_t now_closed = 0;
  size_t later = 0;
  for (auto id : st.conns.ids()) {
    if (st.conns.find(id)->state == conn_state::closing)
      continue; // closing already: not counted
    ++(reset_one(self, id) ? now_closed : later);
  }
  // Connects under way use the settings from before: replaced when ready.
  self->request(st.supervisor, caf::infinite, reset_atom::value)
    .then(
      [=](std::vector<uint32_t>& ids) {
        auto& st = self->state;
        for (auto id : ids)
          if (st.conns.find(id) == nullptr)
            st.reset_on_ready.insert(id);
          else if (reset_one(self, id)) // ready before this answer came
            update_want(self);
      },
      [](caf::error&) {
        // The supervisor is gone: the pool shuts down, nothing to replace.
      });
  if (st.listener && st.listener_lease != 0)
    self->send(st.listener, listener_atom::value); // it never comes back
  log(self).info("reset: {} idle connections replaced, {} when they come back",
                 now_closed, later);
  update_want(self);
}

} // namespace pool
