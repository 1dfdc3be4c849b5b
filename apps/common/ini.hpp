#pragma once

// Writing values in the syntax of CAF's INI configuration files, shared by
// poold (--dump-config) and the tests that write poold's configuration.

#include <string>

#include "pool/config_settings.hpp"

namespace app {

/// The library's `pool::ini_quote`: `x` as a quoted string of CAF's INI
/// syntax.
using pool::ini_quote;

} // namespace app
