#include "libpq_connection.hpp"

#include "libpq_results.hpp"

#include <cstring>

#include "pool/error.hpp"
#include "pool/types.hpp"

namespace pool {

// -- helpers ------------------------------------------------------------------

namespace {

/// Statements this small (SQL and parameters) go out in one write on a
/// connection whose socket buffer is empty: far below the smallest TCP send
/// buffer Linux gives a socket.
constexpr size_t single_write_limit = 2048;

/// About the bytes `st` takes on the wire (without message headers).
size_t wire_size(const statement& st) {
  auto n = st.sql.size();
  for (auto& p : st.params)
    n += p.is_null() ? 0 : p.text().size();
  return n;
}

const caf::error& cancelled_error() {
  static const auto err =
    make_error(pool_errc::query_failed,
               "canceling statement due to user request", "57014");
  return err;
}

} // namespace

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

void libpq_connection::execute(const statement& st) {
  if (conn_ != nullptr && !broken_ && pipe_.empty() &&
      PQpipelineStatus(conn_.get()) != PQ_PIPELINE_OFF)
    PQexitPipelineMode(conn_.get());
  if (phase_ != phase::idle || !pipe_.empty()) {
    failure_ = make_error(pool_errc::invalid_request,
                          "a statement is running on this connection");
    waker_.wake();
    return;
  }
  retried_ = false;
  cancel_requested_ = false;
  copy_refused_ = false;
  not_run_ = false;
  last_.reset();
  error_.reset();
  if (conn_ == nullptr || broken_ || server_ended_) {
    not_run_ = true;
    failure_ = make_error(pool_errc::connection_lost, "connection closed");
    waker_.wake();
    return;
  }
  current_ = st;
  if (!send_first())
    waker_.wake(); // poll_result reports `failure_`
}

bool libpq_connection::send_first() {
  if (cache_capacity_ == 0)
    return send_execute(nullptr);
  if (auto name = cache_.find(current_.sql))
    return send_execute(name);
  // DEALLOCATE inside a transaction could fail and abort it: wait.
  if (to_deallocate_.size() >= deallocate_batch &&
      PQtransactionStatus(conn_.get()) == PQTRANS_IDLE)
    return send_deallocate();
  return send_prepare();
}

bool libpq_connection::send_deallocate() {
  std::string sql;
  for (auto& name : to_deallocate_)
    sql += "DEALLOCATE " + name + ";";
  to_deallocate_.clear();
  phase_ = phase::deallocating;
  return after_send(PQsendQuery(conn_.get(), sql.c_str()));
}

bool libpq_connection::send_prepare() {
  preparing_ = "lp_" + std::to_string(next_name_++);
  phase_ = phase::preparing;
  // No parameter types: the server infers them, as for PQsendQueryParams.
  return after_send(PQsendPrepare(conn_.get(), preparing_.c_str(),
                                  current_.sql.c_str(), 0, nullptr));
}

bool libpq_connection::send_execute(const std::string* name) {
  phase_ = phase::executing;
  if (name != nullptr)
    executing_ = *name;
  else
    executing_.clear();
  return after_send(send_statement(current_, name));
}

int libpq_connection::send_statement(const statement& st,
                                     const std::string* name) {
  values_.clear();
  for (auto& p : st.params)
    values_.push_back(p.c_str()); // nullptr = SQL NULL
  auto n = static_cast<int>(values_.size());
  if (name != nullptr)
    return PQsendQueryPrepared(conn_.get(), name->c_str(), n, values_.data(),
                               nullptr, nullptr, 0);
  return PQsendQueryParams(conn_.get(), st.sql.c_str(), n, nullptr,
                           values_.data(), nullptr, nullptr, 0);
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

bool libpq_connection::after_send(int sent) {
  if (sent == 0) {
    auto msg = one_line(PQerrorMessage(conn_.get()));
    phase_ = phase::idle;
    if (PQstatus(conn_.get()) == CONNECTION_BAD) {
      // The write failed (the server had closed the socket): nothing of
      // this message reached the server. Each phase sends after the last
      // one's results arrived, so the socket buffer was empty and a message
      // this small went out in one write or not at all.
      not_run_ = wire_size(current_) < single_write_limit;
      broken_ = true;
      failure_ = make_error(pool_errc::connection_lost, std::move(msg));
    } else {
      // E.g. more than 65535 parameters.
      failure_ = make_error(pool_errc::invalid_request, std::move(msg));
    }
    return false;
  }
  // -1 (write failure) leaves `flushing_` set: poll_result finds out more.
  flushing_ = PQflush(conn_.get()) != 0;
  watch();
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
  if (phase_ != phase::idle || !pipe_.empty())
    return {};
  // One non-blocking read; returns 0 at end of file.
  if (PQconsumeInput(conn_.get()) == 0)
    return lose(nullptr);
  // Parses what was read: a FATAL ErrorResponse while idle reaches
  // on_notice, notifications are dropped.
  while (auto note = PQnotifies(conn_.get()))
    PQfreemem(note);
  if (server_ended_ || PQstatus(conn_.get()) == CONNECTION_BAD)
    return lose(nullptr);
  return {};
}

// -- libpq_connection: receiving ----------------------------------------------

poll_status libpq_connection::poll_result(caf::expected<query_result>& out) {
  armed_ = false; // woken: the one-shot registration fired
  if (failure_)
    return take_failure(out) ? poll_status::ready : poll_status::pending;
  if (phase_ == phase::idle) {
    out = make_error(pool_errc::invalid_request, "no statement is running");
    return poll_status::ready;
  }
  bool lost = false;
  if (flushing_) {
    auto r = PQflush(conn_.get());
    lost = r < 0;
    flushing_ = r > 0;
  }
  if (!lost && PQconsumeInput(conn_.get()) == 0)
    lost = true;
  // On a lost connection this still collects what the server said last.
  auto status = drain_results();
  if (lost || broken_ || PQstatus(conn_.get()) == CONNECTION_BAD) {
    out = lose(error_.get());
    return poll_status::ready;
  }
  if (status != drain::done) {
    flushing_ = flushing_ || status == drain::need_output;
    watch();
    return poll_status::pending;
  }
  if (!phase_done(out))
    return poll_status::pending;
  went_idle(); // the statement is done: watch the idle connection
  return poll_status::ready;
}

libpq_connection::drain libpq_connection::drain_results() {
  // PQgetResult blocks while PQisBusy, and while output is pending it
  // waits in poll() until it can flush: never call it then.
  if (flushing_)
    return drain::need_output;
  while (!PQisBusy(conn_.get())) {
    result_ptr r{PQgetResult(conn_.get())};
    if (!r)
      return drain::done;
    switch (PQresultStatus(r.get())) {
    case PGRES_FATAL_ERROR:
      if (!error_) // the first error is the one to report
        error_ = std::move(r);
      break;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH: {
      auto status = drain::done;
      if (!refuse_copy(PQresultStatus(r.get()), status))
        return status;
      break;
    }
    default:
      last_ = std::move(r);
    }
  }
  return drain::need_input;
}

bool libpq_connection::refuse_copy(ExecStatusType kind, drain& status) {
  copy_refused_ = true;
  if (kind == PGRES_COPY_OUT) {
    // Read and drop the data; PQgetResult then returns the final status.
    for (;;) {
      char* buf = nullptr;
      auto n = PQgetCopyData(conn_.get(), &buf, 1);
      if (n > 0) {
        PQfreemem(buf);
        continue;
      }
      if (n == 0) {
        status = drain::need_input;
        return false;
      }
      if (n == -1)
        return true;
      break; // -2: broken
    }
  } else if (kind == PGRES_COPY_IN) {
    // The server aborts the COPY with an error; PQgetResult reports it.
    auto sent =
      PQputCopyEnd(conn_.get(), "libpool does not support COPY FROM STDIN");
    if (sent == 0) {
      status = drain::need_output;
      return false;
    }
    if (sent > 0) {
      flushing_ = PQflush(conn_.get()) != 0;
      return true;
    }
  }
  // COPY BOTH (replication) or a failed COPY: no way back to a clean state.
  broken_ = true;
  status = drain::done;
  return false;
}

bool libpq_connection::phase_done(caf::expected<query_result>& out) {
  switch (phase_) {
  case phase::deallocating:
    // Errors only mean that some names were gone already; outside a
    // transaction they harm nothing.
    last_.reset();
    error_.reset();
    if (cancel_requested_) {
      phase_ = phase::idle;
      out = cancelled_error();
      return true;
    }
    return send_prepare() ? false : take_failure(out);
  case phase::preparing:
    if (error_)
      return finish(out);
    last_.reset();
    cache_.insert(current_.sql, preparing_, to_deallocate_);
    if (cancel_requested_) {
      phase_ = phase::idle;
      out = cancelled_error();
      return true;
    }
    return send_execute(&preparing_) ? false : take_failure(out);
  case phase::executing:
    if (error_ && forget_stale(current_.sql, executing_, error_.get())) {
      // Nothing ran; outside a transaction a retry is safe.
      if (!retried_ && !cancel_requested_ &&
          PQtransactionStatus(conn_.get()) == PQTRANS_IDLE) {
        retried_ = true;
        error_.reset();
        last_.reset();
        return send_prepare() ? false : take_failure(out);
      }
    }
    return finish(out);
  case phase::idle:
    break;
  }
  return finish(out);
}

bool libpq_connection::finish(caf::expected<query_result>& out) {
  phase_ = phase::idle;
  if (error_) {
    if (breaks_connection(error_.get())) {
      out = lose(error_.get());
      return true;
    }
    out = copy_refused_
            ? make_error(pool_errc::invalid_request, "COPY is not supported")
            : server_error(error_.get());
  } else if (copy_refused_) {
    out = make_error(pool_errc::invalid_request, "COPY is not supported");
  } else if (last_) {
    auto result = to_query_result(last_.get());
    // These drop every prepared statement of the session, ours included.
    if (result.command_tag == "DISCARD ALL" ||
        result.command_tag == "DEALLOCATE ALL") {
      cache_.clear();
      to_deallocate_.clear();
    }
    out = std::move(result);
  } else {
    out = query_result{};
  }
  last_.reset();
  error_.reset();
  return true;
}

bool libpq_connection::take_failure(caf::expected<query_result>& out) {
  out = std::move(failure_);
  failure_ = caf::error{};
  return true;
}

caf::error libpq_connection::lose(const PGresult* cause) {
  std::string msg;
  std::string state;
  if (cause != nullptr) {
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
  phase_ = phase::idle;
  last_.reset();
  error_.reset();
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
