#include "libpq_connection.hpp"

#include "libpq_results.hpp"

#include <cstring>

#include "pool/error.hpp"
#include "pool/types.hpp"

namespace pool {

// -- libpq_connection: notices ------------------------------------------------

void libpq_connection::on_notice(void* self, const PGresult* r) {
  // Notices (e.g. "table does not exist, skipping") are not errors; libpq's
  // default receiver would print them to stderr. A FATAL one, though, is
  // the server ending an idle session (e.g. pg_terminate_backend): the
  // connection is gone even if the socket has not reported it yet.
  if (!ends_session(r))
    return;
  auto conn = static_cast<libpq_connection*>(self);
  conn->server_ended_ = true;
  conn->ended_message_ = field(r, PG_DIAG_MESSAGE_PRIMARY);
  conn->ended_state_ = field(r, PG_DIAG_SQLSTATE);
}

// -- libpq_connection: construction -------------------------------------------

libpq_connection::libpq_connection(std::shared_ptr<readiness> p,
                                   std::shared_ptr<libpq_blocking_thread> jobs,
                                   const pool_config& cfg, waker w)
  : poller_(std::move(p)), jobs_(std::move(jobs)), waker_(std::move(w)),
    conninfo_(cfg.conninfo), connect_timeout_(cfg.connect_timeout),
    cache_capacity_(cfg.statement_cache_size),
    cache_(cfg.statement_cache_size) {
  // nop
}

libpq_connection::~libpq_connection() {
  close();
}

// -- libpq_connection: sending ------------------------------------------------

int libpq_connection::send_statement(const statement& st,
                                     const std::string* name) {
  // The parameters' C strings (nullptr = SQL NULL): on the stack for the
  // common few, no allocation per statement.
  constexpr size_t few = 16;
  const char* small[few];
  std::vector<const char*> many;
  auto values = small;
  if (st.params.size() > few) {
    many.resize(st.params.size());
    values = many.data();
  }
  for (size_t i = 0; i < st.params.size(); ++i)
    values[i] = st.params[i].c_str();
  auto n = static_cast<int>(st.params.size());
  if (name != nullptr)
    return PQsendQueryPrepared(conn_.get(), name->c_str(), n, values, nullptr,
                               nullptr, 0);
  return PQsendQueryParams(conn_.get(), st.sql.c_str(), n, nullptr, values,
                           nullptr, nullptr, 0);
}

bool libpq_connection::forget_stale(const std::string& sql,
                                    const std::string& name,
                                    const PGresult* err) {
  if (name.empty() || !is_stale_statement(err))
    return false;
  cache_.erase(sql, name);
  if (field(err, PG_DIAG_SQLSTATE) != "26000")
    to_deallocate_.push_back(name); // still exists on the server
  return true;
}

void libpq_connection::watch() {
  if (key_ == 0 || (armed_ && armed_write_ == flushing_))
    return;
  poller_->arm(key_, true, flushing_);
  armed_ = true;
  armed_write_ = flushing_;
}

void libpq_connection::went_idle() {
  idle_at_ = std::chrono::steady_clock::now();
  watch(); // no system call unless writing was of interest
}

caf::error libpq_connection::check_idle() {
  armed_ = false; // woken: the one-shot registration fired
  if (auto err = read_while_idle())
    return err;
  watch();
  return {};
}

caf::error libpq_connection::check_before_send() {
  // A connection whose last statement finished within `fresh_idle` is not
  // read (a system call per query): a session ended that recently is the
  // same race as one ending while the statement is sent, which no read can
  // close. The idle watch stays armed: a wake-up it sends later is harmless.
  if (std::chrono::steady_clock::now() - idle_at_ < fresh_idle)
    return {};
  return read_while_idle();
}

caf::error libpq_connection::read_while_idle() {
  if (conn_ == nullptr || broken_)
    return make_error(pool_errc::connection_lost, "connection closed");
  if (!pipe_.empty())
    return {};
  // One non-blocking read; returns 0 at end of file.
  if (PQconsumeInput(conn_.get()) == 0)
    return lose(nullptr);
  // Parses what was read (PQnotifies parses): a FATAL ErrorResponse while
  // idle reaches on_notice; notifications wait for take_notifications.
  take_notifications(notes_);
  if (server_ended_ || PQstatus(conn_.get()) == CONNECTION_BAD)
    return lose(nullptr);
  return {};
}

void libpq_connection::take_notifications(std::vector<notification>& out) {
  if (&out != &notes_ && !notes_.empty()) {
    for (auto& x : notes_)
      out.push_back(std::move(x));
    notes_.clear();
  }
  if (conn_ == nullptr)
    return;
  while (auto note = PQnotifies(conn_.get())) {
    notification x;
    x.channel = note->relname != nullptr ? note->relname : "";
    x.payload = note->extra != nullptr ? note->extra : "";
    x.sender_pid = note->be_pid;
    PQfreemem(note);
    out.push_back(std::move(x));
  }
}

caf::error libpq_connection::lose(const PGresult* cause) {
  std::string msg;
  std::string state;
  if (entered_copy_) {
    msg = "the server started a COPY for a statement not sent as one: the "
          "connection is closed";
  } else if (cause != nullptr) {
    msg = field(cause, PG_DIAG_MESSAGE_PRIMARY);
    state = field(cause, PG_DIAG_SQLSTATE);
  } else if (server_ended_) {
    msg = ended_message_;
    state = ended_state_;
  }
  if (msg.empty())
    msg = one_line(PQerrorMessage(conn_.get()));
  if (msg.empty())
    msg = "connection lost";
  auto err =
    make_error(pool_errc::connection_lost, std::move(msg), std::move(state));
  broken_ = true;
  // Release the socket now; the worker closes the connection later.
  if (key_ != 0) {
    poller_->remove(key_);
    key_ = 0;
  }
  return err;
}

// -- libpq_connection: state -----------------------------------

tx_status libpq_connection::transaction_status() const {
  if (conn_ == nullptr || broken_)
    return tx_status::unknown;
  switch (PQtransactionStatus(conn_.get())) {
  case PQTRANS_IDLE:
    return tx_status::idle;
  case PQTRANS_ACTIVE:
    return tx_status::active;
  case PQTRANS_INTRANS:
    return tx_status::in_transaction;
  case PQTRANS_INERROR:
    return tx_status::in_error;
  default:
    return tx_status::unknown;
  }
}

} // namespace pool
