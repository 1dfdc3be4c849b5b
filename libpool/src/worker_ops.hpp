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

/// Answers `op`'s promise with `x` unless it was answered.
template <class T>
void answer(worker_ptr self, worker_op& op, T&& x) {
  if (op.answered || !op.rp.pending())
    return;
  op.answered = true;
  if constexpr (std::is_same<std::decay_t<T>, caf::error>::value)
    note_failure(self, op, x);
  reply::deliver(self, op.rp, std::forward<T>(x));
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
