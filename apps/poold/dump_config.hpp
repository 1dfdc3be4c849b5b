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

/// Returns `cfg` (parsed by `parse_all`) as a configuration file: the
/// sections node, http, log, poold, openssl (when TLS or any of its keys is
/// set) and one `[pools.NAME]` per pool with every key of
/// pool::pool_setting_docs() and of routing_setting_docs(), defaults filled
/// in. Every conninfo passes
/// through `pool::redact_conninfo`, and openssl.passphrase is "***" when
/// set. The text is valid input for --config-file.
std::string dump_config(const poold_config& cfg);

} // namespace poold
