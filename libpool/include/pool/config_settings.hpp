#pragma once

// pool_config from CAF settings: the keys a configuration file (CAF's INI
// format) uses for one pool, e.g. `[pools.orders]` with `max-size=8`.

#include <string>
#include <vector>

#include "caf/error.hpp"
#include "caf/settings.hpp"

#include "pool/config.hpp"

namespace pool {

/// One key of a pool's settings, for help texts.
struct setting_doc {
  /// The key, e.g. "max-size".
  std::string key;
  /// Its value type as written in a file, e.g. "uint", "duration", "string".
  std::string type;
  /// Its default, as written in a file, e.g. "10" or "5s".
  std::string default_value;
  /// What it sets.
  std::string help;
};

/// Returns every key `read_pool_settings` understands, in a fixed order, with
/// the defaults of a default-constructed `pool_config`.
std::vector<setting_doc> pool_setting_docs();

/// Applies `xs` (the settings of one pool, e.g. the `pools.orders` section)
/// to `cfg`; keys not in `xs` keep their value in `cfg`. Returns
/// `invalid_config` naming `where` and the key when a key is unknown or its
/// value has the wrong type or range (e.g. "pools.orders.max-size: expected
/// an unsigned integer, got \"eight\""). Does not call `validate`; values
/// never appear in errors for the key "conninfo" (it may hold a password).
caf::error read_pool_settings(const caf::settings& xs, const std::string& where,
                              pool_config& cfg);

/// Returns `x` as a quoted string of CAF's INI syntax, quotes included: `"`
/// and `\` escaped with a backslash, other bytes unchanged (what
/// `read_pool_settings` reads back as `x`).
std::string ini_quote(const std::string& x);

} // namespace pool
