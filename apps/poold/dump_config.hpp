#pragma once

// poold --dump-config: the effective configuration in CAF's INI format,
// every secret replaced by "***". poold intercepts the option before CAF
// sees it: CAF 0.17.6's own --dump-config prints the whole parsed content
// (each pool's conninfo with its password, openssl.passphrase) in a
// `section { key = value }` syntax that its INI parser silently ignores.

#include <string>

namespace poold {

struct poold_config;

/// The text that replaces a secret.
inline constexpr const char* redacted = "***";

/// Returns `conninfo` (keyword/value or URI) as a keyword/value conninfo
/// that libpq parses to the same options, except that the values of
/// `password` and `sslpassword` are "***". Values are quoted as libpq
/// expects when they are empty or hold blanks, quotes or backslashes.
/// Returns "<unparsable conninfo>" when libpq cannot parse `conninfo`.
std::string redact_conninfo_for_dump(const std::string& conninfo);

/// Returns `cfg` (parsed by `parse_all`) as a configuration file: the
/// sections node, http, log, poold, openssl (when TLS or any of its keys is
/// set) and one `[pools.NAME]` per pool with every key of
/// pool::pool_setting_docs() and of routing_setting_docs(), defaults filled
/// in. Every conninfo passes
/// through `redact_conninfo_for_dump`, and openssl.passphrase is "***" when
/// set. The text is valid input for --config-file.
std::string dump_config(const poold_config& cfg);

} // namespace poold
