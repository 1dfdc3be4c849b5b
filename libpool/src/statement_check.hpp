#pragma once

// Checks of a statement that the pool can make before any connection sees
// it: what libpq would silently change (it takes C strings, so a NUL byte
// would cut the SQL text or a parameter short).

#include <cstddef>
#include <string>

#include "caf/error.hpp"

#include "pool/types.hpp"

namespace pool {

/// Returns "statement 2 of 3" for the 0-based `index` 1 of `count` 3
/// statements: 1-based and with the count, so that it cannot be misread.
std::string statement_place(size_t index, size_t count);

/// Returns an `invalid_request` error if the SQL text or a parameter of `stmt`
/// contains a NUL byte (libpq would cut it there), naming the request and
/// the parameter: "query: parameter $2 contains a NUL byte …", or with a
/// `count` above 0 "transaction: statement 2 of 3, parameter $1 …" for the
/// statement at `index`. Returns no error otherwise, building no text (it
/// runs for every request). SQL NULL parameters and empty SQL pass (the
/// callers check empty SQL themselves).
caf::error check_statement(const statement& stmt, const char* request,
                           size_t index = 0, size_t count = 0);

} // namespace pool
