#include <spdlog/spdlog.h>

#include <optional>
#include <string>

#include "caf/actor_system.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "manager_ops.hpp"
#include "pool/error.hpp"
#include "statement_check.hpp"

namespace pool {

const char* manager_state::name = "pool.manager";

namespace {

// Turns the outcome of `admit` into a handler's result.
template <class T>
caf::result<T> reply(caf::expected<caf::response_promise> x) {
  if (!x)
    return std::move(x.error());
  return *x;
}

void on_breaker_event(manager_ptr self, const breaker_event& ev) {
  auto& st = self->state;
  st.counters.breaker = ev.state;
  // Logged here, not in the breaker: the manager is the pool's last logger,
  // done before it answers shutdown (a breaker timer could fire after).
  if (ev.state == breaker_state::open)
    log(self).warn("circuit breaker {} -> open: {}", to_string(ev.previous),
                   ev.reason);
  else
    log(self).info("circuit breaker {} -> {}: {}", to_string(ev.previous),
                   to_string(ev.state), ev.reason);
  if (ev.state == breaker_state::half_open) {
    ++st.counters.breaker_half_opened;
    update_want(self); // a pool with nothing open wants the probe
  } else if (ev.state == breaker_state::closed)
    ++st.counters.breaker_closed;
  if (ev.state != breaker_state::open)
    return;
  ++st.counters.breaker_opened;
  // Nothing can serve the waiters until a connect succeeds: tell them now.
  if (st.ctx->cfg.breaker_fail_fast && st.conns.empty())
    fail_waiters(self, circuit_open_error(self));
}

void on_holder_down(manager_ptr self, const caf::actor_addr& holder) {
  auto& st = self->state;
  for (auto lease_id : st.leases.held_by(holder)) {
    log(self).warn("lease {} reclaimed: its holder died", lease_id);
    ++st.counters.leases_reclaimed;
    end_lease(self, lease_id);
  }
}

pool_stats make_stats(manager_ptr self) {
  roll_window(self);
  return snapshot(self);
}

void start_shutdown(manager_ptr self, caf::timespan deadline) {
  auto& st = self->state;
  st.counters.shutting_down = true;
  log(self).info("shutting down: {} waiters, {} leases", st.waiters.size(),
                 st.leases.size());
  fail_waiters(self, shutting_down_error());
  cancel_pauses(self, shutting_down_error());
  auto idle = st.conns.idle();
  for (auto id : idle)
    close_slot(self, id, close_reason::shutdown);
  self->send(st.supervisor, close_atom::value);
  if (st.listener)
    self->send(st.listener, close_atom::value); // gives its lease back
  self->delayed_send(self, std::max(deadline, caf::timespan{0}),
                     close_atom::value);
}

// The connection of the listener's lease, if it holds one.
std::optional<uint32_t> listener_conn(manager_ptr self) {
  auto& st = self->state;
  if (st.listener_lease == 0)
    return std::nullopt;
  if (auto e = st.leases.find(st.listener_lease))
    return e->conn;
  return std::nullopt;
}

// A waiter for a pooled query. Whether it may share a pipeline (plain DML,
// pipelining on) is decided here, once, where the request enters; the flag
// travels with it to the worker (and back with a retry). A worker whose
// connection cannot pipeline announces capacity 1 and runs it alone.
waiter query_waiter(manager_ptr self, statement stmt) {
  auto& ctx = *self->state.ctx;
  waiter w;
  w.kind = waiter::query;
  w.piped = ctx.cfg.pipeline_depth > 1 && ctx.db->rules().may_pipeline(stmt);
  w.stmt = std::move(stmt);
  return w;
}

// A waiter for a pooled query handed back by a worker: its pipelinability
// was decided when it entered.
waiter retry_waiter(statement stmt, bool piped) {
  waiter w;
  w.kind = waiter::query;
  w.piped = piped;
  w.stmt = std::move(stmt);
  return w;
}

// A priority class out of range, named for `what`.
caf::error bad_priority(const char* what, priority prio) {
  return make_error(pool_errc::invalid_request,
                    std::string{what} + ": priority class " +
                      std::to_string(static_cast<int>(prio)) +
                      " out of range (0 interactive, 1 normal, 2 batch)");
}

bool valid(priority prio) {
  return static_cast<size_t>(prio) < priority_classes;
}

caf::result<query_result> on_query(manager_ptr self, statement stmt,
                                   priority prio) {
  if (!valid(prio))
    return bad_priority("query", prio);
  if (stmt.sql.empty())
    return make_error(pool_errc::invalid_request, "query: empty SQL");
  if (auto err = check_statement(stmt, "query"))
    return err;
  auto w = query_waiter(self, std::move(stmt));
  w.prio = prio;
  return reply<query_result>(
    admit(self, std::move(w), self->state.ctx->cfg.acquire_timeout));
}

caf::result<std::vector<query_result>>
on_transaction(manager_ptr self, std::vector<statement> stmts, priority prio) {
  if (!valid(prio))
    return bad_priority("transaction", prio);
  if (stmts.empty())
    return make_error(pool_errc::invalid_request, "transaction: no statements");
  for (size_t i = 0; i < stmts.size(); ++i) {
    if (stmts[i].sql.empty())
      return make_error(pool_errc::invalid_request,
                        "transaction: " + statement_place(i, stmts.size()) +
                          " has empty SQL");
    if (auto err = check_statement(stmts[i], "transaction", i, stmts.size()))
      return err;
  }
  waiter w;
  w.kind = waiter::txn;
  w.prio = prio;
  w.stmts = std::move(stmts);
  return reply<std::vector<query_result>>(
    admit(self, std::move(w), self->state.ctx->cfg.acquire_timeout));
}

caf::result<lease> on_acquire(manager_ptr self, caf::timespan timeout,
                              priority prio) {
  if (!valid(prio))
    return bad_priority("acquire", prio);
  if (timeout.count() <= 0)
    return make_error(pool_errc::invalid_request,
                      "acquire: timeout must be positive");
  auto sender = self->current_sender();
  if (!sender)
    return make_error(pool_errc::invalid_request,
                      "acquire: anonymous requests cannot hold a lease");
  waiter w;
  w.kind = waiter::acquire;
  w.prio = prio;
  w.holder = caf::actor_cast<caf::actor_addr>(sender);
  return reply<lease>(admit(self, std::move(w), timeout));
}

manager_actor::behavior_type
manager_impl(manager_ptr self, std::shared_ptr<const pool_context> ctx) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  auto& cfg = st.ctx->cfg;
  if (cfg.breaker_threshold > 0) {
    st.breaker = spawn_breaker(self, caf::actor_cast<caf::actor>(self), st.ctx);
    self
      ->request(st.breaker, std::chrono::seconds(10), subscribe_atom::value,
                caf::actor_cast<caf::actor>(self))
      .then([](caf::ok_atom) {});
  }
  st.supervisor = spawn_supervisor(self, caf::actor_cast<manager_actor>(self),
                                   st.breaker, st.ctx);
  st.waiters.aging(cfg.priority_aging);
  st.shedder.start(st.ctx->cfg.queue_target, st.ctx->cfg.queue_interval,
                   now(self));
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.listener && dm.source == st.listener.address()) {
      st.listener = nullptr; // its lease (if any) is reclaimed below
      st.listener_lease = 0;
      st.counters.listen = listen_stats{};
    }
    for (auto& kvp : st.conns.entries())
      if (kvp.second.worker.address() == dm.source) {
        on_worker_down(self, kvp.first, dm.reason);
        return;
      }
    on_holder_down(self, dm.source);
  });
  update_want(self);
  self->delayed_send(self, housekeeping_interval(cfg), tick_atom::value);
  return {
    [=](query_atom, statement& stmt) -> caf::result<query_result> {
      return on_query(self, std::move(stmt), priority::normal);
    },
    [=](query_atom, priority prio,
        statement& stmt) -> caf::result<query_result> {
      return on_query(self, std::move(stmt), prio);
    },
    [=](transaction_atom, std::vector<statement>& stmts)
      -> caf::result<std::vector<query_result>> {
      return on_transaction(self, std::move(stmts), priority::normal);
    },
    [=](transaction_atom, priority prio, std::vector<statement>& stmts)
      -> caf::result<std::vector<query_result>> {
      return on_transaction(self, std::move(stmts), prio);
    },
    [=](retry_atom, statement& stmt, bool piped) -> caf::result<query_result> {
      return reply<query_result>(
        admit(self, retry_waiter(std::move(stmt), piped),
              self->state.ctx->cfg.acquire_timeout, true));
    },
    [=](retry_atom, std::vector<statement>& stmts)
      -> caf::result<std::vector<query_result>> {
      waiter w;
      w.kind = waiter::txn;
      w.stmts = std::move(stmts);
      return reply<std::vector<query_result>>(
        admit(self, std::move(w), self->state.ctx->cfg.acquire_timeout, true));
    },
    [=](acquire_atom, caf::timespan timeout) -> caf::result<lease> {
      return on_acquire(self, timeout, priority::normal);
    },
    [=](acquire_atom, caf::timespan timeout, priority prio)
      -> caf::result<lease> { return on_acquire(self, timeout, prio); },
    [=](release_atom, uint64_t lease_id) -> caf::result<caf::ok_atom> {
      if (self->state.leases.find(lease_id) == nullptr)
        return make_error(pool_errc::invalid_lease, "release: lease " +
                                                      std::to_string(lease_id) +
                                                      " is not held");
      end_lease(self, lease_id);
      return caf::ok_atom::value;
    },
    [=](stats_atom) { return make_stats(self); },
    [=](subscribe_atom) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      if (!sender)
        return make_error(pool_errc::invalid_request,
                          "subscribe: anonymous senders cannot subscribe");
      if (!st.breaker)
        return caf::ok_atom::value; // no breaker, no events
      return self->delegate(st.breaker, subscribe_atom::value,
                            std::move(sender));
    },
    [=](stream_atom, statement& stmt, caf::actor& receiver,
        uint32_t rows) -> caf::result<stream_end> {
      if (self->state.counters.shutting_down)
        return shutting_down_error();
      auto rp = self->make_response_promise<stream_end>();
      start_pooled_stream(self, std::move(stmt), std::move(receiver), rows, rp);
      return rp;
    },
    [=](listen_atom, std::string& channel) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      if (st.counters.shutting_down)
        return shutting_down_error();
      if (!st.listener) {
        st.listener =
          spawn_listener(self, caf::actor_cast<manager_actor>(self), st.ctx);
        self->monitor(st.listener);
      }
      return self->delegate(st.listener, listen_atom::value,
                            std::move(channel));
    },
    [=](unlisten_atom, std::string& channel) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      if (!st.listener) {
        if (channel.empty())
          return make_error(pool_errc::invalid_request,
                            "unlisten: channel is empty");
        return caf::ok_atom::value; // nobody listens to anything
      }
      return self->delegate(st.listener, unlisten_atom::value,
                            std::move(channel));
    },
    [=](listener_atom, uint64_t lease_id) {
      auto& st = self->state;
      st.listener_lease = lease_id;
      if (lease_id != 0 && !st.leases.pin(lease_id))
        st.listener_lease = 0; // ended already
      check_drained(self);
    },
    [=](listener_atom, listen_stats& x) { self->state.counters.listen = x; },
    [=](shutdown_atom, caf::timespan deadline) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      st.shutdown_rps.push_back(rp);
      if (!st.counters.shutting_down)
        start_shutdown(self, deadline);
      finish_shutdown_if_done(self);
      return rp;
    },
    [=](ready_atom, uint32_t id, worker_actor& worker, uint32_t capacity,
        std::string& endpoint) {
      // Straight from the worker, so its later `done` and `lost` arrive
      // after this. The supervisor learns of the success from here: its
      // `retire` for this connection then follows this, too.
      auto& st = self->state;
      self->monitor(worker);
      if (!st.conns.add(id, worker, capacity, now(self), endpoint)) {
        log(self).error("worker {}: ready twice or with capacity 0", id);
        self->send(worker, close_atom::value);
        return;
      }
      ++st.counters.connections_created;
      log(self).info("connection {} opened to {} ({} open)", id,
                     endpoint.empty() ? "?" : endpoint, st.conns.size());
      st.last_connect_error = caf::error{};
      ++st.readies_sent;
      self->send(st.supervisor, ready_atom::value, id);
      if (st.reset_on_ready.erase(id) > 0 && reset_one(self, id)) {
        update_want(self); // connected before a reset: replaced at once
        return;
      }
      on_free(self, id);
    },
    [=](done_atom, uint32_t id, uint32_t n) { on_done(self, id, n); },
    [=](lost_atom, uint32_t id, caf::error& err) {
      auto& st = self->state;
      auto e = st.conns.find(id);
      if (!e)
        return; // closed and gone already
      auto worker = e->worker;
      on_worker_down(self, id, err);
      self->send(worker, close_atom::value);
    },
    [=](expire_atom) { expire_due(self); },
    [=](connecting_atom, uint32_t n, uint64_t readies_seen) {
      self->state.connecting_reported = n;
      self->state.readies_seen = readies_seen;
      finish_shutdown_if_done(self);
    },
    [=](connfail_atom, caf::error& err) {
      auto& st = self->state;
      ++st.counters.connect_failures;
      log(self).warn("connect failed: {}", describe(err));
      st.last_connect_error = std::move(err);
      // With no connection to serve them, waiters learn why at once rather
      // than at their deadline (e.g. auth_failed for a wrong password).
      if (st.conns.empty())
        fail_waiters(self, st.last_connect_error);
    },
    [=](discard_atom, uint32_t id) { self->state.discarding.insert(id); },
    [=](retire_atom, uint32_t id) {
      auto& st = self->state;
      if (!st.conns.retire(id)) // no new queries join its pipeline
        return;
      if (listener_conn(self) == id) // it never comes back by itself
        self->send(st.listener, listener_atom::value);
      if (st.conns.find(id)->state == conn_state::idle) {
        ++st.counters.connections_recycled;
        close_slot(self, id, close_reason::lifetime);
        update_want(self);
      }
    },
    [=](const breaker_event& ev) { on_breaker_event(self, ev); },
    [=](failed_atom, std::string& sqlstate_class) {
      ++self->state.counters.errors_by_class[sqlstate_class];
    },
    [=](tick_atom) {
      housekeeping(self);
      if (!self->state.counters.shutting_down)
        self->delayed_send(self, housekeeping_interval(self->state.ctx->cfg),
                           tick_atom::value);
    },
    [=](resize_atom, uint64_t min_size,
        uint64_t max_size) -> caf::result<caf::ok_atom> {
      pool_settings x;
      x.min_size = min_size;
      x.max_size = max_size;
      if (auto err = reconfigure(self, x, "resize"))
        return err;
      return caf::ok_atom::value;
    },
    [=](limit_atom, uint64_t limit) -> caf::result<caf::ok_atom> {
      if (self->state.counters.shutting_down)
        return shutting_down_error();
      set_limit(self, limit);
      return caf::ok_atom::value;
    },
    [=](reconfigure_atom, const pool_settings& x) -> caf::result<caf::ok_atom> {
      if (auto err = reconfigure(self, x, "reconfigure"))
        return err;
      return caf::ok_atom::value;
    },
    [=](pause_atom, caf::timespan deadline) { return pause(self, deadline); },
    [=](drain_atom, uint64_t n) { pause_deadline(self, n); },
    [=](resume_atom) -> caf::result<caf::ok_atom> {
      if (self->state.counters.shutting_down)
        return shutting_down_error();
      resume(self);
      return caf::ok_atom::value;
    },
    [=](reset_atom) -> caf::result<caf::ok_atom> {
      if (self->state.counters.shutting_down)
        return shutting_down_error();
      reset(self);
      return caf::ok_atom::value;
    },
    [=](close_atom) {
      // The shutdown deadline: close what is still leased or busy.
      auto& st = self->state;
      for (auto id : st.conns.ids()) // skips those closing already
        close_slot(self, id, close_reason::shutdown);
    },
  };
}

} // namespace

manager_actor spawn_manager(caf::actor_system& sys,
                            std::shared_ptr<const pool_context> ctx) {
  return sys.spawn(manager_impl, std::move(ctx));
}

} // namespace pool
