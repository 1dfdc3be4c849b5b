#pragma once

// Results that test doubles answer with.

#include <cstdint>
#include <string>

#include "pool/types.hpp"

namespace pool::testing {

/// A one-row, one-column result (column "v" of type `oid`, text by default)
/// holding `v`, tagged "SELECT 1".
inline query_result one_value(const std::string& v, uint32_t oid = 25) {
  query_result r;
  r.columns = {column{"v", oid}};
  r.cells = {v};
  r.command_tag = "SELECT 1";
  return r;
}

} // namespace pool::testing
