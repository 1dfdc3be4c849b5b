#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "manager_ops.hpp"
#include "pool/error.hpp"

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
  if (ev.state != breaker_state::open)
    return;
  ++st.counters.breaker_opened;
  // Nothing can serve the waiters until a connect succeeds: tell them now.
  if (st.ctx->cfg.breaker_fail_fast && st.slots.empty())
    fail_waiters(self, circuit_open_error(self));
}

void on_holder_down(manager_ptr self, const caf::actor_addr& holder) {
  auto& st = self->state;
  if (st.holders.count(holder) == 0)
    return;
  std::vector<uint64_t> ids;
  for (auto& kvp : st.leases)
    if (st.slots[kvp.second].holder == holder)
      ids.push_back(kvp.first);
  for (auto lease_id : ids) {
    log(self).warn("lease {} reclaimed: its holder died", lease_id);
    ++st.counters.leases_reclaimed;
    end_lease(self, lease_id);
  }
}

pool_stats make_stats(manager_ptr self) {
  roll_window(self);
  auto& st = self->state;
  auto result = st.counters;
  for (auto& kvp : st.slots) {
    switch (kvp.second.state) {
    case conn_state::idle:
      ++result.idle;
      break;
    case conn_state::busy:
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
  result.connecting = st.connecting;
  result.total = static_cast<uint32_t>(st.slots.size()) + st.connecting;
  result.waiting = static_cast<uint32_t>(st.waiters.size());
  result.last_connect_error =
    st.last_connect_error ? describe(st.last_connect_error) : std::string{};
  return result;
}

void start_shutdown(manager_ptr self, caf::timespan deadline) {
  auto& st = self->state;
  st.counters.shutting_down = true;
  log(self).info("shutting down: {} waiters, {} leases", st.waiters.size(),
                 st.leases.size());
  fail_waiters(self, shutting_down_error());
  auto idle = st.idle;
  for (auto id : idle)
    close_slot(self, id);
  self->send(st.supervisor, close_atom::value);
  self->delayed_send(self, std::max(deadline, caf::timespan{0}),
                     close_atom::value);
}

// A waiter for a pooled query; it may share a pipeline if it is plain DML
// and pipelining is on.
waiter query_waiter(manager_ptr self, statement stmt) {
  auto& ctx = *self->state.ctx;
  waiter w;
  w.kind = waiter::query;
  w.piped = ctx.cfg.pipeline_depth > 1 && ctx.db->can_pipeline() &&
            ctx.db->rules().may_pipeline(stmt);
  w.stmt = std::move(stmt);
  return w;
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
  st.shedder.start(st.ctx->cfg.queue_target, st.ctx->cfg.queue_interval,
                   now(self));
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    for (auto& kvp : st.slots)
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
      if (stmt.sql.empty())
        return make_error(pool_errc::invalid_request, "query: empty SQL");
      return reply<query_result>(admit(self,
                                       query_waiter(self, std::move(stmt)),
                                       self->state.ctx->cfg.acquire_timeout));
    },
    [=](transaction_atom, std::vector<statement>& stmts)
      -> caf::result<std::vector<query_result>> {
      if (stmts.empty())
        return make_error(pool_errc::invalid_request,
                          "transaction: no statements");
      for (size_t i = 0; i < stmts.size(); ++i)
        if (stmts[i].sql.empty())
          return make_error(pool_errc::invalid_request,
                            "transaction: statement " + std::to_string(i) +
                              " has empty SQL");
      waiter w;
      w.kind = waiter::txn;
      w.stmts = std::move(stmts);
      return reply<std::vector<query_result>>(
        admit(self, std::move(w), self->state.ctx->cfg.acquire_timeout));
    },
    [=](retry_atom, statement& stmt) -> caf::result<query_result> {
      return reply<query_result>(
        admit(self, query_waiter(self, std::move(stmt)),
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
      if (timeout.count() <= 0)
        return make_error(pool_errc::invalid_request,
                          "acquire: timeout must be positive");
      auto sender = self->current_sender();
      if (!sender)
        return make_error(pool_errc::invalid_request,
                          "acquire: anonymous requests cannot hold a lease");
      waiter w;
      w.kind = waiter::acquire;
      w.holder = caf::actor_cast<caf::actor_addr>(sender);
      return reply<lease>(admit(self, std::move(w), timeout));
    },
    [=](release_atom, uint64_t lease_id) -> caf::result<caf::ok_atom> {
      if (self->state.leases.count(lease_id) == 0)
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
    [=](shutdown_atom, caf::timespan deadline) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      st.shutdown_rps.push_back(rp);
      if (!st.counters.shutting_down)
        start_shutdown(self, deadline);
      finish_shutdown_if_done(self);
      return rp;
    },
    [=](ready_atom, uint32_t id, worker_actor& worker) {
      auto& st = self->state;
      if (st.lost_early.erase(id) > 0) {
        ++st.counters.connections_created;
        ++st.counters.connections_closed;
        self->send(worker, close_atom::value);
        return;
      }
      self->monitor(worker);
      auto& slot = st.slots[id];
      slot.worker = std::move(worker);
      slot.state = conn_state::busy; // on_free parks or uses it
      slot.last_checked = now(self);
      ++st.counters.connections_created;
      st.last_connect_error = caf::error{};
      on_free(self, id);
    },
    [=](done_atom, uint32_t id, uint32_t n) {
      if (self->state.slots.count(id) > 0)
        on_done(self, id, n);
    },
    [=](lost_atom, uint32_t id, caf::error& err) {
      auto& st = self->state;
      auto i = st.slots.find(id);
      if (i == st.slots.end()) {
        st.lost_early.insert(id); // its `ready` is still on the way
        return;
      }
      auto worker = i->second.worker;
      on_worker_down(self, id, err);
      self->send(worker, close_atom::value);
    },
    [=](expire_atom) { expire_due(self); },
    [=](connecting_atom, uint32_t n) {
      self->state.connecting = n;
      finish_shutdown_if_done(self);
    },
    [=](connfail_atom, caf::error& err) {
      auto& st = self->state;
      ++st.counters.connect_failures;
      log(self).warn("connect failed: {}", describe(err));
      st.last_connect_error = std::move(err);
      // With no connection to serve them, waiters learn why at once rather
      // than at their deadline (e.g. auth_failed for a wrong password).
      if (st.slots.empty())
        fail_waiters(self, st.last_connect_error);
    },
    [=](retire_atom, uint32_t id) {
      auto& st = self->state;
      auto i = st.slots.find(id);
      if (i == st.slots.end())
        return;
      i->second.retiring = true;
      update_open(self, id); // no new queries join its pipeline
      if (i->second.state == conn_state::idle) {
        ++st.counters.connections_recycled;
        close_slot(self, id);
        update_want(self);
      }
    },
    [=](const breaker_event& ev) { on_breaker_event(self, ev); },
    [=](tick_atom) {
      housekeeping(self);
      if (!self->state.counters.shutting_down)
        self->delayed_send(self, housekeeping_interval(self->state.ctx->cfg),
                           tick_atom::value);
    },
    [=](close_atom) {
      // The shutdown deadline: close what is still leased or busy.
      auto& st = self->state;
      std::vector<uint32_t> ids;
      for (auto& kvp : st.slots)
        if (kvp.second.state != conn_state::closing)
          ids.push_back(kvp.first);
      for (auto id : ids)
        close_slot(self, id);
    },
  };
}

} // namespace

manager_actor spawn_manager(caf::actor_system& sys,
                            std::shared_ptr<const pool_context> ctx) {
  return sys.spawn(manager_impl, std::move(ctx));
}

} // namespace pool
