#pragma once

// The error of a bad poold configuration, one function for every file that
// reads a part of it.

#include <string>
#include <utility>

#include "caf/error.hpp"

#include "pool/error.hpp"

namespace poold {

/// `invalid_config` saying `what` (the option or key, and what is wrong).
inline caf::error bad(std::string what) {
  return pool::make_error(pool::pool_errc::invalid_config, std::move(what));
}

} // namespace poold
