// The libpq connection's one statement engine: every statement, a lone one
// (`execute`) or pipelined ones (`submit`), is a segment [Parse,] Bind,
// Execute, Sync in libpq's pipeline mode, drained by `pump`. See the class
// comment in libpq_connection.hpp.

#include <string>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "libpq_connection.hpp"
#include "libpq_results.hpp"
#include "sql_words.hpp"

#include "pool/error.hpp"

namespace pool {

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

/// SQLSTATE of a statement cancelled by request.
constexpr const char* query_canceled = "57014";

} // namespace

// -- the lone statement -------------------------------------------------------

void libpq_connection::execute(const statement& st) {
  not_run_ = false;
  if (lone_running_ || !pipe_.empty()) {
    refused_.emplace_back(lone_tag, make_error(pool_errc::invalid_request,
                                               "a statement is running on this "
                                               "connection"));
    lone_running_ = true;
    waker_.wake();
    return;
  }
  lone_running_ = true;
  lone_ = st; // reuses the copy's buffers
  start(lone_tag, lone_);
}

poll_status libpq_connection::poll_result(caf::expected<query_result>& out) {
  if (!lone_running_) {
    armed_ = false; // woken: the one-shot registration fired
    out = make_error(pool_errc::invalid_request, "no statement is running");
    return poll_status::ready;
  }
  // A refusal (`execute` broke its precondition) is reported without
  // touching what is in flight.
  for (auto i = refused_.begin(); i != refused_.end(); ++i)
    if (i->tag == lone_tag) {
      lone_running_ = false;
      out = std::move(i->result);
      refused_.erase(i);
      return poll_status::ready;
    }
  finished_.clear();
  pump(finished_);
  for (auto& r : finished_) {
    if (r.tag != lone_tag)
      continue; // unreachable: nothing is pipelined while execute runs
    lone_running_ = false;
    not_run_ = r.not_run;
    out = std::move(r.result);
    finished_.clear();
    return poll_status::ready;
  }
  return poll_status::pending;
}

// -- pipelined statements -----------------------------------------------------

bool libpq_connection::can_pipeline() const {
  return true;
}

void libpq_connection::submit(uint64_t tag, const statement& st) {
  if (lone_running_) {
    refused_.emplace_back(tag, make_error(pool_errc::invalid_request,
                                          "a statement is running on this "
                                          "connection"));
    waker_.wake();
    return;
  }
  start(tag, st);
}

size_t libpq_connection::poll_pipeline(std::vector<tagged_result>& done) {
  return pump(done);
}

// -- sending ------------------------------------------------------------------

void libpq_connection::start(uint64_t tag, const statement& st) {
  if (conn_ == nullptr || broken_ || server_ended_) {
    lose_unsent(tag, st);
    return;
  }
  if (is_keyword(first_word(st.sql), "copy")) {
    refused_.emplace_back(tag, make_error(pool_errc::invalid_request,
                                          "COPY runs through copy_out or "
                                          "copy_in on a lease"));
    waker_.wake();
    return;
  }
  if (pipe_.empty()) {
    // Outside pipeline mode the transaction status is the server's last
    // word: whether this segment starts outside a transaction block. The
    // pipelined statements behind it are autocommit ones (the worker's
    // rule), so they inherit it.
    if (PQpipelineStatus(conn_.get()) != PQ_PIPELINE_OFF)
      PQexitPipelineMode(conn_.get());
    autocommit_pipe_ = PQtransactionStatus(conn_.get()) == PQTRANS_IDLE;
    cancel_requested_ = false;
    if (PQenterPipelineMode(conn_.get()) == 0) {
      // Only fails with results pending: the state is unknown.
      lose_unsent(tag, st);
      return;
    }
  }
  piped p;
  p.tag = tag;
  p.stmt = &st;
  p.autocommit = autocommit_pipe_;
  if (!send_segment(std::move(p)))
    waker_.wake();
}

void libpq_connection::lose_unsent(uint64_t tag, const statement& st) {
  pipe_.emplace_back();
  pipe_.back().tag = tag;
  pipe_.back().stmt = &st;
  broken_ = true;
  waker_.wake();
}

namespace {

void set_cork(PGconn* c, int on) {
  auto fd = c != nullptr ? PQsocket(c) : -1;
  if (fd >= 0)
    ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)); // may not be TCP
}

} // namespace

void libpq_connection::hold_sends() {
  set_cork(conn_.get(), 1);
}

void libpq_connection::release_sends() {
  set_cork(conn_.get(), 0);
}

bool libpq_connection::send_segment(piped p) {
  auto& st = *p.stmt;
  if (cache_capacity_ > 0) {
    // A re-sent statement prepares its own name: the cached one may be
    // another pending prepare of the same text that fails again.
    auto name = p.retried ? nullptr : cache_.find(st.sql);
    if (name != nullptr) {
      p.executing = *name;
    } else {
      // Cached at once, so that statements behind it use the name; the
      // insert may evict others, deallocated before this segment.
      p.prepared = "lp_" + std::to_string(next_name_++);
      p.executing = p.prepared;
      cache_.insert(st.sql, p.prepared, to_deallocate_);
    }
  }
  bool buffer_empty = !flushing_;
  if (p.autocommit && !deallocate_piped()) {
    pipe_.push_back(std::move(p)); // not sent: reported as not run
    broken_ = true;
    return false;
  }
  pipe_.push_back(std::move(p));
  auto& q = pipe_.back();
  int sent = 1;
  if (!q.prepared.empty()) {
    // No parameter types: the server infers them, as for PQsendQueryParams.
    sent = PQsendPrepare(conn_.get(), q.prepared.c_str(), st.sql.c_str(), 0,
                         nullptr);
    if (sent == 0)
      cache_.erase(st.sql, q.prepared);
  }
  if (sent != 0)
    sent = send_statement(st, q.executing.empty() ? nullptr : &q.executing);
  if (sent == 0) // e.g. more than 65535 parameters
    q.failure = make_error(pool_errc::invalid_request,
                           one_line(PQerrorMessage(conn_.get())));
  // The Sync closes the segment even if nothing of it was sent, so every
  // entry ends with exactly one PGRES_PIPELINE_SYNC.
  if (PQpipelineSync(conn_.get()) == 0 ||
      PQstatus(conn_.get()) == CONNECTION_BAD) {
    // Nothing of it reached the server if the socket buffer was empty and
    // the segment small: it went out in one write or not at all.
    q.sent = !(buffer_empty && wire_size(st) < single_write_limit);
    broken_ = true;
    return false;
  }
  q.sent = true;
  // -1 (write failure) leaves `flushing_` set: `pump` finds out more.
  flushing_ = PQflush(conn_.get()) != 0;
  watch();
  return true;
}

bool libpq_connection::deallocate_piped() {
  if (to_deallocate_.size() < deallocate_batch)
    return true;
  for (auto& name : to_deallocate_) {
    // Errors only mean the name was gone already; each has its own Sync.
    auto sql = "DEALLOCATE " + name;
    pipe_.emplace_back();
    auto& d = pipe_.back();
    d.internal = true;
    d.autocommit = true;
    d.executing = name; // the name it deallocates
    if (PQsendQueryParams(conn_.get(), sql.c_str(), 0, nullptr, nullptr,
                          nullptr, nullptr, 0) == 0 ||
        PQpipelineSync(conn_.get()) == 0)
      return false;
    d.sent = true;
  }
  to_deallocate_.clear();
  return true;
}

// -- cancelling ---------------------------------------------------------------

void libpq_connection::cancel() {
  if (conn_ == nullptr || broken_ ||
      (pipe_.empty() && stream_ == stream_state::off))
    return;
  cancel_requested_ = true;
  post_cancel();
}

// -- receiving ----------------------------------------------------------------

size_t libpq_connection::pump(std::vector<tagged_result>& done) {
  armed_ = false; // woken: the one-shot registration fired
  for (auto& x : refused_)
    done.emplace_back(std::move(x));
  refused_.clear();
  if (pipe_.empty())
    return 0;
  bool ok = conn_ != nullptr && !broken_;
  if (ok && flushing_) {
    auto r = PQflush(conn_.get());
    ok = r >= 0;
    flushing_ = r > 0;
  }
  ok = ok && PQconsumeInput(conn_.get()) != 0;
  // On a lost connection this still collects what the server said last.
  if (conn_ != nullptr && !drain_pipeline(done))
    ok = false;
  ok = ok && !broken_ && PQstatus(conn_.get()) != CONNECTION_BAD;
  if (!ok) {
    // The server's last words: a FATAL on the front statement ended the
    // session there, so those behind it never started. (After a mere ERROR
    // the loss could have come later: nothing is known about the rest.)
    bool said_why = conn_ != nullptr && !pipe_.empty() && pipe_.front().error &&
                    ends_session(pipe_.front().error.get());
    auto lost = lose(said_why ? pipe_.front().error.get() : nullptr);
    bool front = true;
    for (auto& p : pipe_) {
      if (!p.internal)
        done.emplace_back(p.tag, lost, !p.sent || (said_why && !front));
      front = false;
    }
    pipe_.clear();
    return 0;
  }
  if (pipe_.empty()) {
    PQexitPipelineMode(conn_.get());
    cancel_requested_ = false;
    went_idle(); // watch the idle connection
  } else {
    watch(); // for the next results
  }
  return pipe_.size();
}

bool libpq_connection::drain_pipeline(std::vector<tagged_result>& done) {
  // PQgetResult blocks while PQisBusy, and while output is pending it
  // waits in poll() until it can flush: never call it then. A null result
  // ends one statement's results; two in a row mean nothing is left now.
  int nulls = 0;
  while (!pipe_.empty() && !flushing_ && !PQisBusy(conn_.get())) {
    // Each result is freed when `r` goes, unless moved into the entry.
    result_ptr r{PQgetResult(conn_.get())};
    if (!r) {
      if (++nulls > 1)
        break;
      continue;
    }
    nulls = 0;
    auto& p = pipe_.front();
    switch (PQresultStatus(r.get())) {
    case PGRES_PIPELINE_SYNC:
      if (!complete_front(done))
        return false;
      break;
    case PGRES_PIPELINE_ABORTED: // skipped after an error in its segment
      break;
    case PGRES_FATAL_ERROR:
      if (!p.error) // the first error is the one to report
        p.error = std::move(r);
      break;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
      // Refused before sending by its first word, yet the server started
      // one: there is no way back to a clean session in pipeline mode.
      entered_copy_ = true;
      return false;
    default:
      if (!p.prepared.empty() && !p.prepare_seen)
        p.prepare_seen = true; // the Parse's result
      else
        p.last = std::move(r);
    }
  }
  return true;
}

bool libpq_connection::complete_front(std::vector<tagged_result>& done) {
  auto& p = pipe_.front();
  if (p.internal) {
    // A cancel that landed on our DEALLOCATE was meant for a statement
    // behind it: send it again; the name is deallocated later.
    if (p.error && field(p.error.get(), PG_DIAG_SQLSTATE) == query_canceled) {
      to_deallocate_.push_back(std::move(p.executing));
      if (cancel_requested_)
        for (auto& q : pipe_)
          if (!q.internal) {
            post_cancel();
            break;
          }
    }
    pipe_.pop_front();
    return true;
  }
  if (p.error) {
    if (breaks_connection(p.error.get()))
      return false;
    if (!p.prepared.empty() && !p.prepare_seen)
      cache_.erase(p.stmt->sql, p.prepared); // the prepare failed
    // Nothing ran if the segment had its implicit transaction to itself:
    // send it again, once, behind the others. Inside a transaction block
    // the block is aborted now: the caller must hear it.
    if (forget_stale(p.stmt->sql, p.executing, p.error.get()) && !p.retried &&
        !cancel_requested_ && p.autocommit) {
      piped again;
      again.tag = p.tag;
      again.stmt = p.stmt;
      again.retried = true;
      again.autocommit = p.autocommit;
      pipe_.pop_front();
      return send_segment(std::move(again));
    }
  }
  caf::expected<query_result> out{query_result{}};
  if (p.failure) {
    out = std::move(p.failure);
  } else if (p.error) {
    // The server names our prepared statement ("lp_3"), which the user never
    // saw: name the statement they sent instead.
    auto msg = field(p.error.get(), PG_DIAG_MESSAGE_PRIMARY);
    if (msg.empty())
      msg = one_line(PQresultErrorMessage(p.error.get()));
    out = server_error(name_statement(std::move(msg), p.executing, p.stmt->sql),
                       field(p.error.get(), PG_DIAG_SQLSTATE), "");
  } else if (p.last) {
    out = to_query_result(p.last.get());
    // These drop every prepared statement of the session, ours included.
    auto& tag = out->command_tag;
    if (tag == "DISCARD ALL" || tag == "DEALLOCATE ALL") {
      cache_.clear();
      to_deallocate_.clear();
    }
  }
  done.emplace_back(p.tag, std::move(out));
  pipe_.pop_front();
  return true;
}

} // namespace pool
