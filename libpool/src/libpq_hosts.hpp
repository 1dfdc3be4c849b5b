#pragma once

// What a connection string asks libpq to do before it can open a socket:
// whether a host name must be looked up (getaddrinfo, which blocks).

#include <string>

namespace pool {

/// Returns whether libpq parses `conninfo` as `key=value` pairs or a
/// `postgresql://` URI (rather than taking it as a plain database name) when
/// `expand_dbname` is on.
bool is_expandable(const std::string& conninfo);

/// Returns whether connecting with `conninfo` (given as libpq's `dbname`
/// with `expand_dbname`) may make libpq look a host name up, which blocks
/// inside `PQconnectStartParams` (first host) or `PQconnectPoll` (the next
/// hosts of a list). False only if every host is a numeric IPv4 or IPv6
/// address, a Unix-socket directory (or empty: libpq's default socket), or
/// comes with a `hostaddr`. `PGHOST`, `PGHOSTADDR` and `PGSERVICE` count
/// where the string sets nothing; a service (`service=` or `PGSERVICE`) may
/// name any host, so it counts as a lookup. A string libpq cannot parse
/// gives false: libpq refuses it before looking anything up.
bool may_look_up_host(const std::string& conninfo);

} // namespace pool
