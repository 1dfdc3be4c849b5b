#include "worker.hpp"

#include <algorithm>

#include "caf/actor_system.hpp"
#include "caf/local_actor.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "pool/error.hpp"

#include "statement_check.hpp"
#include "trace.hpp"
#include "worker_ops.hpp"

#include <spdlog/spdlog.h>

namespace pool {

const char* worker_state::name = "pool.worker";

namespace worker_ops {

caf::timespan now(worker_ptr self) {
  return self->clock().now().time_since_epoch();
}

caf::timespan recheck_interval(const pool_config& cfg) {
  using namespace std::chrono;
  auto base = std::min({cfg.query_timeout, cfg.connect_timeout,
                        cfg.health_check_timeout}) /
              10;
  return std::clamp<caf::timespan>(base, milliseconds(1), seconds(1));
}

void note_failure(worker_ptr self, const worker_op& op, const caf::error& err) {
  if (op.kind == worker_op::ping || op.kind == worker_op::unlease)
    return;
  auto state = sqlstate(err);
  if (state.size() < 2)
    return;
  state.resize(2);
  self->send(self->state.manager, failed_atom::value, std::move(state));
}

// A tick armed for later than one armed since fires anyway; `on_tick`
// ignores it.
void arm_tick(worker_ptr self, caf::timespan at) {
  auto& st = self->state;
  if (at >= st.tick_at)
    return;
  st.tick_at = at;
  self->delayed_send(self, std::max(at - now(self), caf::timespan{0}),
                     tick_atom::value);
}

// Whether `st.current` is an operation in progress.
bool running(const worker_state& st) {
  return st.phase != worker_state::idle &&
         st.phase != worker_state::connecting &&
         st.phase != worker_state::initializing &&
         st.phase != worker_state::dead && st.phase != worker_state::pipelining;
}

void trace_start_event(worker_ptr self, worker_op& op, const statement* stmt) {
  auto& st = self->state;
  // A statement of a transaction times its step; anything else the op.
  (op.kind == worker_op::txn && stmt ? st.step_started : op.started) =
    now(self);
  emit_trace(*st.ctx, stmt ? trace_kind::query : trace_kind::transaction, false,
             st.id, stmt ? &stmt->sql : nullptr);
}

void trace_end(worker_ptr self, const worker_op& op, const caf::error* err) {
  auto& st = self->state;
  if (!st.ctx->trace)
    return;
  bool txn = op.kind == worker_op::txn;
  emit_trace(*st.ctx, txn ? trace_kind::transaction : trace_kind::query, true,
             st.id, txn ? nullptr : &op.stmt.sql, now(self) - op.started, err);
}

// The end of the connect, traced.
void trace_connect_end(worker_ptr self, const caf::error* err) {
  auto& st = self->state;
  if (st.ctx->trace)
    emit_trace(*st.ctx, trace_kind::connect, true, st.id, nullptr,
               now(self) - st.connect_started, err);
}

// Answers every pending operation with `err`, closes the connection and
// exits with `reason`.
void stop(worker_ptr self, const caf::error& err, caf::error reason) {
  auto& st = self->state;
  if (st.phase == worker_state::connecting ||
      st.phase == worker_state::initializing)
    trace_connect_end(self, &err);
  st.ctx->log->debug("worker {}: exits ({} queued)", st.id, st.queue.size());
  abort_stream(self, err);
  if (running(st))
    answer(self, st.current, err);
  drop_pipeline(self, err);
  for (auto& op : st.queue)
    answer(self, op, err);
  st.queue.clear();
  if (st.conn)
    st.conn->close();
  st.conn.reset();
  self->quit(std::move(reason));
}

// Hands a pooled request that never ran back to the manager, which queues it
// for another connection; anything else is answered with `err`.
void hand_back(worker_ptr self, worker_op& op, const caf::error& err) {
  auto& mgr = self->state.manager;
  if (op.answered || !op.rp.pending())
    return;
  op.answered = true;
  if (op.started.count() != 0)
    trace_end(self, op, &err); // it runs again elsewhere, traced there
  if (op.kind == worker_op::run)
    reply::delegate(self, op.rp, mgr, retry_atom::value, std::move(op.stmt),
                    op.piped);
  else if (op.kind == worker_op::txn)
    reply::delegate(self, op.rp, mgr, retry_atom::value, std::move(op.stmts));
  else
    reply::deliver(self, op.rp, err);
}

// The connection broke. Before it was ever ready, the worker just exits with
// `err` (the supervisor counts a failed connect). Afterwards, it answers the
// running operation with `err`, hands queued pooled requests back to the
// manager, reports itself lost, and lingers, answering whatever still
// reaches it, until the manager tells it to close. (Exiting at once would
// make CAF bounce requests the manager routed here meanwhile with a bare
// `request_receiver_down`.)
void fail(worker_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (st.phase == worker_state::connecting ||
      st.phase == worker_state::initializing) {
    stop(self, err, err);
    return;
  }
  if (st.phase == worker_state::dead)
    return;
  abort_stream(self, err);
  if (running(st))
    answer(self, st.current, err);
  drop_pipeline(self, err);
  for (auto& op : st.queue)
    hand_back(self, op, err);
  st.queue.clear();
  st.current = worker_op{};
  st.conn->close();
  st.conn.reset();
  st.phase = worker_state::dead;
  if (st.notify_to) // the pool's listener: it listens again elsewhere
    caf::anon_send(st.notify_to, lost_atom::value, st.lease_id, err);
  st.notify_to = nullptr;
  st.lease_id = 0;
  st.ctx->log->debug("worker {}: lost: {}", st.id, describe(err));
  self->send(st.manager, lost_atom::value, st.id, err);
}

// A fatal error as connection_lost, in the server's own words.
caf::error as_lost(const caf::error& err) {
  if (is(err, pool_errc::connection_lost))
    return err;
  return make_error(pool_errc::connection_lost, error_message(err),
                    sqlstate(err));
}

caf::error lost_error() {
  return make_error(pool_errc::connection_lost, "the connection was lost");
}

// Starts `stmt`, with a deadline: health_check_timeout for pings,
// query_timeout otherwise.
void execute(worker_ptr self, const statement& stmt) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  auto limit = st.current.kind == worker_op::ping ? cfg.health_check_timeout
                                                  : cfg.query_timeout;
  st.deadline = now(self) + limit;
  st.cancelled = false;
  st.conn->execute(stmt);
  arm_tick(self, st.deadline);
}

// The operation is over: tell the manager the connection is free (unless it
// is leased or the manager asked for a ping) and move on. An operation
// outside the pipeline took the worker's whole capacity: all of it comes
// back.
void finish_op(worker_ptr self) {
  auto& st = self->state;
  auto kind = st.current.kind;
  st.phase = worker_state::idle;
  st.current = worker_op{};
  if (kind != worker_op::lease_query && kind != worker_op::ping &&
      kind != worker_op::stream)
    self->send(st.manager, done_atom::value, st.id, st.capacity);
  start_next(self);
}

// Returns the connection clean before the operation ends: rolls back an open
// transaction, runs the reset query after a lease, then answers a pending
// failure. A connection whose state stays unknown is discarded.
void clean_up(worker_ptr self) {
  auto& st = self->state;
  auto tx = st.conn->transaction_status();
  if (tx == tx_status::idle) {
    auto& reset = st.ctx->cfg.reset_query;
    if (st.current.kind == worker_op::unlease && !reset.empty() &&
        st.phase != worker_state::resetting) {
      st.phase = worker_state::resetting;
      execute(self, statement{reset});
      return;
    }
    if (st.current.failure)
      answer(self, st.current, st.current.failure);
    finish_op(self);
    return;
  }
  if (st.phase != worker_state::executing || tx == tx_status::unknown ||
      tx == tx_status::active) {
    auto err = make_error(pool_errc::connection_lost,
                          "connection left in an unknown state");
    fail(self, st.current.failure ? st.current.failure : err);
    return;
  }
  st.phase = worker_state::cleaning;
  execute(self, st.ctx->db->rules().rollback());
}

// Runs the statement at `st.step` of the current operation.
void run_step(worker_ptr self) {
  auto& st = self->state;
  auto& op = st.current;
  auto& rules = st.ctx->db->rules();
  st.phase = worker_state::executing;
  if (op.kind == worker_op::ping && op.stmt.sql.empty()) {
    execute(self, rules.ping());
  } else if (op.kind != worker_op::txn) {
    if (op.kind != worker_op::ping)
      trace_start(self, op, &op.stmt);
    execute(self, op.stmt);
  } else if (st.step == 0) {
    trace_start(self, op, nullptr);
    execute(self, rules.begin());
  } else if (st.step <= op.stmts.size()) {
    trace_start(self, op, &op.stmts[st.step - 1]);
    execute(self, op.stmts[st.step - 1]);
  } else {
    execute(self, rules.commit());
  }
}

// Handles the outcome of one transaction step.
void on_txn_result(worker_ptr self, caf::expected<query_result>& res) {
  auto& st = self->state;
  auto& op = st.current;
  if (st.ctx->trace && st.step >= 1 && st.step <= op.stmts.size())
    emit_trace(*st.ctx, trace_kind::query, true, st.id,
               &op.stmts[st.step - 1].sql, now(self) - st.step_started,
               res ? nullptr : &res.error());
  if (!res) {
    auto n = op.stmts.size();
    auto& rules = st.ctx->db->rules();
    auto where = st.step == 0   ? rules.begin().sql
                 : st.step <= n ? statement_place(st.step - 1, n)
                                : rules.commit().sql;
    auto& err = res.error();
    op.failure =
      is(err, pool_errc::query_failed)
        ? make_error(pool_errc::query_failed, where + ": " + error_message(err),
                     sqlstate(err))
        : err;
    clean_up(self);
    return;
  }
  if (st.step >= 1 && st.step <= op.stmts.size())
    op.results.emplace_back(std::move(*res));
  if (++st.step <= op.stmts.size() + 1) {
    run_step(self);
    return;
  }
  answer(self, op, std::move(op.results));
  clean_up(self);
}

// Whether `err` (of a statement the worker did not cancel) comes from a
// cancel meant for an earlier statement that reached the server late. The
// autocommit statement it hit was rolled back, so it may run elsewhere.
bool hit_by_stray_cancel(worker_ptr self, const caf::error& err) {
  auto& st = self->state;
  return st.cancelled_any && sqlstate(err) == "57014" &&
         now(self) - st.last_cancel < std::chrono::seconds(5);
}

void answer_result(worker_ptr self, worker_op& op,
                   caf::expected<query_result>& res, bool cancelled) {
  if (res)
    answer(self, op, std::move(*res));
  else if (op.kind == worker_op::run && !cancelled &&
           hit_by_stray_cancel(self, res.error()))
    hand_back(self, op, res.error());
  else
    answer(self, op, std::move(res.error()));
}

// Handles the outcome of the statement that just finished.
void on_result(worker_ptr self, caf::expected<query_result> res) {
  auto& st = self->state;
  auto& op = st.current;
  if (st.phase == worker_state::initializing) {
    on_init_result(self, res);
    return;
  }
  if (!res && st.ctx->db->rules().is_fatal(res.error())) {
    auto err = as_lost(res.error());
    // A pooled query, or a transaction before its BEGIN, that the server
    // provably never received runs on another connection.
    if (st.phase == worker_state::executing && st.conn->not_run() &&
        (op.kind == worker_op::run ||
         (op.kind == worker_op::txn && st.step == 0)))
      hand_back(self, op, err);
    fail(self, err);
    return;
  }
  switch (st.phase) {
  case worker_state::cleaning:
    clean_up(self);
    return;
  case worker_state::resetting:
    if (res && says_no(*res)) {
      st.ctx->log->info("connection {}: reset_query said to discard it", st.id);
      self->send(st.manager, discard_atom::value, st.id);
    }
    if (res)
      finish_op(self);
    else
      fail(self, make_error(pool_errc::connection_lost,
                            "reset_query failed: " + describe(res.error())));
    return;
  default:
    break;
  }
  if (op.kind == worker_op::ping) {
    bool hook = !op.stmt.sql.empty();
    if (!res && !hook) {
      fail(self, make_error(pool_errc::connection_lost,
                            "health check failed: " + describe(res.error())));
      return;
    }
    // The connection works; whether it may be used is the hook's to say.
    bool usable = res && !says_no(*res);
    if (!res)
      st.ctx->log->warn("connection {}: before_acquire failed: {}", st.id,
                        describe(res.error()));
    else if (!usable)
      st.ctx->log->info("connection {}: before_acquire said no", st.id);
    answer(self, op, usable);
    finish_op(self);
    return;
  }
  // A statement that ran past its deadline was answered with a timeout
  // already; a transaction must then not go on to COMMIT.
  if (st.cancelled && (!res || op.kind == worker_op::txn))
    res = make_error(pool_errc::query_timeout,
                     "statement cancelled after query_timeout",
                     res ? std::string{} : sqlstate(res.error()));
  if (op.kind == worker_op::txn) {
    on_txn_result(self, res);
    return;
  }
  answer_result(self, op, res, st.cancelled);
  if (op.kind == worker_op::lease_query)
    finish_op(self);
  else
    clean_up(self);
}

// Before the pooled request `op` goes out on the idle connection: if the
// server ended the session meanwhile (its goodbye is readable, the idle
// watch has not reported it yet), nothing was sent, so `op` is handed back
// to run elsewhere and the connection given up; returns false then. Only
// requests that can move are checked, once per idle period: queries joining
// a busy pipeline follow a result just read.
bool still_open(worker_ptr self, worker_op& op) {
  if (op.kind != worker_op::run && op.kind != worker_op::txn)
    return true;
  auto err = self->state.conn->check_before_send();
  if (!err)
    return true;
  hand_back(self, op, err);
  fail(self, err);
  return false;
}

// Whether the connection can take `op` now: a pipelinable query while the
// pipeline has room, anything else once the connection is idle.
bool can_start(const worker_state& st, const worker_op& op) {
  if (joins_pipeline(st, op))
    return (st.phase == worker_state::idle ||
            st.phase == worker_state::pipelining) &&
           st.pipeline.size() < st.capacity;
  return st.phase == worker_state::idle;
}

// Starts `op`, which `can_start`.
void start(worker_ptr self, worker_op op) {
  auto& st = self->state;
  if (joins_pipeline(st, op)) {
    if (st.phase == worker_state::idle && !still_open(self, op))
      return;
    submit_piped(self, std::move(op));
    return;
  }
  st.current = std::move(op);
  st.step = 0;
  if (st.current.kind == worker_op::stream) {
    start_stream_op(self);
    return;
  }
  if (st.current.kind == worker_op::unlease) {
    st.phase = worker_state::executing;
    clean_up(self);
    return;
  }
  if (!still_open(self, st.current))
    return;
  run_step(self);
}

// Starts queued operations, in order, while the connection can take them.
void start_next(worker_ptr self) {
  auto& st = self->state;
  while (!st.queue.empty() && can_start(st, st.queue.front())) {
    auto op = std::move(st.queue.front());
    st.queue.pop_front();
    start(self, std::move(op)); // may fail the worker, emptying the queue
  }
}

// An operation that can start at once does not go through the queue.
void enqueue(worker_ptr self, worker_op op) {
  auto& st = self->state;
  if (st.queue.empty() && can_start(st, op)) {
    start(self, std::move(op));
    return;
  }
  st.queue.emplace_back(std::move(op));
  start_next(self);
}

// The statement of `op` ran past `deadline`. The first time, asks the
// server to cancel it, answers `op` with query_timeout and moves `deadline`
// to the end of the grace period the cancel gets: at least a few seconds, so
// that on a busy box a short query_timeout does not discard healthy
// connections. After the grace period, gives up on the connection. Returns
// false if the worker failed.
bool on_overdue(worker_ptr self, worker_op& op, bool& cancelled,
                caf::timespan& deadline) {
  auto& st = self->state;
  if (cancelled) {
    fail(self, make_error(pool_errc::connection_lost,
                          "the server did not answer a cancel request"));
    return false;
  }
  auto t = now(self);
  cancelled = true;
  st.cancelled_any = true;
  st.last_cancel = t;
  st.conn->cancel();
  answer(self, op,
         make_error(pool_errc::query_timeout,
                    "statement cancelled after query_timeout"));
  deadline = t + std::max<caf::timespan>(st.ctx->cfg.query_timeout,
                                         std::chrono::seconds(2));
  return true;
}

// Sends the notifications that arrived on the connection to the listener
// of the lease, if any; else drops them (only the pool's listener LISTENs).
void pass_notifications(worker_ptr self) {
  auto& st = self->state;
  st.conn->take_notifications(st.notes);
  if (st.notify_to)
    for (auto& x : st.notes)
      caf::anon_send(st.notify_to, std::move(x));
  st.notes.clear();
}

void become_ready(worker_ptr self) {
  auto& st = self->state;
  trace_connect_end(self, nullptr);
  st.phase = worker_state::idle;
  // The worker owns its capacity and tells the manager once.
  auto depth = static_cast<uint32_t>(st.ctx->cfg.pipeline_depth);
  st.capacity = depth > 1 && st.conn->can_pipeline() ? depth : 1;
  self->send(st.manager, ready_atom::value, st.id,
             caf::actor_cast<worker_actor>(self), st.capacity,
             st.conn->endpoint());
  start_next(self);
}

void on_wake(worker_ptr self) {
  auto& st = self->state;
  switch (st.phase) {
  case worker_state::connecting: {
    caf::error err;
    if (st.conn->poll_connect(err) == poll_status::pending)
      return;
    if (err) {
      fail(self, err);
      return;
    }
    after_connect(self); // then become_ready
    return;
  }
  case worker_state::dead:
    return;
  case worker_state::pipelining:
    on_pipeline_wake(self);
    return;
  case worker_state::streaming:
    pump_stream(self);
    return;
  case worker_state::idle: {
    // The backend watches idle connections: a server that closed the
    // connection (restart, pg_terminate_backend) is noticed now, and so are
    // notifications.
    auto err = st.conn->check_idle();
    pass_notifications(self);
    if (err)
      fail(self, err);
    return;
  }
  default: {
    caf::expected<query_result> res{query_result{}};
    if (st.conn->poll_result(res) == poll_status::pending)
      return;
    if (st.notify_to)
      pass_notifications(self);
    on_result(self, std::move(res));
    return;
  }
  }
}

// The watchdog: cancels a statement past its deadline and answers its caller
// with query_timeout; gives up on a connection whose cancel did not complete
// within a grace period, or whose ping or connect took too long.
void on_tick(worker_ptr self) {
  auto& st = self->state;
  if (now(self) < st.tick_at)
    return; // superseded by a tick armed for earlier, which re-armed
  st.tick_at = caf::timespan::max();
  if (st.phase == worker_state::idle || st.phase == worker_state::dead)
    return;
  if (st.phase == worker_state::pipelining) {
    on_pipeline_tick(self);
    return;
  }
  if (st.phase == worker_state::streaming) {
    on_stream_tick(self);
    return;
  }
  if (now(self) < st.deadline) {
    arm_tick(self, st.deadline);
    return;
  }
  if (st.phase == worker_state::connecting ||
      st.phase == worker_state::initializing) {
    fail(self, make_error(pool_errc::connect_failed,
                          st.phase == worker_state::connecting
                            ? "no connection within connect_timeout"
                            : "after_connect: its statements did not finish "
                              "within connect_timeout"));
    return;
  }
  if (st.current.kind == worker_op::ping) {
    fail(self,
         make_error(pool_errc::connection_lost, "health check timed out"));
    return;
  }
  if (on_overdue(self, st.current, st.cancelled, st.deadline))
    arm_tick(self, st.deadline);
}

worker_op make_op(worker_ptr self, worker_op::kind_t kind) {
  worker_op op;
  op.kind = kind;
  op.rp = self->make_response_promise();
  return op;
}

// Queues `op`; its caller is answered through the returned promise.
caf::response_promise submit(worker_ptr self, worker_op op) {
  auto rp = op.rp;
  enqueue(self, std::move(op));
  return rp;
}

// Queues an operation on one statement (none for a ping).
caf::response_promise submit(worker_ptr self, worker_op::kind_t kind,
                             statement stmt = {}) {
  auto op = make_op(self, kind);
  op.stmt = std::move(stmt);
  return submit(self, std::move(op));
}

worker_actor::behavior_type
worker_impl(worker_ptr self, uint32_t id, manager_actor manager,
            std::shared_ptr<const pool_context> ctx) {
  auto& st = self->state;
  st.id = id;
  st.manager = manager;
  st.ctx = std::move(ctx);
  self->monitor(manager);
  self->set_down_handler([=](caf::down_msg& dm) {
    if (dm.source != self->state.manager.address()) {
      on_receiver_down(self, dm.source, dm.reason);
      return;
    }
    auto err = make_error(pool_errc::shutting_down, "the pool is gone");
    stop(self, err, err);
  });
  st.conn = st.ctx->db->create(st.ctx->cfg, waker{self->address()});
  st.connect_started = now(self);
  if (st.ctx->trace)
    emit_trace(*st.ctx, trace_kind::connect, false, st.id);
  st.deadline = now(self) + st.ctx->cfg.connect_timeout;
  st.conn->connect();
  arm_tick(self, st.deadline);
  return {
    [=](run_atom, statement& stmt, bool piped,
        bool others_busy) -> caf::result<query_result> {
      if (self->state.phase == worker_state::dead)
        return self->delegate(self->state.manager, retry_atom::value,
                              std::move(stmt), piped);
      auto op = make_op(self, worker_op::run);
      op.stmt = std::move(stmt);
      op.piped = piped;
      op.may_hold = others_busy;
      return submit(self, std::move(op));
    },
    [=](transaction_atom, std::vector<statement>& stmts)
      -> caf::result<std::vector<query_result>> {
      if (self->state.phase == worker_state::dead)
        return self->delegate(self->state.manager, retry_atom::value,
                              std::move(stmts));
      auto op = make_op(self, worker_op::txn);
      op.stmts = std::move(stmts);
      return submit(self, std::move(op));
    },
    [=](query_atom, uint64_t lease_id,
        statement& stmt) -> caf::result<query_result> {
      if (self->state.phase == worker_state::dead)
        return lost_error();
      if (lease_id == 0 || lease_id != self->state.lease_id)
        return make_error(pool_errc::invalid_lease,
                          "lease " + std::to_string(lease_id) +
                            " is not held on this connection");
      if (auto err = check_statement(stmt, "query"))
        return err;
      return submit(self, worker_op::lease_query, std::move(stmt));
    },
    [=](stream_atom, uint64_t lease_id, statement& stmt, caf::actor& to,
        uint32_t rows_per_chunk) -> caf::result<stream_end> {
      return request_stream(self, lease_id, stream_mode::rows, stmt, to,
                            rows_per_chunk);
    },
    [=](copy_out_atom, uint64_t lease_id, statement& stmt, caf::actor& to,
        uint32_t bytes_per_chunk) -> caf::result<stream_end> {
      return request_stream(self, lease_id, stream_mode::copy_out, stmt, to,
                            bytes_per_chunk);
    },
    [=](copy_in_atom, uint64_t lease_id,
        statement& stmt) -> caf::result<caf::ok_atom> {
      return request_copy_in(self, lease_id, stmt);
    },
    [=](copy_data_atom, uint64_t lease_id,
        std::string& data) -> caf::result<caf::ok_atom> {
      return request_copy(self, lease_id, false, data);
    },
    [=](copy_end_atom, uint64_t lease_id,
        std::string& failure) -> caf::result<query_result> {
      return request_copy(self, lease_id, true, failure);
    },
    [=](ack_atom, uint64_t stream, uint64_t seq) {
      on_stream_ack(self, stream, seq);
    },
    [=](cancel_atom, uint64_t stream) { on_stream_cancel(self, stream); },
    [=](ping_atom, bool before_acquire) -> caf::result<bool> {
      auto& st = self->state;
      if (st.phase == worker_state::dead)
        return lost_error();
      auto& sql = st.ctx->cfg.before_acquire_sql;
      return submit(self, worker_op::ping,
                    before_acquire && !sql.empty() ? statement{sql}
                                                   : statement{});
    },
    [=](listen_atom, uint64_t lease_id,
        caf::actor& to) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      if (st.phase == worker_state::dead)
        return lost_error();
      if (lease_id == 0 || lease_id != st.lease_id)
        return make_error(pool_errc::invalid_lease,
                          "lease " + std::to_string(lease_id) +
                            " is not held on this connection");
      st.notify_to = std::move(to);
      return caf::ok_atom::value;
    },
    [=](lease_atom, uint64_t lease_id) {
      self->state.lease_id = lease_id;
      self->state.notify_to = nullptr;
    },
    [=](unlease_atom, uint64_t lease_id) {
      if (self->state.phase == worker_state::dead ||
          lease_id != self->state.lease_id)
        return;
      self->state.lease_id = 0;
      self->state.notify_to = nullptr;
      stop_stream(self,
                  make_error(pool_errc::cancelled, "the lease was released"));
      worker_op op;
      op.kind = worker_op::unlease;
      enqueue(self, std::move(op));
    },
    [=](wake_atom) { on_wake(self); },
    [=](push_atom) { release_sends(self); },
    [=](tick_atom) { on_tick(self); },
    [=](close_atom) {
      stop(self, make_error(pool_errc::shutting_down, "connection closed"),
           caf::exit_reason::normal);
    },
    [=](settings_atom, context_ptr& ctx) {
      // The timeouts apply from now on; what the connection was opened with
      // stays (a change of those comes with a reset that replaces it).
      auto& st = self->state;
      auto next = std::make_shared<pool_context>(*ctx);
      auto& old = st.ctx->cfg;
      next->cfg.conninfo = old.conninfo;
      next->cfg.reset_query = old.reset_query;
      next->cfg.statement_cache_size = old.statement_cache_size;
      next->cfg.pipeline_depth = old.pipeline_depth;
      st.ctx = std::move(next);
    },
  };
}

} // namespace worker_ops

worker_actor spawn_worker(caf::local_actor* parent, uint32_t id,
                          manager_actor manager,
                          std::shared_ptr<const pool_context> ctx) {
  return parent->spawn(worker_ops::worker_impl, id, std::move(manager),
                       std::move(ctx));
}

} // namespace pool
