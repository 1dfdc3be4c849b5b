// The worker's pipeline: pooled autocommit queries of plain DML kept in
// flight together on the connection (`connection::submit`), each answered
// from its own result, with its own deadline.

#include <algorithm>
#include <chrono>

#include "pool/error.hpp"

#include "worker_ops.hpp"

namespace pool::worker_ops {

namespace {

// A pipelined query finished with `res`. Returns whether it was in the
// pipeline (and is now answered and gone from it).
bool on_piped_result(worker_ptr self, uint64_t tag,
                     caf::expected<query_result>& res) {
  auto& st = self->state;
  auto i = st.pipeline.find(tag);
  if (i == st.pipeline.end())
    return false;
  if (!res && st.ctx->db->rules().is_fatal(res.error())) {
    fail(self, as_lost(res.error()));
    return false;
  }
  answer_result(self, (*i)->op, res, (*i)->cancelled);
  st.pipeline.erase(i);
  return true;
}

} // namespace

// Answers every query in the pipeline with `err` (they were sent: whether
// they ran is unknown, so none is handed back) and empties it.
void drop_pipeline(worker_ptr self, const caf::error& err) {
  auto& st = self->state;
  for (auto& p : st.pipeline)
    answer(self, p->op, err);
  st.pipeline.clear();
}

bool joins_pipeline(const worker_state& st, const worker_op& op) {
  return op.kind == worker_op::run && op.piped && st.capacity > 1;
}

namespace {

// Whether the next message already in the worker's mailbox is a query
// (`run_atom`). Looks only at what the current run of the mailbox fetched.
bool run_follows(worker_ptr self) {
  auto next = self->mailbox().queue().peek();
  if (next == nullptr)
    return false;
  auto& x = next->content();
  return x.size() > 0 && x.match_element<caf::atom_value>(0) &&
         x.get_as<caf::atom_value>(0) == run_atom::value;
}

} // namespace

void release_sends(worker_ptr self) {
  auto& st = self->state;
  if (st.sends_held && st.conn) {
    st.sends_held = false;
    st.conn->release_sends();
  }
}

// Sends the pooled query `op` into the pipeline.
void submit_piped(worker_ptr self, worker_op op) {
  auto& st = self->state;
  st.phase = worker_state::pipelining;
  auto& p = st.pipeline.push();
  p.tag = st.next_tag++;
  p.op = std::move(op);
  p.deadline = now(self) + st.ctx->cfg.query_timeout;
  // Another connection of the pool was busy and another query for this one
  // is next in the mailbox: the connection holds back what it sends until
  // the last of the run has been submitted, so that they travel as one
  // transmission and wake the server once. With this one backend busy the
  // query goes at once: holding then made client and server take turns
  // instead of overlapping (measured at 4x4: p50 55 -> 105-125 µs when held
  // whenever a query followed). A push message queued behind the run
  // releases the sends in any case.
  bool more = p.op.may_hold && run_follows(self);
  if (more && !st.sends_held) {
    st.sends_held = true;
    st.conn->hold_sends();
    self->send(self, push_atom::value);
  }
  // The statement stays put until the entry is erased, as the backend
  // requires.
  trace_start(self, p.op, &p.op.stmt);
  st.conn->submit(p.tag, p.op.stmt);
  if (!more)
    release_sends(self);
  arm_tick(self, p.deadline); // no-op unless it is the earliest deadline
}

// The connection made progress while queries are in the pipeline.
void on_pipeline_wake(worker_ptr self) {
  auto& st = self->state;
  st.finished.clear();
  auto in_flight = st.conn->poll_pipeline(st.finished);
  // Queries the server never started (it ended the session on an earlier
  // one) go back to the manager first: the loss below answers the rest.
  for (auto& r : st.finished)
    if (r.not_run) {
      auto i = st.pipeline.find(r.tag);
      if (i != st.pipeline.end()) {
        hand_back(self, (*i)->op, r.result.error());
        st.pipeline.erase(i);
      }
    }
  uint32_t answered = 0; // reported in one `done` per wake-up
  for (auto& r : st.finished) {
    if (r.not_run)
      continue;
    if (on_piped_result(self, r.tag, r.result))
      ++answered;
    if (st.phase != worker_state::pipelining)
      return; // failed: the manager learns of it from `lost`
  }
  if (answered > 0)
    self->send(st.manager, done_atom::value, st.id, answered);
  // The connection may have statements of its own in flight.
  if (!st.pipeline.empty() || in_flight > 0)
    return;
  st.phase = worker_state::idle;
  // Plain DML cannot leave a transaction open; if it did, neighbours
  // would have joined it: discard the connection rather than guess.
  if (st.conn->transaction_status() != tx_status::idle) {
    fail(self, make_error(pool_errc::connection_lost,
                          "connection left in an unknown state"));
    return;
  }
  start_next(self);
}

// The watchdog for the pipeline: a query past its deadline is answered with
// query_timeout; the oldest, the one running on the server, is also
// cancelled, and the connection is given up if the cancel does not land
// within its grace period.
void on_pipeline_tick(worker_ptr self) {
  auto& st = self->state;
  auto t = now(self);
  auto next = caf::timespan::max();
  auto front = st.pipeline.begin();
  for (auto i = front; i != st.pipeline.end(); ++i) {
    auto& p = **i;
    if (t < p.deadline) {
      next = std::min(next, p.deadline);
      continue;
    }
    if (i != front) {
      answer(self, p.op,
             make_error(pool_errc::query_timeout,
                        "statement not finished after query_timeout"));
      // Cancelled once it runs on the server (the front): look again.
      next = std::min(next, t + recheck_interval(st.ctx->cfg));
      continue;
    }
    if (!on_overdue(self, p.op, p.cancelled, p.deadline))
      return;
    next = std::min(next, p.deadline);
  }
  if (next != caf::timespan::max())
    arm_tick(self, next);
}

} // namespace pool::worker_ops
