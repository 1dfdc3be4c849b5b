#pragma once

// Rewriting a libpq conninfo (keyword/value or URI) without losing any of its
// options: for a program that must set one option of a conninfo it was given
// (poold marks a cluster node's connections with their application_name).

#include <string>

namespace pool {

/// Returns `conninfo` as a keyword/value conninfo that libpq parses to the
/// same options (passwords included), except that `key` is `value`: set if
/// the conninfo lacks it, replaced if it has it. Returns "" when libpq cannot
/// parse `conninfo` or does not know `key` (`validate(pool_config)` names
/// the first without echoing a password).
std::string with_conninfo_option(const std::string& conninfo,
                                 const std::string& key,
                                 const std::string& value);

} // namespace pool
