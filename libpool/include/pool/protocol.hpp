#pragma once

// The whole protocol of the pool on one page: atoms, the lease type, the
// typed actor interfaces and the type ID block. Every type here is
// serializable, so the same calls work from another CAF node once both nodes
// called `pool::add_message_types(cfg)`.

#include <cstdint>
#include <string>
#include <vector>

#include "caf/replies_to.hpp"
#include "caf/type_id.hpp"
#include "caf/typed_actor.hpp"

#include "pool/settings.hpp"
#include "pool/stream.hpp"
#include "pool/types.hpp"

// Atoms are types of their own in CAF 0.17 (no type ID needed).
CAF_ADD_ATOM(libpool, pool, query_atom, "query")
CAF_ADD_ATOM(libpool, pool, acquire_atom, "acquire")
CAF_ADD_ATOM(libpool, pool, release_atom, "release")
CAF_ADD_ATOM(libpool, pool, transaction_atom, "txn")
CAF_ADD_ATOM(libpool, pool, stats_atom, "stats")
CAF_ADD_ATOM(libpool, pool, shutdown_atom, "shutdown")
CAF_ADD_ATOM(libpool, pool, subscribe_atom, "subscribe")
CAF_ADD_ATOM(libpool, pool, resize_atom, "resize")
CAF_ADD_ATOM(libpool, pool, pause_atom, "pause")
CAF_ADD_ATOM(libpool, pool, resume_atom, "resume")
CAF_ADD_ATOM(libpool, pool, reset_atom, "reset")
CAF_ADD_ATOM(libpool, pool, reconfigure_atom, "reconfig")
CAF_ADD_ATOM(libpool, pool, listen_atom, "listen")
CAF_ADD_ATOM(libpool, pool, unlisten_atom, "unlisten")
CAF_ADD_ATOM(libpool, pool, stream_atom, "stream")
CAF_ADD_ATOM(libpool, pool, copy_out_atom, "copyout")
CAF_ADD_ATOM(libpool, pool, copy_in_atom, "copyin")
CAF_ADD_ATOM(libpool, pool, copy_data_atom, "copydata")
CAF_ADD_ATOM(libpool, pool, copy_end_atom, "copyend")
CAF_ADD_ATOM(libpool, pool, ack_atom, "ack")
CAF_ADD_ATOM(libpool, pool, cancel_atom, "cancel")
CAF_ADD_ATOM(libpool, pool, limit_atom, "limit")

namespace pool {

struct lease;

/// The connection side of a lease: requests sent here run on the leased
/// connection, one after another in the order they arrive. Every request
/// can fail with `invalid_lease` (the lease was released, reclaimed, or is
/// not this connection's) and `connection_lost`.
///
/// - `(query_atom, lease_id, statement)` replies `query_result`, or an error:
///   `query_failed` (with SQLSTATE), `query_timeout`, `invalid_request`
///   (malformed statement).
/// - `(stream_atom, lease_id, statement, receiver, rows_per_chunk)` runs the
///   statement and sends its rows to `receiver` as `stream_chunk`s of at
///   most `rows_per_chunk` rows (1 to 1,000,000), then a `stream_end`; the
///   reply is the same `stream_end` once it completed. The receiver
///   acknowledges each chunk (`ack_atom`, see `stream_chunk`); at most
///   `pool_config::stream_window` chunks are unacknowledged at once and the
///   connection reads nothing from the server meanwhile, so memory stays
///   bounded whatever the result's size. The receiver is monitored: if it
///   dies (or its node is lost) or sends `(cancel_atom, stream)`, the
///   statement is cancelled on the server, the rest of its result is
///   discarded and the lease stays usable (inside a transaction block, the
///   transaction is then failed, as after any error). A receiver that
///   acknowledges nothing for `query_timeout`, or a server that sends
///   nothing for as long, ends the stream with `query_timeout`. Errors (in
///   the reply and in the receiver's `stream_end`): `query_failed`,
///   `query_timeout`, `cancelled`, `invalid_request` (no receiver, bad
///   rows_per_chunk, a COPY statement, malformed statement).
/// - `(copy_out_atom, lease_id, statement, receiver, bytes_per_chunk)` runs a
///   `COPY ... TO STDOUT` and sends its data to `receiver` like `stream`
///   does rows: `stream_chunk::data` holds whole lines, at least
///   `bytes_per_chunk` (1 to 64 MiB) of them per chunk but the last.
///   Replies and errors as for `stream` (`invalid_request` also for a
///   statement that is not a COPY TO STDOUT).
/// - `(copy_in_atom, lease_id, statement)` replies `ok` once the server runs
///   the `COPY ... FROM STDIN` and takes data; then
///   `(copy_data_atom, lease_id, data)` replies `ok` once `data` (any split
///   of the COPY text) was sent to the server: send the next piece after
///   the `ok` (or keep a few in flight) and memory stays bounded; and
///   `(copy_end_atom, lease_id, failure)` ends it: with an empty `failure`
///   it replies the COPY's `query_result` ("COPY n"), else the server
///   aborts the COPY, stores nothing and the reply is `query_failed`.
///   Nothing else runs on the lease meanwhile: other requests wait for the
///   `copy_end`. A COPY that gets no data for `query_timeout` is aborted;
///   the next `copy_data` or `copy_end` gets `query_timeout`. Errors:
///   `query_failed` (e.g. malformed data, with SQLSTATE), `query_timeout`,
///   `invalid_request` (not a COPY FROM STDIN; data or end with no COPY
///   running).
/// - `(ack_atom, stream, seq)` and `(cancel_atom, stream)`: see
///   `stream_chunk`; no reply. For another stream than the running one they
///   are ignored.
using lease_actor = caf::typed_actor<
  caf::replies_to<query_atom, uint64_t, statement>::with<query_result>,
  caf::replies_to<stream_atom, uint64_t, statement, caf::actor,
                  uint32_t>::with<stream_end>,
  caf::replies_to<copy_out_atom, uint64_t, statement, caf::actor,
                  uint32_t>::with<stream_end>,
  caf::replies_to<copy_in_atom, uint64_t, statement>::with<caf::ok_atom>,
  caf::replies_to<copy_data_atom, uint64_t, std::string>::with<caf::ok_atom>,
  caf::replies_to<copy_end_atom, uint64_t, std::string>::with<query_result>,
  caf::reacts_to<ack_atom, uint64_t, uint64_t>,
  caf::reacts_to<cancel_atom, uint64_t>>;

} // namespace pool

// The pool's message types. `add_message_types` registers exactly this list
// (and remote.hpp's block), under these names, on every node.
CAF_BEGIN_TYPE_ID_BLOCK(libpool, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(libpool, (pool::param))
CAF_ADD_TYPE_ID(libpool, (pool::statement))
CAF_ADD_TYPE_ID(libpool, (std::vector<pool::statement>))
CAF_ADD_TYPE_ID(libpool, (pool::column))
CAF_ADD_TYPE_ID(libpool, (pool::query_result))
CAF_ADD_TYPE_ID(libpool, (std::vector<pool::query_result>))
CAF_ADD_TYPE_ID(libpool, (pool::pool_stats))
CAF_ADD_TYPE_ID(libpool, (pool::lease))
CAF_ADD_TYPE_ID(libpool, (pool::lease_actor))
CAF_ADD_TYPE_ID(libpool, (pool::breaker_event))
CAF_ADD_TYPE_ID(libpool, (pool::pool_settings))
CAF_ADD_TYPE_ID(libpool, (pool::priority))
CAF_ADD_TYPE_ID(libpool, (pool::notification))
CAF_ADD_TYPE_ID(libpool, (pool::notifications_missed))
CAF_ADD_TYPE_ID(libpool, (pool::listen_stats))
CAF_ADD_TYPE_ID(libpool, (pool::stream_chunk))
CAF_ADD_TYPE_ID(libpool, (pool::stream_end))
CAF_END_TYPE_ID_BLOCK(libpool)

namespace pool {

/// Exclusive use of one connection until it is released. Lease ids are unique
/// and single-use: once released, the id is rejected everywhere.
struct lease {
  /// The lease's id; queries on the lease and `release` carry it.
  uint64_t id = 0;
  /// The worker that owns the leased connection.
  lease_actor worker;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease& x) {
  return f(caf::meta::type_name("pool::lease"), x.id, x.worker);
}

/// The pool, as clients see it. The pool answers every request exactly
/// once. Send requests from actors through `pool::client` (pool/client.hpp),
/// which keeps each request's deadline without a CAF clock event and fails
/// pending requests when the pool or its node is gone; from plain threads use
/// `pool::blocking_pool`. A bare `self->request(pool, timeout, ...)` works
/// too, but costs a clock-thread wake-up per request, and a request sent with
/// `caf::infinite` that way waits forever if the pool dies.
///
/// - `(query_atom, statement)` → `query_result`: runs one autocommit
///   statement on any connection. Errors: `acquire_timeout`, `queue_full`,
///   `shutting_down`, `query_failed` (with SQLSTATE), `query_timeout`,
///   `connection_lost`, `connect_failed`, `auth_failed`, `invalid_request`.
/// - `(acquire_atom, timeout)` → `lease`: waits at most `timeout` (FIFO with
///   all other waiting requests) for a connection and leases it to the
///   sender, who is monitored: if it dies, the lease is reclaimed. Errors:
///   `acquire_timeout`, `queue_full`, `shutting_down`, `connect_failed`,
///   `auth_failed`, `invalid_request` (non-positive timeout).
/// - `(release_atom, lease_id)` → `ok`: returns the leased connection; an
///   open transaction is rolled back first. Errors: `invalid_lease`.
/// - `(transaction_atom, statements)` → one `query_result` per statement,
///   after COMMIT. If a statement fails, the transaction is rolled back and
///   the error names the failing statement as "statement i of n"
///   (1-based). Errors: as for `query`.
/// - `(stats_atom)` → `pool_stats`.
/// - `(subscribe_atom)` → `ok`: the sender receives a `breaker_event` on
///   every circuit breaker transition until it exits.
/// - `(listen_atom, channel)` → `ok` once the server runs `LISTEN` on the
///   channel: the sender, monitored, then receives a `notification` for
///   each notification on it, until `unlisten`, its death or the loss of
///   its node. The pool listens on one connection of its own (counted
///   toward `max_size`, in `pool_stats::listen`), opened at the first
///   listen and given back when nothing is listened to. When that
///   connection is lost the pool opens another (with the pool's backoff and
///   circuit breaker), listens again to every channel, and sends each
///   listener a `notifications_missed` for its channels: what was notified
///   in between is lost. Channel names are used as given (case and all),
///   quoted as identifiers. Errors: `invalid_request` (anonymous sender,
///   empty channel, longer than 63 bytes, or with a NUL), `shutting_down`,
///   and what acquiring the connection or running LISTEN failed with
///   (`acquire_timeout`, `connect_failed`, `auth_failed`, `query_failed`,
///   ...; the sender is not listening then).
/// - `(unlisten_atom, channel)` → `ok`: the sender stops listening to
///   `channel` (`ok` too if it did not listen). Errors: `invalid_request`.
/// - `(stream_atom, statement, receiver, rows_per_chunk)` → `stream_end`:
///   the lease's stream (see `lease_actor`) on a connection leased for it
///   and given back when it ends: the rows go to `receiver` as
///   `stream_chunk`s with acknowledgements, then a `stream_end`. A routed
///   pool runs it on the primary. Errors: as for `acquire` (within
///   `acquire_timeout`) and for the lease's stream (`query_failed`,
///   `query_timeout`, `cancelled`, `invalid_request`), `connection_lost`,
///   `shutting_down`.
/// - `(shutdown_atom, deadline)` → `ok` once every connection is closed:
///   stops admission, answers all waiters with `shutting_down`, lets leased
///   and running work finish until `deadline` (then closes anyway), closes all
///   connections; the pool actor then exits.
///
/// Priority classes (see `pool::priority` and `pool_config::priority_aging`):
/// - `(query_atom, priority, statement)`, `(acquire_atom, timeout, priority)`
///   and `(transaction_atom, priority, statements)` are the requests above
///   with a priority class: while requests wait, a higher class is served
///   first, with aging. The plain forms are `priority::normal`. Replies and
///   errors as above; a class out of range is `invalid_request`.
///
/// Operating a running pool (a pool that is shutting down answers each of
/// these with `shutting_down`):
/// - `(resize_atom, min_size, max_size)` → `ok` at once: growing opens
///   connections up to the new min_size; shrinking closes idle connections
///   at once and leased or busy ones when they come back, until no more
///   than max_size are open. Errors: `invalid_request` naming the values
///   (max_size 0, min_size above max_size).
/// - `(pause_atom, deadline)` → `ok` once drained: the pool stops handing
///   out connections (new and waiting requests stay queued with their own
///   deadlines; one that reaches it gets `acquire_timeout` saying the pool is
///   paused) and replies when no lease is held and nothing runs. With
///   `pool_config::pause_closes_idle` it then closes its idle connections.
///   The pool stays paused until `resume`. A pause while paused joins the
///   drain (or replies `ok` at once if drained). Errors: `pause_timeout`
///   naming what still runs when `deadline` passes (the pool stays paused),
///   `pause_cancelled` when a `resume` arrives while it drains,
///   `invalid_request` (non-positive deadline).
/// - `(resume_atom)` → `ok`: ends a pause (cancelling one that drains) and
///   serves the held requests; `ok` too when not paused.
/// - `(reset_atom)` → `ok` at once: replaces every connection without
///   interrupting service: idle ones are closed and reopened at once, leased
///   and busy ones are closed when they come back instead of being reused.
///   New connections use the current settings (and resolve host names
///   again). Counted in `pool_stats::connections_reset`.
/// - `(limit_atom, limit)` → `ok` at once: caps the pool at `limit`
///   connections below its `max_size` (0: none at all; a limit at or above
///   max_size caps nothing), as `resize` shrinks and grows: min_size counts
///   only up to the limit, idle connections above it close at once, leased
///   and busy ones when they come back. Requests wait (up to their own
///   deadlines) while the limit allows no connection. A cluster node's share
///   of its database's budget is set so (`pool::cluster`). The limit stays
///   through `resize` and `reconfigure`; `pool_stats::max_open` and
///   `limited` show it.
/// - `(reconfigure_atom, pool_settings)` → `ok`: changes the settings that
///   are set (see `pool_settings` for when each takes effect; some take a
///   reset). Errors: `invalid_request` naming the first bad field and its
///   value.
using pool_actor = caf::typed_actor<
  caf::replies_to<query_atom, statement>::with<query_result>,
  caf::replies_to<query_atom, priority, statement>::with<query_result>,
  caf::replies_to<acquire_atom, caf::timespan>::with<lease>,
  caf::replies_to<acquire_atom, caf::timespan, priority>::with<lease>,
  caf::replies_to<release_atom, uint64_t>::with<caf::ok_atom>,
  caf::replies_to<transaction_atom,
                  std::vector<statement>>::with<std::vector<query_result>>,
  caf::replies_to<transaction_atom, priority,
                  std::vector<statement>>::with<std::vector<query_result>>,
  caf::replies_to<stats_atom>::with<pool_stats>,
  caf::replies_to<subscribe_atom>::with<caf::ok_atom>,
  caf::replies_to<shutdown_atom, caf::timespan>::with<caf::ok_atom>,
  caf::replies_to<resize_atom, uint64_t, uint64_t>::with<caf::ok_atom>,
  caf::replies_to<pause_atom, caf::timespan>::with<caf::ok_atom>,
  caf::replies_to<resume_atom>::with<caf::ok_atom>,
  caf::replies_to<reset_atom>::with<caf::ok_atom>,
  caf::replies_to<reconfigure_atom, pool_settings>::with<caf::ok_atom>,
  caf::replies_to<limit_atom, uint64_t>::with<caf::ok_atom>,
  caf::replies_to<listen_atom, std::string>::with<caf::ok_atom>,
  caf::replies_to<unlisten_atom, std::string>::with<caf::ok_atom>,
  caf::replies_to<stream_atom, statement, caf::actor,
                  uint32_t>::with<stream_end>>;

} // namespace pool
