#pragma once

// Writing values in the syntax of CAF's INI configuration files, shared by
// poold (--dump-config) and the tests that write poold's configuration.

#include <string>

namespace app {

/// Returns `x` as a quoted string of CAF's INI syntax, quotes included: `"`
/// and `\` escaped with a backslash, other bytes unchanged.
std::string ini_quote(const std::string& x);

} // namespace app
