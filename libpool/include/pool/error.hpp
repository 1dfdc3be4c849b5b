#pragma once

#include <cstdint>
#include <string>

#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/fwd.hpp"

namespace pool {

/// The error category of every error the pool answers with. Each error
/// carries a context of two strings: the server's 5-character SQLSTATE (empty
/// when the error did not come from the server) and a human-readable message.
/// Use `sqlstate()` and `error_message()` to read them.
enum class pool_errc : uint8_t {
  /// No connection became available before the request's deadline.
  acquire_timeout = 1,
  /// The waiting queue holds `max_waiters` requests already.
  queue_full,
  /// The pool is shutting down or has shut down; it admits no new work.
  shutting_down,
  /// The connection broke while the request was using it (SQLSTATE class 08
  /// or a closed socket). The request may or may not have run on the server.
  connection_lost,
  /// The server rejected the statement; the SQLSTATE says why (e.g. 42601
  /// syntax error, 23505 unique violation, 40001 serialization failure).
  query_failed,
  /// The lease id is unknown, was released already, or belongs to another
  /// connection.
  invalid_lease,
  /// A field of `pool_config` is invalid; the message names the field.
  invalid_config,
  /// Opening a connection failed (server down, refused, unreachable).
  connect_failed,
  /// The server rejected the credentials (SQLSTATE class 28), or the TLS
  /// check of the server failed (its certificate is not signed by the CA of
  /// `sslrootcert`, or does not name the host) or channel binding was
  /// refused: retrying with the same settings cannot succeed.
  auth_failed,
  /// The statement ran longer than `query_timeout` and was cancelled.
  query_timeout,
  /// A request was malformed (e.g. an empty transaction); the message says
  /// what was wrong.
  invalid_request,
  /// The connection reconnect circuit is open: connects are failing.
  circuit_open,
  /// The pool sheds load because requests wait too long.
  overloaded,
  /// No answer by the caller's deadline: the client-side deadline of a
  /// request sent through `pool::client` or `pool::blocking_pool` passed
  /// (the pool may still run it; its late answer is dropped).
  request_timeout,
  /// The pool actor is gone or its node is unreachable; the message says
  /// which. Every request of a `pool::client` still waiting then fails with
  /// this error at once.
  pool_down,
  /// A `pause` did not drain by its deadline: leases were still held or
  /// work still ran (the message says what). The pool stays paused.
  pause_timeout,
  /// A `pause` still draining was cancelled by a `resume`; the pool serves
  /// again.
  pause_cancelled,
  /// A read-only request to a routed pool (pool/routing.hpp) found no
  /// replica serving and `reads_fall_back_to_primary` is off; the message
  /// says why each replica does not serve.
  no_replica,
  /// A stream or COPY was cancelled before it completed: its receiver asked
  /// (`cancel_atom`) or died, or its node was lost; the statement was
  /// stopped on the server.
  cancelled,
};

/// Returns the name of `x`, e.g. "acquire_timeout".
std::string to_string(pool_errc x);

/// The atom naming the pool's error category.
using pool_error_category = caf::atom_constant<caf::atom("pool")>;

/// Creates a pool error with an optional SQLSTATE and message.
caf::error make_error(pool_errc code, std::string message = {},
                      std::string sqlstate = {});

/// Returns whether `err` belongs to the pool's category and has code `code`
/// (false for no error).
bool is(const caf::error& err, pool_errc code);

/// Returns the SQLSTATE carried by a pool error, or "" if it has none.
std::string sqlstate(const caf::error& err);

/// Returns the message carried by a pool error, or "" if it has none.
std::string error_message(const caf::error& err);

/// Renders any error (pool or CAF) in one line, e.g.
/// "query_failed [42601]: syntax error at or near \"SELEC\"".
std::string describe(const caf::error& err);

} // namespace pool
