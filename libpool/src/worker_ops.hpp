#pragma once

// The connection worker's operations, shared by its single-statement path
// and behaviour (worker.cpp) and its pipeline (worker_pipeline.cpp). All run
// in the worker actor.

#include <cstdint>
#include <type_traits>
#include <utility>

#include "caf/typed_event_based_actor.hpp"

#include "reply.hpp"
#include "worker.hpp"

namespace pool::worker_ops {

using worker_ptr = worker_actor::stateful_pointer<worker_state>;

/// The worker's clock (virtual under the test coordinator).
caf::timespan now(worker_ptr self);

/// Arms the watchdog tick for `at`, unless it is armed for that time or
/// earlier already.
void arm_tick(worker_ptr self, caf::timespan at);

/// How long the watchdog waits before looking again at a pipelined query
/// past its deadline that is not running on the server yet.
caf::timespan recheck_interval(const pool_config& cfg);

/// Tells the manager the SQLSTATE class of `err` if `op` is a statement (a
/// pooled query or transaction, or a query on a lease) and `err` carries one.
void note_failure(worker_ptr self, const worker_op& op, const caf::error& err);

/// Sends the trace `end` event of `op` (a statement or transaction whose
/// `start` was traced), with `err` if it failed.
void trace_end(worker_ptr self, const worker_op& op, const caf::error* err);

/// Answers `op`'s promise with `x` unless it was answered.
template <class T>
void answer(worker_ptr self, worker_op& op, T&& x) {
  if (op.answered || !op.rp.pending())
    return;
  op.answered = true;
  if constexpr (std::is_same<std::decay_t<T>, caf::error>::value) {
    note_failure(self, op, x);
    if (op.started.count() != 0)
      trace_end(self, op, &x);
  } else {
    if (op.started.count() != 0)
      trace_end(self, op, nullptr);
  }
  reply::deliver(self, op.rp, std::forward<T>(x));
}

/// Sends the trace `start` event of `op`'s statement `stmt` (a query) or,
/// with no `stmt`, of the transaction `op`. Call `trace_start`.
void trace_start_event(worker_ptr self, worker_op& op, const statement* stmt);

/// `trace_start_event` if the pool traces: without a tracer, the query path
/// pays one null test here and no call.
inline void trace_start(worker_ptr self, worker_op& op, const statement* stmt) {
  if (self->state.ctx->trace)
    trace_start_event(self, op, stmt);
}

/// Hands a pooled request that never ran back to the manager (as a
/// `retry`); anything else is answered with `err`.
void hand_back(worker_ptr self, worker_op& op, const caf::error& err);

/// The connection broke: answers what ran, hands back what did not, reports
/// the loss to the manager and lingers until it says `close`.
void fail(worker_ptr self, const caf::error& err);

/// A fatal error as connection_lost, in the server's own words.
caf::error as_lost(const caf::error& err);

/// Answers the pooled request `op` with `res`; a `run` whose statement the
/// worker did not cancel (`cancelled`) but that failed with 57014 from a
/// cancel meant for an earlier statement is handed back instead: the cancel
/// rolled it back.
void answer_result(worker_ptr self, worker_op& op,
                   caf::expected<query_result>& res, bool cancelled);

/// The statement of `op` ran past `deadline`: cancels it the first time
/// (answering query_timeout, `deadline` becomes the end of the cancel's
/// grace period), gives up on the connection after that. Returns false if
/// the worker failed.
bool on_overdue(worker_ptr self, worker_op& op, bool& cancelled,
                caf::timespan& deadline);

/// Starts queued operations while the connection can take them.
void start_next(worker_ptr self);

/// A new operation of `kind` answering the current request.
worker_op make_op(worker_ptr self, worker_op::kind_t kind);

/// Queues `op`; its caller is answered through the returned promise.
caf::response_promise submit(worker_ptr self, worker_op op);

/// The current operation is over: the worker is idle (the manager is told
/// unless the connection is leased) and starts what is queued.
void finish_op(worker_ptr self);

/// Sends the notifications that arrived to the lease's listener, if any.
void pass_notifications(worker_ptr self);

/// The connection is open and initialized: the worker tells the manager it
/// is ready, with its capacity and endpoint, and starts what is queued.
void become_ready(worker_ptr self);

// -- hooks (worker_hooks.cpp)
// ---------------------------------------------------

/// The connection is open: runs the after_connect hook's statements
/// (`after_connect_sql`, then the callback's), then `become_ready`. A
/// statement that fails, a throwing callback or an open transaction fails
/// the connect with `connect_failed` ("after_connect: ...").
void after_connect(worker_ptr self);

/// The after_connect statement at `st.step` finished with `res`.
void on_init_result(worker_ptr self, caf::expected<query_result>& res);

/// Whether a hook's SQL said no: its first row's first value is false ("f",
/// "false", "0", "no" or "off", any case).
bool says_no(const query_result& res);

// -- streams and COPY on a lease (worker_stream.cpp) -------------------------

/// `stream` (mode rows) and `copy_out`: checks the request and queues it.
caf::result<stream_end> request_stream(worker_ptr self, uint64_t lease_id,
                                       stream_mode mode, statement& stmt,
                                       caf::actor& receiver, uint32_t limit);

/// `copy_in`: checks the request and queues it; `ok` once the server takes
/// data.
caf::result<caf::ok_atom> request_copy_in(worker_ptr self, uint64_t lease_id,
                                          statement& stmt);

/// `copy_data` (`end` false) and `copy_end` (`data`: the failure message):
/// queued behind the COPY's running piece, or answered at once.
caf::response_promise request_copy(worker_ptr self, uint64_t lease_id, bool end,
                                   std::string& data);

/// Starts the stream `st.current` (phase `streaming`).
void start_stream_op(worker_ptr self);

/// Moves the stream on: reads while the receiver keeps up, sends chunks,
/// feeds COPY data, ends it.
void pump_stream(worker_ptr self);

/// Stops the stream early with `why`: cancels the statement (or aborts the
/// COPY in) and discards the rest of its result.
void stop_stream(worker_ptr self, caf::error why);

/// The connection is given up during a stream: the receiver gets the
/// `stream_end` with `err`, waiting COPY requests get `err`.
void abort_stream(worker_ptr self, const caf::error& err);

/// The watchdog for a stream: no progress for query_timeout stops it, a
/// stop the server ignores for the grace period fails the connection.
void on_stream_tick(worker_ptr self);

/// The receiver acknowledged the chunks of `stream` up to `seq`.
void on_stream_ack(worker_ptr self, uint64_t stream, uint64_t seq);

/// The receiver asked to cancel `stream`.
void on_stream_cancel(worker_ptr self, uint64_t stream);

/// A monitored actor is down: if it is the stream's receiver, stops the
/// stream and returns true.
bool on_receiver_down(worker_ptr self, const caf::actor_addr& who,
                      const caf::error& reason);

// -- the pipeline (worker_pipeline.cpp) ---------------------------------------

/// Answers every query in the pipeline with `err` (they were sent: whether
/// they ran is unknown, so none is handed back) and empties it.
void drop_pipeline(worker_ptr self, const caf::error& err);

/// Whether `op` joins the connection's pipeline: the manager said it may,
/// and the worker has a pipeline (capacity above 1).
bool joins_pipeline(const worker_state& st, const worker_op& op);

/// Sends the pooled query `op` into the pipeline; the connection holds the
/// sends back while more queries for it are next in the mailbox.
void submit_piped(worker_ptr self, worker_op op);

/// Sends what the connection holds back, if anything (`hold_sends`).
void release_sends(worker_ptr self);

/// The connection made progress while queries are in the pipeline.
void on_pipeline_wake(worker_ptr self);

/// The watchdog for the pipeline.
void on_pipeline_tick(worker_ptr self);

} // namespace pool::worker_ops
