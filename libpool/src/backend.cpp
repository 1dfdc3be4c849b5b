#include "pool/backend.hpp"

#include <cctype>
#include <string>

#include "caf/actor_cast.hpp"
#include "caf/actor_clock.hpp"
#include "caf/actor_system.hpp"
#include "caf/mailbox_element.hpp"
#include "caf/send.hpp"

#include "actors.hpp"

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

bool may_pipeline(const std::string& sql) {
  static constexpr const char* keywords[] = {
    "select", "insert", "update", "delete", "merge", "with", "values", "table",
  };
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

backend::~backend() {
  // nop
}

bool backend::can_pipeline() const {
  return false;
}

void waker::wake() const {
  if (auto hdl = caf::actor_cast<caf::actor>(worker_))
    caf::anon_send(hdl, wake_atom::value);
}

void waker::wake(caf::execution_unit* host) const {
  if (auto ptr = caf::actor_cast<caf::strong_actor_ptr>(worker_))
    ptr->get()->enqueue(nullptr, caf::make_message_id(),
                        caf::make_message(wake_atom::value), host);
}

void waker::wake_after(caf::timespan delay) const {
  if (auto hdl = caf::actor_cast<caf::actor>(worker_))
    caf::delayed_anon_send(hdl, delay, wake_atom::value);
}

caf::timespan waker::now() const {
  if (auto hdl = caf::actor_cast<caf::actor>(worker_))
    return hdl->home_system().clock().now().time_since_epoch();
  return caf::timespan{0};
}

} // namespace pool
