#pragma once

// The benchmark's requests to the pool, one helper per kind, so that every
// request site is one call (and a change of how requests are sent, e.g. to
// a client helper, changes only this file). Each calls exactly one of
// `on_reply(reply&)` or `on_error(caf::error&)` in the requesting actor.
// Include only from files that include "caf/all.hpp".

#include <utility>
#include <vector>

#include "caf/all.hpp"

#include "pool/client.hpp"
#include "pool/protocol.hpp"

namespace bench {

/// `(query_atom, stmt)` → `pool::query_result`, as a plain CAF request to
/// any actor that answers it (the scale check's flood measures CAF's own
/// cost per waiting request with it).
template <class Self, class Handle, class OnReply, class OnError>
void request_query(Self* self, const Handle& pool, caf::timespan timeout,
                   pool::statement stmt, OnReply on_reply, OnError on_error) {
  self->request(pool, timeout, pool::query_atom::value, std::move(stmt))
    .then(std::move(on_reply), std::move(on_error));
}

/// `(query_atom, stmt)` → `pool::query_result`, through the actor's client
/// helper (no CAF clock event per request).
template <class OnReply, class OnError>
void request_query(pool::client& db, caf::timespan timeout,
                   pool::statement stmt, OnReply on_reply, OnError on_error) {
  db.request(timeout, pool::query_atom::value, std::move(stmt))
    .then(std::move(on_reply), std::move(on_error));
}

/// `(transaction_atom, stmts)` → `std::vector<pool::query_result>`.
template <class OnReply, class OnError>
void request_transaction(pool::client& db, caf::timespan timeout,
                         std::vector<pool::statement> stmts, OnReply on_reply,
                         OnError on_error) {
  db.request(timeout, pool::transaction_atom::value, std::move(stmts))
    .then(std::move(on_reply), std::move(on_error));
}

/// `(acquire_atom, wait)` → `pool::lease`.
template <class OnReply, class OnError>
void request_acquire(pool::client& db, caf::timespan timeout,
                     caf::timespan wait, OnReply on_reply, OnError on_error) {
  db.request(timeout, pool::acquire_atom::value, wait)
    .then(std::move(on_reply), std::move(on_error));
}

/// `(release_atom, lease_id)` → `caf::ok_atom`.
template <class OnReply, class OnError>
void request_release(pool::client& db, caf::timespan timeout, uint64_t lease_id,
                     OnReply on_reply, OnError on_error) {
  db.request(timeout, pool::release_atom::value, lease_id)
    .then(std::move(on_reply), std::move(on_error));
}

} // namespace bench
