// The libpq connection's pipeline mode: several independent autocommit
// statements in flight on one connection, each followed by its own Sync.

#include <string>

#include "libpq_connection.hpp"
#include "libpq_results.hpp"

#include "pool/error.hpp"

namespace pool {

bool libpq_connection::can_pipeline() const {
  return true;
}

void libpq_connection::submit(uint64_t tag, const statement& st) {
  pipe_.emplace_back();
  auto& p = pipe_.back();
  p.tag = tag;
  p.stmt = &st;
  if (conn_ == nullptr || broken_ || server_ended_) {
    // poll_pipeline reports it (never sent), with everything in flight.
    broken_ = true;
    waker_.wake();
    return;
  }
  if (phase_ != phase::idle) {
    pipe_.pop_back();
    refused_.emplace_back(tag, make_error(pool_errc::invalid_request,
                                          "a statement is running on this "
                                          "connection"));
    waker_.wake();
    return;
  }
  if (PQpipelineStatus(conn_.get()) == PQ_PIPELINE_OFF &&
      PQenterPipelineMode(conn_.get()) == 0) {
    broken_ = true; // only fails with results pending: the state is unknown
    waker_.wake();
    return;
  }
  if (!send_piped(p))
    waker_.wake();
}

bool libpq_connection::send_piped(piped& p) {
  auto& st = *p.stmt;
  int sent = 1;
  const std::string* name = nullptr;
  if (cache_capacity_ > 0) {
    // A re-sent statement prepares its own name: the cached one may be
    // another pending prepare of the same text that fails again.
    name = p.retried ? nullptr : cache_.find(st.sql);
    if (name == nullptr) {
      p.prepared = "lp_" + std::to_string(next_name_++);
      sent = PQsendPrepare(conn_.get(), p.prepared.c_str(), st.sql.c_str(), 0,
                           nullptr);
      if (sent != 0) {
        cache_.insert(st.sql, p.prepared, to_deallocate_);
        name = &p.prepared;
      }
    }
  }
  if (sent != 0) {
    if (name != nullptr)
      p.executing = *name;
    sent = send_statement(st, name);
  }
  if (sent == 0) // e.g. more than 65535 parameters
    p.failure = make_error(pool_errc::invalid_request,
                           one_line(PQerrorMessage(conn_.get())));
  // The Sync closes the segment even if nothing of it was sent, so every
  // entry ends with exactly one PGRES_PIPELINE_SYNC.
  if (PQpipelineSync(conn_.get()) == 0 ||
      PQstatus(conn_.get()) == CONNECTION_BAD || !deallocate_piped()) {
    broken_ = true;
    return false;
  }
  p.sent = true;
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
    pipe_.back().internal = true;
    if (PQsendQueryParams(conn_.get(), sql.c_str(), 0, nullptr, nullptr,
                          nullptr, nullptr, 0) == 0 ||
        PQpipelineSync(conn_.get()) == 0)
      return false;
  }
  to_deallocate_.clear();
  return true;
}

size_t libpq_connection::poll_pipeline(std::vector<tagged_result>& done) {
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
    auto lost = lose(said_why ? pipe_.front().error.get() : error_.get());
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
    went_idle();
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
      // Not plain DML: the worker never pipelines it. No way back.
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
    pipe_.pop_front();
    return true;
  }
  if (p.error) {
    if (breaks_connection(p.error.get()))
      return false;
    if (!p.prepared.empty() && !p.prepare_seen)
      cache_.erase(p.stmt->sql, p.prepared); // the prepare failed
    if (forget_stale(p.stmt->sql, p.executing, p.error.get())) {
      // Nothing ran: send it again, once, behind the others.
      if (!p.retried && !cancel_requested_) {
        piped again;
        again.tag = p.tag;
        again.stmt = p.stmt;
        again.retried = true;
        pipe_.pop_front();
        pipe_.push_back(std::move(again));
        return send_piped(pipe_.back());
      }
    }
  }
  caf::expected<query_result> out{query_result{}};
  if (p.failure)
    out = std::move(p.failure);
  else if (p.error)
    out = server_error(p.error.get());
  else if (p.last)
    out = to_query_result(p.last.get());
  done.emplace_back(p.tag, std::move(out));
  pipe_.pop_front();
  return true;
}

} // namespace pool
