#pragma once

// Reading libpq results: PGresult to query_result, server errors to
// pool errors. Shared by the single-statement and the pipelined paths of
// the libpq connection.

#include <string>

#include <libpq-fe.h>

#include "caf/error.hpp"

#include "pool/types.hpp"

namespace pool {

/// libpq's messages end in a newline and may span lines (one per host
/// tried); errors travel better on one line.
std::string one_line(const char* msg);

/// Returns the error field `code` of `r`, or "".
std::string field(const PGresult* r, int code);

// The rules below read an error's fields only; each has a PGresult
// overload that reads the fields from a result.

/// Whether a failed execution of a prepared statement with SQLSTATE `state`
/// and primary message `message` means the server forgot it (26000) or must
/// re-plan it after a schema change (0A000 "cached plan must not ...").
bool is_stale_statement(const std::string& state, const std::string& message);
bool is_stale_statement(const PGresult* r);

/// Whether an error with SQLSTATE `state` means the connection is gone:
/// class 08 except 08P01 (a protocol violation such as a wrong parameter
/// count leaves the session usable).
bool breaks_connection(const std::string& state);
bool breaks_connection(const PGresult* r);

/// Whether an error of severity `severity` (the non-localized field) ended
/// the session (FATAL or PANIC): the server exits right after sending it.
bool ends_session(const std::string& severity);
bool ends_session(const PGresult* r);

/// Whether libpq's message `msg` for a failed connection attempt says that
/// the login or the server's identity was refused, which retrying cannot
/// fix: the server rejected the credentials (SQLSTATE class 28), or the TLS
/// check of the server failed (certificate not signed by the trusted CA,
/// host name not in the certificate, root certificate missing, channel
/// binding refused). libpq 15 keeps no SQLSTATE for a failed attempt, so its
/// (English) messages decide. The pool reports both as `auth_failed`: a
/// certificate check that fails is a refused identity, like a wrong password
/// (a departure from SQLSTATE, which has no class for it).
bool is_credential_failure(const std::string& msg);

/// `query_failed` with the server's primary `message` and SQLSTATE `state`;
/// `fallback` (libpq's whole message, put on one line) if `message` is
/// empty.
caf::error server_error(std::string message, std::string state,
                        const char* fallback);

/// The error in `r` as `query_failed` with the server's primary message
/// and SQLSTATE.
caf::error server_error(const PGresult* r);

/// Returns `message` with the pool's own prepared-statement name `name`
/// ("lp_3"), where the server quotes it (`"lp_3"`), replaced by the statement
/// the user sent: `for "<sql>"`, the SQL on one line and cut to 60
/// characters ("..." marks a cut). Other text is left alone.
std::string name_statement(std::string message, const std::string& name,
                           const std::string& sql);

/// Copies the rows, columns and command tag of `r`.
query_result to_query_result(PGresult* r);

} // namespace pool
