#include "libpq_results.hpp"

#include <cstdlib>
#include <initializer_list>

#include "pool/error.hpp"

namespace pool {

std::string one_line(const char* msg) {
  std::string out;
  bool space = false;
  for (auto p = msg ? msg : ""; *p != '\0'; ++p) {
    if (*p == '\n' || *p == '\r' || *p == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty() && out.back() != ' ')
      out += ' ';
    space = false;
    out += *p;
  }
  return out;
}

std::string field(const PGresult* r, int code) {
  auto x = PQresultErrorField(r, code);
  return x ? x : "";
}

bool is_stale_statement(const std::string& state, const std::string& message) {
  if (state == "26000")
    return true;
  return state == "0A000" &&
         message.find("cached plan must not") != std::string::npos;
}

bool is_stale_statement(const PGresult* r) {
  return is_stale_statement(field(r, PG_DIAG_SQLSTATE),
                            field(r, PG_DIAG_MESSAGE_PRIMARY));
}

bool breaks_connection(const std::string& state) {
  return state.compare(0, 2, "08") == 0 && state != "08P01";
}

bool breaks_connection(const PGresult* r) {
  return breaks_connection(field(r, PG_DIAG_SQLSTATE));
}

bool ends_session(const std::string& severity) {
  return severity == "FATAL" || severity == "PANIC";
}

bool is_credential_failure(const std::string& msg) {
  auto has = [&msg](const char* needle) {
    return msg.find(needle) != std::string::npos;
  };
  // Class 28: libpq's words and the server's.
  for (auto needle :
       {"authentication failed", "no pg_hba.conf entry", "pg_hba.conf rejects",
        "no password supplied", "not permitted to log in"})
    if (has(needle))
      return true;
  auto role = msg.find("role \"");
  if (role != std::string::npos &&
      msg.find("\" does not exist", role) != std::string::npos)
    return true;
  // TLS: fe-secure-openssl.c's words for a server that fails verification
  // (OpenSSL's "certificate verify failed" covers an unknown CA, an expired
  // or not yet valid certificate), and fe-auth.c's for channel binding.
  for (auto needle : {"certificate verify failed", "does not match host name",
                      "root certificate file",
                      "could not get server's host name from server "
                      "certificate",
                      "SSL certificate's name", "SSL certificate's address",
                      "channel binding"})
    if (has(needle))
      return true;
  return false;
}

bool ends_session(const PGresult* r) {
  return ends_session(field(r, PG_DIAG_SEVERITY_NONLOCALIZED));
}

caf::error server_error(std::string message, std::string state,
                        const char* fallback) {
  if (message.empty())
    message = one_line(fallback);
  return make_error(pool_errc::query_failed, std::move(message),
                    std::move(state));
}

caf::error server_error(const PGresult* r) {
  return server_error(field(r, PG_DIAG_MESSAGE_PRIMARY),
                      field(r, PG_DIAG_SQLSTATE), PQresultErrorMessage(r));
}

std::string name_statement(std::string message, const std::string& name,
                           const std::string& sql) {
  if (name.empty())
    return message;
  constexpr size_t max_sql = 60;
  // On one line, each run of white space as one blank.
  std::string text;
  for (auto c : sql) {
    bool blank = c == ' ' || c == '\n' || c == '\r' || c == '\t';
    if (!blank)
      text += c;
    else if (!text.empty() && text.back() != ' ')
      text += ' ';
  }
  if (!text.empty() && text.back() == ' ')
    text.pop_back();
  if (text.size() > max_sql) {
    text.resize(max_sql - 3);
    text += "...";
  }
  auto quoted = '"' + name + '"';
  auto replacement = "for \"" + text + '"';
  for (auto pos = message.find(quoted); pos != std::string::npos;
       pos = message.find(quoted, pos + replacement.size()))
    message.replace(pos, quoted.size(), replacement);
  return message;
}

query_result to_query_result(PGresult* r) {
  query_result q;
  auto cols = PQnfields(r);
  auto rows = PQntuples(r);
  q.columns.reserve(static_cast<size_t>(cols));
  for (int c = 0; c < cols; ++c)
    q.columns.push_back(
      column{PQfname(r, c), static_cast<uint32_t>(PQftype(r, c))});
  q.cells.reserve(static_cast<size_t>(cols) * static_cast<size_t>(rows));
  for (int row = 0; row < rows; ++row)
    for (int c = 0; c < cols; ++c)
      if (PQgetisnull(r, row, c))
        q.cells.emplace_back();
      else
        q.cells.emplace_back(std::string{
          PQgetvalue(r, row, c), static_cast<size_t>(PQgetlength(r, row, c))});
  auto tuples = PQcmdTuples(r);
  q.affected = *tuples != '\0' ? std::strtoll(tuples, nullptr, 10)
               : PQresultStatus(r) == PGRES_TUPLES_OK ? rows
                                                      : 0;
  q.command_tag = PQcmdStatus(r);
  return q;
}

} // namespace pool
