#include "manager.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "pool/error.hpp"

namespace pool {

const char* manager_state::name = "pool.manager";

namespace {

using manager_ptr = manager_actor::stateful_pointer<manager_state>;

constexpr auto min_backoff = std::chrono::milliseconds(50);
constexpr auto max_backoff = std::chrono::seconds(5);

caf::timespan now(manager_ptr self) {
  return self->clock().now().time_since_epoch();
}

spdlog::logger& log(manager_ptr self) {
  return *self->state.ctx->log;
}

size_t open_count(const manager_state& st) {
  return st.slots.size() - st.free_slots.size();
}

// Starts a worker in a free slot; it counts toward max_size at once.
void spawn_connection(manager_ptr self) {
  auto& st = self->state;
  uint32_t id;
  if (!st.free_slots.empty()) {
    id = st.free_slots.back();
    st.free_slots.pop_back();
  } else {
    id = static_cast<uint32_t>(st.slots.size());
    st.slots.emplace_back();
  }
  auto worker =
    spawn_worker(self, id, caf::actor_cast<manager_actor>(self), st.ctx);
  self->monitor(worker);
  auto& slot = st.slots[id];
  slot.worker = std::move(worker);
  slot.state = conn_state::connecting;
  ++st.connecting;
}

// Opens connections while fewer than min_size exist or waiters outnumber the
// connections being opened, within max_size; after connect failures, the next
// attempt waits for the backoff timer.
void grow(manager_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  if (st.counters.shutting_down || st.retry_pending)
    return;
  auto wanted = [&] {
    auto open = open_count(st);
    return open < cfg.max_size &&
           (open < cfg.min_size || st.connecting < st.waiters.size());
  };
  if (!wanted())
    return;
  if (st.backoff.count() > 0) {
    st.retry_pending = true;
    self->delayed_send(self, st.backoff, tick_atom::value);
    return;
  }
  while (wanted())
    spawn_connection(self);
}

lease make_lease(manager_ptr self, uint32_t id, const caf::actor_addr& holder) {
  auto& st = self->state;
  auto& slot = st.slots[id];
  auto lease_id = st.next_lease_id++;
  slot.state = conn_state::leased;
  slot.lease_id = lease_id;
  slot.holder = holder;
  st.leases.emplace(lease_id, id);
  if (st.holders[holder]++ == 0)
    self->monitor(holder);
  // Sent before the reply: the worker knows the lease before the holder can
  // use it.
  self->send(slot.worker, lease_atom::value, lease_id);
  return lease{lease_id, slot.worker};
}

// Ends a lease: the worker cleans the connection and then reports `done`.
void end_lease(manager_ptr self, uint64_t lease_id) {
  auto& st = self->state;
  auto i = st.leases.find(lease_id);
  auto id = i->second;
  st.leases.erase(i);
  auto& slot = st.slots[id];
  auto h = st.holders.find(slot.holder);
  if (h != st.holders.end() && --h->second == 0) {
    self->demonitor(slot.holder);
    st.holders.erase(h);
  }
  slot.state = conn_state::cleaning;
  slot.lease_id = 0;
  slot.holder = nullptr;
  self->send(slot.worker, unlease_atom::value, lease_id);
}

// Gives the idle connection `id` to the waiter `w`.
void assign(manager_ptr self, uint32_t id, waiter& w) {
  auto& st = self->state;
  auto& slot = st.slots[id];
  ++st.counters.acquired;
  st.counters.wait_time_total += now(self) - w.since;
  switch (w.kind) {
  case waiter::query:
    slot.state = conn_state::busy;
    w.rp.delegate(slot.worker, run_atom::value, std::move(w.stmts[0]));
    break;
  case waiter::txn:
    slot.state = conn_state::busy;
    w.rp.delegate(slot.worker, transaction_atom::value, std::move(w.stmts));
    break;
  case waiter::acquire:
    w.rp.deliver(make_lease(self, id, w.holder));
    break;
  }
}

void finish_shutdown_if_done(manager_ptr self) {
  auto& st = self->state;
  if (!st.counters.shutting_down || open_count(st) > 0)
    return;
  for (auto& rp : st.shutdown_rps)
    rp.deliver(caf::ok_atom::value);
  st.shutdown_rps.clear();
  log(self).info("pool shut down");
  self->quit();
}

void close_slot(manager_ptr self, uint32_t id) {
  auto& slot = self->state.slots[id];
  slot.state = conn_state::cleaning;
  self->send(slot.worker, close_atom::value);
}

// A connection became free: serve the oldest waiter or park it as idle.
void on_free(manager_ptr self, uint32_t id) {
  auto& st = self->state;
  if (st.counters.shutting_down) {
    close_slot(self, id);
    return;
  }
  if (!st.waiters.empty()) {
    auto i = st.waiters.begin();
    auto w = std::move(i->second);
    st.waiters.erase(i);
    assign(self, id, w);
    return;
  }
  st.slots[id].state = conn_state::idle;
  st.idle.push_back(id);
}

// Fails every waiter with `err`.
void fail_waiters(manager_ptr self, const caf::error& err) {
  auto& st = self->state;
  for (auto& kvp : st.waiters)
    kvp.second.rp.deliver(err);
  st.waiters.clear();
}

// Admits a request that needs a connection: serves it at once from the idle
// set when nobody waits, else queues it (bounded) with its deadline.
template <class Result>
caf::result<Result> admit(manager_ptr self, waiter w, caf::timespan timeout) {
  auto& st = self->state;
  if (st.counters.shutting_down)
    return make_error(pool_errc::shutting_down, "the pool is shutting down");
  if (st.waiters.empty() && !st.idle.empty()) {
    auto id = st.idle.back();
    st.idle.pop_back();
    w.rp = self->make_response_promise();
    w.since = now(self);
    auto rp = w.rp;
    assign(self, id, w);
    return rp;
  }
  if (st.waiters.size() >= st.ctx->cfg.max_waiters) {
    ++st.counters.rejected;
    return make_error(pool_errc::queue_full,
                      "max_waiters (" +
                        std::to_string(st.ctx->cfg.max_waiters) +
                        ") requests are waiting already");
  }
  auto wid = st.next_waiter_id++;
  w.rp = self->make_response_promise();
  w.since = now(self);
  auto rp = w.rp;
  st.waiters.emplace(wid, std::move(w));
  self->delayed_send(self, timeout, expire_atom::value, wid);
  grow(self);
  return rp;
}

void on_worker_down(manager_ptr self, uint32_t id, const caf::error& reason) {
  auto& st = self->state;
  auto& slot = st.slots[id];
  if (slot.state == conn_state::connecting) {
    --st.connecting;
    ++st.counters.connect_failures;
    st.last_connect_error = reason;
    st.backoff = std::min<caf::timespan>(
      std::max<caf::timespan>(st.backoff * 2, min_backoff), max_backoff);
    log(self).warn("connect failed: {}", describe(reason));
  } else {
    ++st.counters.connections_closed;
    if (reason && !is(reason, pool_errc::shutting_down))
      log(self).warn("connection {} closed: {}", id, describe(reason));
  }
  if (slot.state == conn_state::idle)
    st.idle.erase(std::find(st.idle.begin(), st.idle.end(), id));
  if (slot.lease_id != 0) {
    auto h = st.holders.find(slot.holder);
    if (h != st.holders.end() && --h->second == 0) {
      self->demonitor(slot.holder);
      st.holders.erase(h);
    }
    st.leases.erase(slot.lease_id);
  }
  slot = conn_slot{};
  st.free_slots.push_back(id);
  finish_shutdown_if_done(self);
  // With no connection left to serve them, waiters learn why at once rather
  // than at their deadline (e.g. auth_failed for a wrong password).
  if (open_count(st) == 0 && st.last_connect_error && !st.waiters.empty())
    fail_waiters(self, st.last_connect_error);
  grow(self);
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

pool_stats make_stats(const manager_state& st) {
  auto result = st.counters;
  for (auto& slot : st.slots) {
    switch (slot.state) {
    case conn_state::free:
      continue;
    case conn_state::connecting:
      ++result.connecting;
      break;
    case conn_state::idle:
      ++result.idle;
      break;
    case conn_state::busy:
      ++result.busy;
      break;
    case conn_state::leased:
      ++result.leased;
      break;
    case conn_state::cleaning:
      ++result.cleaning;
      break;
    }
    ++result.total;
  }
  result.waiting = static_cast<uint32_t>(st.waiters.size());
  return result;
}

manager_actor::behavior_type
manager_impl(manager_ptr self, std::shared_ptr<const pool_context> ctx) {
  self->state.ctx = std::move(ctx);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    for (uint32_t id = 0; id < st.slots.size(); ++id)
      if (st.slots[id].state != conn_state::free &&
          st.slots[id].worker.address() == dm.source) {
        on_worker_down(self, id, dm.reason);
        return;
      }
    on_holder_down(self, dm.source);
  });
  grow(self);
  return {
    [=](query_atom, statement& stmt) -> caf::result<query_result> {
      if (stmt.sql.empty())
        return make_error(pool_errc::invalid_request, "query: empty SQL");
      waiter w;
      w.kind = waiter::query;
      w.stmts.emplace_back(std::move(stmt));
      return admit<query_result>(self, std::move(w),
                                 self->state.ctx->cfg.acquire_timeout);
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
      return admit<std::vector<query_result>>(
        self, std::move(w), self->state.ctx->cfg.acquire_timeout);
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
      return admit<lease>(self, std::move(w), timeout);
    },
    [=](release_atom, uint64_t lease_id) -> caf::result<caf::ok_atom> {
      if (self->state.leases.count(lease_id) == 0)
        return make_error(pool_errc::invalid_lease, "release: lease " +
                                                      std::to_string(lease_id) +
                                                      " is not held");
      end_lease(self, lease_id);
      return caf::ok_atom::value;
    },
    [=](stats_atom) { return make_stats(self->state); },
    [=](shutdown_atom, caf::timespan deadline) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      auto rp = self->make_response_promise();
      st.shutdown_rps.push_back(rp);
      if (!st.counters.shutting_down) {
        st.counters.shutting_down = true;
        log(self).info("shutting down: {} waiters, {} leases",
                       st.waiters.size(), st.leases.size());
        fail_waiters(self, make_error(pool_errc::shutting_down,
                                      "the pool is shutting down"));
        for (auto id : st.idle)
          close_slot(self, id);
        st.idle.clear();
        for (uint32_t id = 0; id < st.slots.size(); ++id)
          if (st.slots[id].state == conn_state::connecting)
            close_slot(self, id);
        self->delayed_send(self, std::max(deadline, caf::timespan{0}),
                           close_atom::value);
      }
      finish_shutdown_if_done(self);
      return rp;
    },
    [=](ready_atom, uint32_t id) {
      auto& st = self->state;
      --st.connecting;
      ++st.counters.connections_created;
      st.backoff = caf::timespan{0};
      st.last_connect_error = caf::error{};
      on_free(self, id);
      grow(self);
    },
    [=](done_atom, uint32_t id) { on_free(self, id); },
    [=](expire_atom, uint64_t wid) {
      auto& st = self->state;
      auto i = st.waiters.find(wid);
      if (i == st.waiters.end())
        return;
      ++st.counters.acquire_timeouts;
      i->second.rp.deliver(make_error(pool_errc::acquire_timeout,
                                      "no connection became available"));
      st.waiters.erase(i);
    },
    [=](tick_atom) {
      self->state.retry_pending = false;
      auto& st = self->state;
      // One probe connect at a time while connects fail.
      if (st.connecting == 0 && !st.counters.shutting_down) {
        auto open = open_count(st);
        if (open < st.ctx->cfg.max_size &&
            (open < st.ctx->cfg.min_size || !st.waiters.empty()))
          spawn_connection(self);
      }
    },
    [=](close_atom) {
      // The shutdown deadline: close what is still leased or busy.
      auto& st = self->state;
      for (uint32_t id = 0; id < st.slots.size(); ++id) {
        auto s = st.slots[id].state;
        if (s == conn_state::leased || s == conn_state::busy)
          close_slot(self, id);
      }
    },
  };
}

} // namespace

manager_actor spawn_manager(caf::actor_system& sys,
                            std::shared_ptr<const pool_context> ctx) {
  return sys.spawn(manager_impl, std::move(ctx));
}

} // namespace pool
