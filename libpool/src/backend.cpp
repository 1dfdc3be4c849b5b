// The backend interface's defaults and PostgreSQL's rules. No actor here:
// the waker, which talks to the worker actor, lives in waker.cpp.

#include "pool/backend.hpp"

#include <cctype>
#include <string>

#include "pool/error.hpp"

namespace pool {

connection::~connection() {
  // nop
}

caf::error connection::check_idle() {
  return {};
}

caf::error connection::check_before_send() {
  return {};
}

bool connection::not_run() const {
  return false;
}

bool connection::can_pipeline() const {
  return false;
}

void connection::submit(uint64_t, const statement&) {
  // Unreachable while can_pipeline() is false.
}

size_t connection::poll_pipeline(std::vector<tagged_result>&) {
  return 0;
}

namespace {

// Skips white space and SQL comments (-- to the end of the line, /* */
// nesting as in PostgreSQL) from `i`.
size_t skip_blanks(const std::string& sql, size_t i) {
  auto n = sql.size();
  while (i < n) {
    auto c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      i = sql.find('\n', i);
      if (i == std::string::npos)
        return n;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      int depth = 0;
      while (i < n) {
        if (sql.compare(i, 2, "/*") == 0) {
          ++depth;
          i += 2;
        } else if (sql.compare(i, 2, "*/") == 0) {
          i += 2;
          if (--depth == 0)
            break;
        } else {
          ++i;
        }
      }
    } else {
      break;
    }
  }
  return i;
}

} // namespace

dialect::dialect()
  : dialect(statement{"BEGIN"}, statement{"COMMIT"}, statement{"ROLLBACK"},
            statement{"SELECT 1"}) {
  // nop
}

dialect::dialect(statement begin, statement commit, statement rollback,
                 statement ping)
  : begin_(std::move(begin)), commit_(std::move(commit)),
    rollback_(std::move(rollback)), ping_(std::move(ping)) {
  // nop
}

dialect::~dialect() {
  // nop
}

bool dialect::is_fatal(const caf::error& err) const {
  return err && is(err, pool_errc::connection_lost);
}

bool dialect::may_pipeline(const statement&) const {
  return false;
}

bool postgres_dialect::is_fatal(const caf::error& err) const {
  if (!err)
    return false;
  if (is(err, pool_errc::connection_lost))
    return true;
  if (!is(err, pool_errc::query_failed))
    return false;
  auto state = sqlstate(err);
  return (state.compare(0, 2, "08") == 0 && state != "08P01") ||
         state == "57P01" || state == "57P02" || state == "57P03";
}

bool postgres_dialect::may_pipeline(const statement& st) const {
  static constexpr const char* keywords[] = {
    "select", "insert", "update", "delete", "merge", "with", "values", "table",
  };
  auto& sql = st.sql;
  auto i = skip_blanks(sql, 0);
  auto j = i;
  // The first word, as PostgreSQL's lexer sees an identifier.
  while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) ||
                            sql[j] == '_' || sql[j] == '$'))
    ++j;
  auto len = j - i;
  for (auto kw : keywords) {
    if (std::char_traits<char>::length(kw) != len)
      continue;
    bool same = true;
    for (size_t k = 0; k < len && same; ++k)
      same = std::tolower(static_cast<unsigned char>(sql[i + k])) == kw[k];
    if (same)
      return true;
  }
  return false;
}

backend::backend() : backend(nullptr) {
  // nop
}

backend::backend(std::shared_ptr<const dialect> rules)
  : rules_(rules ? std::move(rules) : std::make_shared<const dialect>()) {
  // nop
}

backend::~backend() {
  // nop
}

bool backend::can_pipeline() const {
  return false;
}

} // namespace pool
