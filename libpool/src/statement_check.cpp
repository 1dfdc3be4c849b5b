#include "statement_check.hpp"

#include "pool/error.hpp"

namespace pool {

std::string statement_place(size_t index, size_t count) {
  return "statement " + std::to_string(index + 1) + " of " +
         std::to_string(count);
}

caf::error check_statement(const statement& stmt, const char* request,
                           size_t index, size_t count) {
  auto refuse = [&](const std::string& what) {
    std::string msg = request;
    msg += ": ";
    if (count > 0)
      msg += statement_place(index, count) + ", ";
    return make_error(pool_errc::invalid_request,
                      msg + what +
                        " contains a NUL byte (PostgreSQL text cannot hold "
                        "one)");
  };
  if (stmt.sql.find('\0') != std::string::npos)
    return refuse("SQL text");
  for (size_t i = 0; i < stmt.params.size(); ++i) {
    auto& p = stmt.params[i];
    if (!p.is_null() && p.text().find('\0') != std::string::npos)
      return refuse("parameter $" + std::to_string(i + 1));
  }
  return {};
}

} // namespace pool
