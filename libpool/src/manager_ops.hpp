#pragma once

// The manager's operations on its state, shared by its behavior
// (manager.cpp), its housekeeping (manager_housekeeping.cpp) and the
// operations themselves (manager_ops.cpp). All run in the manager actor.

#include <optional>

#include "caf/expected.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "manager.hpp"
#include "pool/settings.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace pool {

using manager_ptr = manager_actor::stateful_pointer<manager_state>;

/// The manager's clock (virtual under the test coordinator).
caf::timespan now(manager_ptr self);

/// Runs a pooled stream (pooled_stream.cpp): an actor leases a connection
/// within acquire_timeout, streams `stmt` to `receiver` on it, releases it
/// and answers `rp` with the `stream_end` or the error.
void start_pooled_stream(manager_ptr self, statement stmt, caf::actor receiver,
                         uint32_t rows,
                         caf::typed_response_promise<stream_end> rp);

spdlog::logger& log(manager_ptr self);

/// Admits a request that needs a connection: serves it from the idle set
/// when nobody waits, else queues it (FIFO, bounded, with its deadline) — or
/// refuses it at once (`shutting_down`, `circuit_open`, `overloaded`,
/// `queue_full`). Returns the promise the reply will go through.
///
/// A `retry` (a request a worker handed back: it never ran) is neither
/// refused nor queued behind new requests: it goes to the front.
caf::expected<caf::response_promise>
admit(manager_ptr self, waiter w, caf::timespan timeout, bool retry = false);

/// The pool's statistics now: the counters and the gauges computed from the
/// connection table, the lease table and the waiter queue (no side effects).
pool_stats snapshot(manager_ptr self);

/// The deadline timer fired: answers every waiter past its deadline with
/// `acquire_timeout` (its message says how long it waited and why: the
/// connections leased, busy, idle and connecting against max_size, the
/// oldest lease's age and holder, the waiters, a breaker that is not
/// closed), then arms the timer for the next deadline.
void expire_due(manager_ptr self);

/// Ends the overload window if it is over and decides on shedding.
void roll_window(manager_ptr self);

/// `roll_window` at the time `t` the caller already read.
void roll_window(manager_ptr self, caf::timespan t);

/// The start of a wait that began at `since`, counted from the last resume:
/// time held by a pause is not a wait of an overloaded pool.
caf::timespan unpaused_since(const manager_state& st, caf::timespan since);

/// Tells the supervisor how many connections the pool wants, if changed.
void update_want(manager_ptr self);

/// Serves waiters from the idle set while both are non-empty.
void dispatch(manager_ptr self);

/// The connection `id` became free: serve the oldest waiter, park it idle,
/// or close it (shutting down, retiring).
void on_free(manager_ptr self, uint32_t id);

/// A connection came back free: runs the after_release hook (its SQL's
/// verdict came as `discard_atom`, then the callback). Returns true if the
/// connection stays; else it is closed (close reason `hook`) and replaced.
bool released_ok(manager_ptr self, uint32_t id);

/// The worker of connection `id` gave `n` credits back (`done`): with
/// queries still in its pipeline, the oldest waiter may join it; with all
/// its credit back, the connection is free.
void on_done(manager_ptr self, uint32_t id, uint32_t n);

/// Tells the connection's worker to close (counted under `why` once it is
/// gone); it is gone once its down message arrives.
void close_slot(manager_ptr self, uint32_t id,
                close_reason why = close_reason::other);

/// Pings the connection `id` (with `before_acquire`, runs the before_acquire
/// hook's SQL instead, if configured); on success it goes to the waiter
/// parked on it (or back to the idle set), on failure or a hook's no it is
/// closed and that waiter goes back to its place in the queue.
void validate(manager_ptr self, uint32_t id, bool before_acquire);

/// The outcome of `validate`: whether the connection may be used, or why
/// it failed.
void on_validated(manager_ptr self, uint32_t id, caf::expected<bool> ok);

/// Ends a lease: the worker cleans the connection and then reports `done`.
void end_lease(manager_ptr self, uint64_t lease_id);

void on_worker_down(manager_ptr self, uint32_t id, const caf::error& reason);

/// Answers every waiter with `err`, including those parked on a
/// connection under validation.
void fail_waiters(manager_ptr self, const caf::error& err);

caf::error shutting_down_error();

/// `circuit_open`, carrying the last connect error.
caf::error circuit_open_error(manager_ptr self);

/// Quits once shutting down and every connection is closed.
void finish_shutdown_if_done(manager_ptr self);

/// Health checks, idle timeouts, leak detection and lease timeouts; run on
/// every housekeeping tick.
void housekeeping(manager_ptr self);

/// How often the housekeeping tick runs.
caf::timespan housekeeping_interval(const pool_config& cfg);

// -- operating a running pool (manager_admin.cpp) ----------------------------

/// Whether more connections are open or being opened than max_open allows
/// after a shrink (resize, limit): a connection that comes back is closed
/// then. Clears `shrinking` once the pool is within max_open.
bool over_max(manager_ptr self);

/// Applies a change of settings (`reconfigure`, `resize`): validates the
/// result like `validate(pool_config)` (`invalid_request` naming the field,
/// prefixed with `what`), shares the new context with the supervisor and
/// the workers, closes idle connections above a smaller max_size, and
/// resets the connections if a setting that needs new ones changed.
caf::error reconfigure(manager_ptr self, const pool_settings& x,
                       const std::string& what);

/// Caps the pool at `limit` connections below max_size (`limit_atom`):
/// closes idle connections above it at once, the others when they come back.
void set_limit(manager_ptr self, uint64_t limit);

/// Starts (or joins) a pause with its own `deadline`; see `pause_atom`.
caf::result<caf::ok_atom> pause(manager_ptr self, caf::timespan deadline);

/// The deadline of the pause `n` passed: answers it with `pause_timeout`
/// if it still drains.
void pause_deadline(manager_ptr self, uint64_t n);

/// Ends a pause (cancelling those that drain) and serves the waiters.
void resume(manager_ptr self);

/// Answers every pause still draining with `err`.
void cancel_pauses(manager_ptr self, const caf::error& err);

/// While paused: answers the pauses that drain once no lease is held and
/// nothing runs (and closes idle connections with pause_closes_idle).
void check_drained(manager_ptr self);

/// Replaces every connection: idle ones now, the others when they come back,
/// and the connects under way when they are ready.
void reset(manager_ptr self);

/// Replaces the connection `id` as `reset` does: closes it if idle (returns
/// true; the caller updates the wanted count), else marks it to be closed
/// when it comes back (returns false).
bool reset_one(manager_ptr self, uint32_t id);

} // namespace pool
