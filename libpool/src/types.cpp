#include "pool/types.hpp"

namespace pool {

const std::string& query_result::at(size_t row, size_t col) const {
  static const std::string empty;
  auto& cell = cells[row * columns.size() + col];
  return cell ? *cell : empty;
}

} // namespace pool
