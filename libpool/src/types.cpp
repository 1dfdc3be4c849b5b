#include "pool/types.hpp"

namespace pool {

const std::string& query_result::at(size_t row, size_t col) const {
  static const std::string empty;
  auto& cell = cells[row * columns.size() + col];
  return cell ? *cell : empty;
}

std::string to_string(breaker_state x) {
  switch (x) {
  case breaker_state::closed:
    return "closed";
  case breaker_state::open:
    return "open";
  case breaker_state::half_open:
    return "half_open";
  }
  return "unknown";
}

} // namespace pool
