// The backend interface's defaults and PostgreSQL's rules. No actor here:
// the waker, which talks to the worker actor, lives in waker.cpp.

#include "pool/backend.hpp"

#include <string>

#include "pool/error.hpp"

#include "sql_words.hpp"

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

std::string connection::endpoint() const {
  return {};
}

void connection::take_notifications(std::vector<notification>&) {
  // nop
}

bool connection::can_pipeline() const {
  return false;
}

void connection::hold_sends() {
  // nop
}

void connection::release_sends() {
  // nop
}

void connection::submit(uint64_t, const statement&) {
  // Unreachable while can_pipeline() is false.
}

size_t connection::poll_pipeline(std::vector<tagged_result>&) {
  return 0;
}

bool connection::can_stream() const {
  return false;
}

void connection::start_stream(stream_mode, const statement&) {
  // Unreachable while can_stream() is false; poll_stream says so.
}

stream_status connection::poll_stream(query_result&, std::string&, size_t,
                                      caf::expected<query_result>& end) {
  end = make_error(pool_errc::invalid_request,
                   "this connection cannot stream results or COPY");
  return stream_status::done;
}

caf::error connection::put_copy(const std::string&) {
  return make_error(pool_errc::invalid_request,
                    "this connection cannot run COPY");
}

void connection::end_copy(const std::string&) {
  // nop
}

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
  auto word = first_word(st.sql);
  for (auto kw : keywords)
    if (is_keyword(word, kw))
      return true;
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
