#include "manager_ops.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "pool/error.hpp"
#include "pool/hooks.hpp"

#include "reply.hpp"
#include "trace.hpp"

namespace pool {

namespace {

lease make_lease(manager_ptr self, uint32_t id, const caf::actor_addr& holder) {
  auto& st = self->state;
  auto opened = st.leases.open(id, holder, now(self));
  if (!opened || !st.conns.lease(id))
    log(self).error("connection {} cannot be leased (a bug)", id);
  if (opened && opened->new_holder)
    self->monitor(holder);
  auto& worker = st.conns.find(id)->worker;
  auto lease_id = opened ? opened->id : 0;
  // Sent before the reply: the worker knows the lease before the holder can
  // use it.
  self->send(worker, lease_atom::value, lease_id);
  return lease{lease_id, worker};
}

// Logs a transition the connection table refused: a bug in the manager.
void must(manager_ptr self, bool ok, const char* what, uint32_t id) {
  if (!ok)
    log(self).error("connection {}: {} refused by the table (a bug)", id, what);
}

// Arms the deadline timer if the earliest deadline is earlier than the one
// it is armed for (a timer armed for later fires anyway: harmless).
void arm_timer(manager_ptr self) {
  auto& st = self->state;
  auto next = st.waiters.next_deadline();
  if (next >= st.timer_at)
    return;
  st.timer_at = next;
  self->delayed_send(self, std::max(st.timer_at - now(self), caf::timespan{0}),
                     expire_atom::value);
}

// Tracks, for load shedding, how long a request served at `t` waited. A
// request served by a connection opened after it came (`opened`) waited for
// the pool to grow (a connect's latency), not behind other work: its wait is
// no sign of overload.
void note_wait(manager_ptr self, caf::timespan t, caf::timespan since,
               caf::timespan opened) {
  roll_window(self, t); // logs a change of the decision
  if (opened <= since)
    self->state.shedder.served(t, t - unpaused_since(self->state, since));
}

// Whether the server has other work besides the connection being handed out:
// at least one more connection is busy. A worker may then hold a query's
// send for the queries right behind it (see `submit_piped`).
bool others_busy(const connection_table& conns) {
  return conns.size() - conns.idle_count() - conns.closing() >= 2;
}

// The end of an acquire, traced if the pool traces: on connection `id`
// (`no_connection` if it got none), after `wait`, failed with `err` if set.
void trace_acquire_end(manager_ptr self, uint32_t id, caf::timespan wait,
                       const caf::error* err = nullptr) {
  auto& ctx = *self->state.ctx;
  if (ctx.trace)
    emit_trace(ctx, trace_kind::acquire, true, id, nullptr, wait, err);
}

// Gives the connection `id` to the waiter `w` (the connection is known to be
// good): idle, free, or (a query that may pipeline) piping with credit left.
void assign(manager_ptr self, uint32_t id, waiter& w) {
  auto& st = self->state;
  auto& e = *st.conns.find(id);
  auto t = now(self);
  auto wait = t - w.since;
  trace_acquire_end(self, id, wait);
  ++st.counters.acquired;
  st.counters.wait_time_total += wait;
  st.counters.acquire_wait.observe(wait);
  if (w.kind != waiter::acquire)
    st.query_times.start(id, t);
  auto& by_class = st.counters.by_priority[static_cast<size_t>(w.prio)];
  ++by_class.acquired;
  by_class.wait_time_total += wait;
  note_wait(self, t, w.since, e.opened_at);
  switch (w.kind) {
  case waiter::query:
    // The request's pipelinability travels with it; it runs in the
    // worker's pipeline when the worker has one (capacity above 1).
    if (e.state == conn_state::piping)
      ++st.counters.pipelined;
    must(self, st.conns.run(id, w.piped && e.capacity > 1), "run", id);
    reply::delegate(self, w.rp, e.worker, run_atom::value, std::move(w.stmt),
                    w.piped, others_busy(st.conns));
    break;
  case waiter::txn:
    must(self, st.conns.run(id, false), "transaction", id);
    reply::delegate(self, w.rp, e.worker, transaction_atom::value,
                    std::move(w.stmts));
    break;
  case waiter::acquire:
    reply::deliver(self, w.rp, make_lease(self, id, w.holder));
    break;
  }
}

constexpr uint32_t no_slot = connection_table::none;

// The busy connection whose pipeline the waiter joins, or `no_slot` (it
// takes an idle connection or waits): only a query that may pipeline joins
// one, before idle connections with fill_pipelines, else once none is idle.
uint32_t pipeline_for(manager_ptr self, const waiter& w) {
  auto& st = self->state;
  if (!w.piped || (!st.ctx->cfg.fill_pipelines && st.conns.idle_count() > 0))
    return no_slot;
  return st.conns.pick_with_credit();
}

// Answers the waiter with `err`, counting it where it belongs.
void reject(manager_ptr self, waiter& w, const caf::error& err) {
  trace_acquire_end(self, trace_event::no_connection, now(self) - w.since,
                    &err);
  if (is(err, pool_errc::acquire_timeout)) {
    auto& c = self->state.counters;
    ++c.acquire_timeouts;
    ++c.by_priority[static_cast<size_t>(w.prio)].acquire_timeouts;
  }
  w.rp.deliver(err);
}

// Runs the callback hook `f` (before_acquire, after_release) for the
// connection `id`: true if it says yes. A no, or an exception, is logged.
bool hook_says_yes(manager_ptr self,
                   const std::function<bool(const connection_info&)>& f,
                   uint32_t id, const char* name) {
  auto& e = *self->state.conns.find(id);
  connection_info info;
  info.id = id;
  info.endpoint = e.endpoint;
  info.age = now(self) - e.opened_at;
  info.uses = e.uses;
  try {
    if (f(info))
      return true;
    log(self).info("connection {}: the {} hook said no", id, name);
  } catch (std::exception& x) {
    log(self).warn("connection {}: the {} hook threw: {}", id, name, x.what());
  } catch (...) {
    log(self).warn("connection {}: the {} hook threw", id, name);
  }
  return false;
}

// Closes the free connection `id` the before_acquire hook rejected (close
// reason `hook`); it is replaced. A hook that rejects every new connection
// would have the pool open and close connections as fast as the server
// lets it: `breaker_threshold` new connections rejected in a row open the
// breaker, which gates the replacements (cool-down, then one probe).
// "the before_acquire hook rejected N new connections in a row": why the
// breaker opened (reject_by_hook) and what waiters are told meanwhile
// (circuit_open_error).
std::string hook_rejections(const manager_state& st) {
  return "the before_acquire hook rejected " +
         std::to_string(st.fresh_rejections) + " new connections in a row";
}

void reject_by_hook(manager_ptr self, uint32_t id) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  if (st.conns.find(id)->uses == 0 && st.breaker &&
      ++st.fresh_rejections >= cfg.breaker_threshold)
    self->send(st.supervisor, trip_atom::value, hook_rejections(st));
  close_slot(self, id, close_reason::hook);
}

// Whether the free connection `id` may be handed out by the before_acquire
// callback; if not, it is closed and replaced (`reject_by_hook`).
bool acquire_hook_allows(manager_ptr self, uint32_t id) {
  auto& st = self->state;
  auto& hooks = st.ctx->cfg.hooks;
  if (!hooks || !hooks->before_acquire)
    return true;
  if (hook_says_yes(self, hooks->before_acquire, id, "before_acquire")) {
    st.fresh_rejections = 0;
    return true;
  }
  reject_by_hook(self, id);
  return false;
}

// The connection to hand out next from the idle set (LIFO; it leaves the
// set with the transition that follows), and whether it must be checked
// first: it was idle for at least validate_after_idle, or the
// before_acquire hook has SQL. `no_slot` if the before_acquire callback
// rejected every idle connection (each is replaced).
std::pair<uint32_t, bool> take_idle(manager_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  while (st.conns.idle_count() > 0) {
    auto id = st.conns.top_idle();
    if (!acquire_hook_allows(self, id))
      continue;
    auto threshold = cfg.validate_after_idle;
    return {id, !cfg.before_acquire_sql.empty() ||
                  (threshold.count() > 0 &&
                   now(self) - st.conns.find(id)->idle_since >= threshold)};
  }
  return {no_slot, false};
}

// Serves the oldest waiter from the idle set (pinging the connection first
// if needed: the waiter then stays parked on it in the queue).
void hand_out_front(manager_ptr self) {
  auto& st = self->state;
  auto [id, check] = take_idle(self);
  if (id == no_slot)
    return;
  if (check) {
    st.waiters.park_front(id, now(self));
    validate(self, id, true);
    return;
  }
  auto w = st.waiters.pop_front(now(self));
  assign(self, id, w);
}

// Why a new request that would have to wait is refused now, if it is.
caf::error refusal(manager_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  if (st.conns.empty() && cfg.breaker_fail_fast &&
      st.counters.breaker != breaker_state::closed)
    return circuit_open_error(self);
  roll_window(self);
  if (st.counters.overloaded) {
    ++st.counters.shed;
    return make_error(pool_errc::overloaded,
                      "requests wait longer than queue_target; shedding load");
  }
  if (st.waiters.size() >= cfg.max_waiters) {
    ++st.counters.rejected;
    return make_error(pool_errc::queue_full,
                      "max_waiters (" + std::to_string(cfg.max_waiters) +
                        ") requests are waiting already");
  }
  return {};
}

// Renders a configured timeout: "5s", "250ms", "1500ms".
std::string format_timeout(caf::timespan d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s"
                        : std::to_string(ms) + "ms";
}

// Renders a measured age in seconds with one decimal: "12.3 s".
std::string format_age(caf::timespan d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s",
                std::chrono::duration<double>(d).count());
  return buf;
}

// Describes why no connection is free, from the manager's own tables: e.g.
// "4 of max 4 connections leased (oldest held 12.3 s by actor 57), 0 busy,
// 0 idle, 0 connecting; 10 requests waiting". Holders are named by actor id
// only.
std::string pool_situation(manager_ptr self, caf::timespan t) {
  auto& st = self->state;
  auto g = snapshot(self);
  auto result = std::to_string(g.leased) + " of max " +
                std::to_string(st.ctx->max_open()) + " connections leased";
  if (auto ids = st.leases.overdue(t, caf::timespan{0}); !ids.empty()) {
    if (auto e = st.leases.find(ids.front())) {
      result += " (oldest held " + format_age(t - e->since);
      if (e->holder)
        result += " by actor " + std::to_string(e->holder.id());
      result += ")";
    }
  }
  result += ", " + std::to_string(g.busy) + " busy, " + std::to_string(g.idle) +
            " idle, " + std::to_string(g.connecting) + " connecting";
  if (g.cleaning > 0)
    result += ", " + std::to_string(g.cleaning) + " cleaning or closing";
  auto waiting = st.waiters.size();
  if (st.counters.paused)
    result =
      "the pool is paused (it hands out no connection until resume); " + result;
  result += "; " + std::to_string(waiting) +
            (waiting == 1 ? " request waiting" : " requests waiting");
  if (g.breaker != breaker_state::closed)
    result += "; circuit breaker " + to_string(g.breaker);
  return result;
}

} // namespace

caf::expected<caf::response_promise> admit(manager_ptr self, waiter w,
                                           caf::timespan timeout, bool retry) {
  auto& st = self->state;
  if (st.counters.shutting_down)
    return shutting_down_error();
  // Note: make_response_promise takes over the request's reply, so it may
  // only be called once the request will be answered through the promise.
  w.since = now(self);
  w.timeout = timeout;
  if (st.ctx->trace)
    emit_trace(*st.ctx, trace_kind::acquire, false, trace_event::no_connection);
  // Served now if nobody waits and a connection is idle, or a busy one has
  // room in its pipeline for it (tried first with fill_pipelines); never
  // while paused.
  bool open = st.waiters.empty() && !st.counters.paused;
  auto shared = open ? pipeline_for(self, w) : no_slot;
  bool at_once = open && (shared != no_slot || st.conns.idle_count() > 0);
  // Else it has to wait: refuse it if it cannot be served soon (not a
  // retry: it was admitted before).
  if (!at_once && !retry)
    if (auto err = refusal(self)) {
      trace_acquire_end(self, trace_event::no_connection, caf::timespan{0},
                        &err);
      return err;
    }
  w.rp = self->make_response_promise();
  auto rp = w.rp;
  if (!at_once) {
    st.waiters.push(std::move(w), retry);
    arm_timer(self);
  } else if (shared != no_slot) {
    assign(self, shared, w);
  } else if (auto [id, check] = take_idle(self); id == no_slot) {
    st.waiters.push(std::move(w), retry); // the hook rejected every idle one
    arm_timer(self);
  } else if (check) {
    st.waiters.push(std::move(w), retry, id); // parked while pinged
    arm_timer(self);
    validate(self, id, true);
  } else {
    assign(self, id, w);
  }
  update_want(self);
  return rp;
}

void expire_due(manager_ptr self) {
  auto& st = self->state;
  st.timer_at = caf::timespan::max();
  auto t = now(self);
  // The pool's side of the story, told once per round (and only if someone
  // is due); only the waited time differs between waiters (an acquire
  // carries its own timeout).
  if (st.waiters.next_deadline() <= t) {
    auto why = pool_situation(self, t);
    auto waited = caf::timespan::max();
    caf::error timeout;
    // A waiter parked on a connection under validation goes too: the
    // connection then becomes idle (or serves the queue) once validated.
    for (auto& w : st.waiters.take_expired(t)) {
      if (w.timeout != waited) {
        waited = w.timeout;
        timeout = make_error(pool_errc::acquire_timeout,
                             "no connection within " + format_timeout(waited) +
                               ": " + why);
      }
      reject(self, w, timeout);
    }
  }
  update_want(self);
  arm_timer(self);
}

caf::timespan now(manager_ptr self) {
  return self->clock().now().time_since_epoch();
}

spdlog::logger& log(manager_ptr self) {
  return *self->state.ctx->log;
}

caf::timespan unpaused_since(const manager_state& st, caf::timespan since) {
  return std::max(since, st.resumed_at);
}

void roll_window(manager_ptr self) {
  roll_window(self, now(self));
}

void roll_window(manager_ptr self, caf::timespan t) {
  auto& st = self->state;
  if (!st.shedder.due(t))
    return; // the common case: no oldest waiter to look up
  // Requests held by a pause, or waiting while connections are being
  // opened (the pool grows), do not count as waits of an overloaded pool.
  auto oldest = st.counters.paused || st.connecting() > 0
                  ? std::nullopt
                  : st.waiters.oldest_since();
  if (oldest)
    oldest = unpaused_since(st, *oldest);
  if (!st.shedder.roll(t, oldest))
    return;
  st.counters.overloaded = st.shedder.overloaded();
  log(self).warn("load shedding {}", st.counters.overloaded ? "on" : "off");
}

void update_want(manager_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  if (st.counters.shutting_down)
    return;
  // Demand: every connection in use, every pipelined query beyond the
  // first on its connection, every waiter.
  auto want = std::clamp(st.conns.demand() + st.waiters.size(),
                         st.ctx->min_open(), st.ctx->max_open());
  if (want == 0 && st.conns.empty() && st.ctx->max_open() > 0 &&
      st.counters.breaker == breaker_state::half_open)
    want = 1; // the probe: else a pool that wants nothing stays half-open
  if (st.counters.paused && cfg.pause_closes_idle)
    want = 0; // the database may restart: open nothing until resume
  if (want != st.wanted) {
    st.wanted = static_cast<uint32_t>(want);
    self->send(st.supervisor, want_atom::value, st.wanted);
  }
}

void close_slot(manager_ptr self, uint32_t id, close_reason why) {
  auto& st = self->state;
  auto e = st.conns.find(id);
  if (!e || !st.conns.close(id, why))
    return; // closing already
  self->send(e->worker, close_atom::value);
}

void dispatch(manager_ptr self) {
  auto& st = self->state;
  while (!st.counters.paused && !st.waiters.empty()) {
    auto shared = pipeline_for(self, *st.waiters.front(now(self)));
    if (shared == no_slot && st.conns.idle_count() == 0)
      break;
    if (shared != no_slot) {
      auto w = st.waiters.pop_front(now(self));
      assign(self, shared, w);
    } else {
      hand_out_front(self);
    }
  }
  update_want(self);
}

void on_done(manager_ptr self, uint32_t id, uint32_t n) {
  auto& st = self->state;
  st.query_times.finish(id, n, now(self), st.counters.query_time);
  bool freed = false;
  if (!st.conns.give_back(id, n, freed)) {
    // Closing (its done crossed the close), or a bug.
    auto e = st.conns.find(id);
    if (e && e->state != conn_state::closing)
      log(self).error("connection {} ({}): done({}) refused by the table", id,
                      to_string(e->state), n);
    return;
  }
  if (!freed) {
    dispatch(self); // the oldest waiter may join its pipeline now
    return;
  }
  if (released_ok(self, id))
    on_free(self, id);
}

bool released_ok(manager_ptr self, uint32_t id) {
  auto& st = self->state;
  auto& hooks = st.ctx->cfg.hooks;
  bool discard = !st.discarding.empty() && st.discarding.erase(id) > 0;
  if (!discard && hooks && hooks->after_release)
    discard = !hook_says_yes(self, hooks->after_release, id, "after_release");
  if (!discard)
    return true;
  close_slot(self, id, close_reason::hook);
  dispatch(self); // opens a replacement if needed
  check_drained(self);
  return false;
}

void on_free(manager_ptr self, uint32_t id) {
  auto& st = self->state;
  auto& e = *st.conns.find(id);
  bool shrink = over_max(self); // after a resize: close until within max
  bool closes_idle = st.counters.paused && st.ctx->cfg.pause_closes_idle;
  if (st.counters.shutting_down || e.retiring || shrink || closes_idle) {
    auto why = close_reason::other; // paused with pause_closes_idle
    if (st.resetting.erase(id) > 0) {
      ++st.counters.connections_reset;
      why = close_reason::reset;
    } else if (st.counters.shutting_down) {
      why = close_reason::shutdown;
    } else if (e.retiring) {
      ++st.counters.connections_recycled;
      why = close_reason::lifetime;
    } else if (shrink) {
      why = close_reason::shrink;
    }
    close_slot(self, id, why);
    update_want(self);
    check_drained(self);
    return;
  }
  if (st.counters.paused) {
    must(self, st.conns.park(id, now(self)), "park", id);
    check_drained(self);
    return;
  }
  if (!st.waiters.empty()) {
    if (!acquire_hook_allows(self, id)) {
      dispatch(self);
      return;
    }
    if (!st.ctx->cfg.before_acquire_sql.empty()) {
      st.waiters.park_front(id, now(self));
      validate(self, id, true);
      return;
    }
    auto w = st.waiters.pop_front(now(self));
    assign(self, id, w); // just used: no validation needed
    dispatch(self);      // more waiters may join its pipeline
    return;
  }
  must(self, st.conns.park(id, now(self)), "park", id);
  update_want(self);
}

void validate(manager_ptr self, uint32_t id, bool before_acquire) {
  auto& st = self->state;
  must(self, st.conns.validate(id), "validate", id);
  auto timeout = st.ctx->cfg.health_check_timeout * 2;
  self
    ->request(st.conns.find(id)->worker, timeout, ping_atom::value,
              before_acquire)
    .then([=](bool usable) { on_validated(self, id, usable); },
          [=](caf::error& err) { on_validated(self, id, std::move(err)); });
}

void on_validated(manager_ptr self, uint32_t id, caf::expected<bool> ok) {
  auto& st = self->state;
  auto e = st.conns.find(id);
  if (!e || e->state != conn_state::validating)
    return;         // closed meanwhile; its down handler requeued the waiter
  if (ok && !*ok) { // the before_acquire hook said no (the worker logged why)
    st.waiters.unpark(id); // its waiter keeps its place in the queue
    reject_by_hook(self, id);
    dispatch(self);
    return;
  }
  if (ok) {
    if (st.counters.paused)
      st.waiters.unpark(id); // held: it keeps its place in the queue
    auto pending = st.waiters.take_parked(id);
    st.conns.validated(id, now(self));
    if (pending && !st.counters.shutting_down) {
      st.fresh_rejections = 0; // a hand-out: the hook (if any) said yes
      assign(self, id, *pending);
      return;
    }
    if (pending)
      reject(self, *pending, shutting_down_error());
    if (st.counters.shutting_down || e->retiring || !st.waiters.empty() ||
        over_max(self)) {
      on_free(self, id);
      return;
    }
    // A health check keeps the connection's idle time (for idle_timeout).
    st.conns.park(id, now(self), true);
    check_drained(self);
    return;
  }
  ++st.counters.health_check_failures;
  log(self).warn("connection {} failed its health check; replacing it", id);
  st.waiters.unpark(id); // its waiter keeps its place in the queue
  close_slot(self, id, close_reason::health_check);
  dispatch(self);
}

caf::error shutting_down_error() {
  return make_error(pool_errc::shutting_down, "the pool is shutting down");
}

void fail_waiters(manager_ptr self, const caf::error& err) {
  auto& st = self->state;
  // Those parked on a connection under validation, too.
  for (auto& w : st.waiters.take_all())
    reject(self, w, err);
  update_want(self);
}

caf::error circuit_open_error(manager_ptr self) {
  auto& st = self->state;
  if (st.breaker && st.fresh_rejections >= st.ctx->cfg.breaker_threshold)
    return make_error(pool_errc::circuit_open,
                      hook_rejections(st) + "; connects are held back");
  auto last = st.last_connect_error ? describe(st.last_connect_error)
                                    : std::string{"none recorded"};
  return make_error(pool_errc::circuit_open,
                    "connects are failing; last connect error: " + last);
}

void end_lease(manager_ptr self, uint64_t lease_id) {
  auto& st = self->state;
  auto ended = st.leases.close(lease_id);
  if (!ended)
    return;
  if (ended->last_of_holder)
    self->demonitor(ended->holder);
  must(self, st.conns.clean(ended->conn), "clean", ended->conn);
  self->send(st.conns.find(ended->conn)->worker, unlease_atom::value, lease_id);
}

void finish_shutdown_if_done(manager_ptr self) {
  auto& st = self->state;
  if (!st.counters.shutting_down || !st.conns.empty() || st.connecting() > 0)
    return;
  // Log first: the reply tells the caller the pool is done, and a caller may
  // then destroy what the logger writes to.
  log(self).info("pool shut down");
  for (auto& rp : st.shutdown_rps)
    rp.deliver(caf::ok_atom::value);
  st.shutdown_rps.clear();
  self->quit();
}

void on_worker_down(manager_ptr self, uint32_t id, const caf::error& reason) {
  auto& st = self->state;
  auto e = st.conns.find(id);
  if (!e)
    return;
  ++st.counters.connections_closed;
  auto why =
    e->state == conn_state::closing ? e->close_why : close_reason::lost;
  ++st.counters.connections_closed_by[static_cast<size_t>(why)];
  auto age = now(self) - e->opened_at;
  st.counters.connection_lifetime.observe(age);
  st.query_times.forget(id);
  auto lived =
    std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
  if (e->state != conn_state::closing && reason && !st.counters.shutting_down)
    log(self).warn("connection {} lost after {} ms: {}", id, lived,
                   describe(reason));
  else
    log(self).info("connection {} closed ({}) after {} ms", id, to_string(why),
                   lived);
  if (auto ended = st.leases.close_conn(id); ended && ended->last_of_holder)
    self->demonitor(ended->holder);
  st.waiters.unpark(id); // a waiter parked on it keeps its place
  st.conns.remove(id);
  st.resetting.erase(id);
  st.discarding.erase(id);
  dispatch(self);
  check_drained(self);
  finish_shutdown_if_done(self);
}

pool_stats snapshot(manager_ptr self) {
  auto& st = self->state;
  auto result = st.counters;
  for (auto& kvp : st.conns.entries()) {
    ++result.connections_by_host[kvp.second.endpoint];
    switch (kvp.second.state) {
    case conn_state::idle:
      ++result.idle;
      break;
    case conn_state::busy:
    case conn_state::piping:
    case conn_state::validating:
      ++result.busy;
      break;
    case conn_state::leased:
      ++result.leased;
      break;
    case conn_state::cleaning:
    case conn_state::closing:
      ++result.cleaning;
      break;
    }
  }
  result.listen.connections =
    st.listener_lease != 0 && st.leases.find(st.listener_lease) ? 1 : 0;
  result.connecting = st.connecting();
  result.total = static_cast<uint32_t>(st.conns.size()) + result.connecting;
  result.max_open = static_cast<uint32_t>(st.ctx->max_open());
  result.limited = st.ctx->max_open() < st.ctx->cfg.max_size;
  result.waiting = static_cast<uint32_t>(st.waiters.size());
  for (size_t c = 0; c < priority_classes; ++c)
    result.by_priority[c].waiting =
      static_cast<uint32_t>(st.waiters.count(static_cast<priority>(c)));
  result.last_connect_error =
    st.last_connect_error ? describe(st.last_connect_error) : std::string{};
  return result;
}

} // namespace pool
