#include "statement_check.hpp"

#include "pool/error.hpp"

namespace pool {

std::string statement_place(size_t index, size_t count) {
  return "statement " + std::to_string(index + 1) + " of " +
         std::to_string(count);
}

caf::error check_statement(const statement& stmt, const std::string& prefix) {
  static constexpr const char* why = " contains a NUL byte (PostgreSQL text "
                                     "cannot hold one)";
  if (stmt.sql.find('\0') != std::string::npos)
    return make_error(pool_errc::invalid_request, prefix + "SQL text" + why);
  for (size_t i = 0; i < stmt.params.size(); ++i) {
    auto& p = stmt.params[i];
    if (!p.is_null() && p.text().find('\0') != std::string::npos)
      return make_error(pool_errc::invalid_request,
                        prefix + "parameter $" + std::to_string(i + 1) + why);
  }
  return {};
}

} // namespace pool
