#pragma once

// The whole protocol of the pool on one page: atoms, the lease type, the
// typed actor interfaces and the type ID block. Every type here is
// serializable, so the same calls work from another CAF node once both nodes
// called `pool::add_message_types(cfg)`.

#include <cstdint>
#include <vector>

#include "caf/replies_to.hpp"
#include "caf/type_id.hpp"
#include "caf/typed_actor.hpp"

#include "pool/types.hpp"

// Atoms are types of their own in CAF 0.17 (no type ID needed).
CAF_ADD_ATOM(libpool, pool, query_atom, "query")
CAF_ADD_ATOM(libpool, pool, acquire_atom, "acquire")
CAF_ADD_ATOM(libpool, pool, release_atom, "release")
CAF_ADD_ATOM(libpool, pool, transaction_atom, "txn")
CAF_ADD_ATOM(libpool, pool, stats_atom, "stats")
CAF_ADD_ATOM(libpool, pool, shutdown_atom, "shutdown")
CAF_ADD_ATOM(libpool, pool, subscribe_atom, "subscribe")

namespace pool {

struct lease;

/// The connection side of a lease: queries sent here run on the leased
/// connection, in the order they arrive.
///
/// - `(query_atom, lease_id, statement)` replies `query_result`, or an error:
///   `invalid_lease` (the lease was released, reclaimed, or is not this
///   connection's), `query_failed` (with SQLSTATE), `query_timeout`,
///   `connection_lost`, `invalid_request` (malformed statement).
using lease_actor = caf::typed_actor<
  caf::replies_to<query_atom, uint64_t, statement>::with<query_result>>;

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
/// - `(shutdown_atom, deadline)` → `ok` once every connection is closed:
///   stops admission, answers all waiters with `shutting_down`, lets leased
///   and running work finish until `deadline` (then closes anyway), closes all
///   connections; the pool actor then exits.
using pool_actor = caf::typed_actor<
  caf::replies_to<query_atom, statement>::with<query_result>,
  caf::replies_to<acquire_atom, caf::timespan>::with<lease>,
  caf::replies_to<release_atom, uint64_t>::with<caf::ok_atom>,
  caf::replies_to<transaction_atom,
                  std::vector<statement>>::with<std::vector<query_result>>,
  caf::replies_to<stats_atom>::with<pool_stats>,
  caf::replies_to<subscribe_atom>::with<caf::ok_atom>,
  caf::replies_to<shutdown_atom, caf::timespan>::with<caf::ok_atom>>;

} // namespace pool
