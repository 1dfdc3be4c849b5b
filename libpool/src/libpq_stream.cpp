// The libpq connection's streams: a statement whose rows are read one at a
// time (single-row mode), COPY TO STDOUT and COPY FROM STDIN, each in
// libpq's normal mode (COPY does not run in pipeline mode), read only when
// the worker asks for more. See `connection::start_stream`.

#include <cstring>
#include <string>

#include "libpq_connection.hpp"
#include "libpq_results.hpp"
#include "sql_words.hpp"

#include "pool/error.hpp"

namespace pool {

namespace {

const char* mode_name(stream_mode mode) {
  switch (mode) {
  case stream_mode::rows:
    return "stream";
  case stream_mode::copy_out:
    return "copy_out";
  default:
    return "copy_in";
  }
}

// Appends the single row of `r` to `out` (setting its columns if unset).
void append_row(query_result& out, const PGresult* r) {
  auto cols = PQnfields(r);
  if (out.columns.empty())
    for (int c = 0; c < cols; ++c)
      out.columns.push_back(
        column{PQfname(r, c), static_cast<uint32_t>(PQftype(r, c))});
  for (int c = 0; c < cols; ++c)
    if (PQgetisnull(r, 0, c))
      out.cells.emplace_back();
    else
      out.cells.emplace_back(std::string{
        PQgetvalue(r, 0, c), static_cast<size_t>(PQgetlength(r, 0, c))});
}

} // namespace

bool libpq_connection::can_stream() const {
  return true;
}

void libpq_connection::refuse_stream(caf::error err) {
  stream_ = stream_state::finished;
  stream_end_ = std::move(err);
  waker_.wake();
}

void libpq_connection::start_stream(stream_mode mode, const statement& st) {
  not_run_ = false;
  stream_mode_ = mode;
  stream_end_ = query_result{};
  stream_ = stream_state::running;
  auto what = std::string{mode_name(mode)} + ": ";
  if (lone_running_ || !pipe_.empty()) {
    refuse_stream(make_error(pool_errc::invalid_request,
                             what + "a statement is running on this "
                                    "connection"));
    return;
  }
  bool copy = is_keyword(first_word(st.sql), "copy");
  if (copy != (mode != stream_mode::rows)) {
    refuse_stream(make_error(pool_errc::invalid_request,
                             what + (copy ? "COPY runs through copy_out or "
                                            "copy_in"
                                          : "not a COPY statement")));
    return;
  }
  if (conn_ == nullptr || broken_ || server_ended_) {
    not_run_ = true;
    refuse_stream(lose(nullptr));
    return;
  }
  if (PQpipelineStatus(conn_.get()) != PQ_PIPELINE_OFF)
    PQexitPipelineMode(conn_.get());
  cancel_requested_ = false;
  if (send_statement(st, nullptr) == 0) {
    not_run_ = true;
    refuse_stream(lose(nullptr));
    return;
  }
  if (mode == stream_mode::rows && PQsetSingleRowMode(conn_.get()) == 0) {
    refuse_stream(lose(nullptr));
    return;
  }
  flushing_ = PQflush(conn_.get()) != 0;
  watch();
}

caf::error libpq_connection::put_copy(const std::string& data) {
  if (conn_ == nullptr || broken_ || stream_ != stream_state::copy_in)
    return make_error(pool_errc::connection_lost, "the COPY is not running");
  if (data.empty())
    return {};
  // Non-blocking: libpq grows its buffer to take it all, then sends what
  // the socket takes; `poll_stream` sends the rest.
  if (PQputCopyData(conn_.get(), data.data(), static_cast<int>(data.size())) !=
      1)
    return lose(nullptr);
  auto r = PQflush(conn_.get());
  if (r < 0)
    return lose(nullptr);
  flushing_ = r > 0;
  if (flushing_)
    watch();
  return {};
}

void libpq_connection::end_copy(const std::string& failure) {
  if (conn_ == nullptr || broken_ || stream_ != stream_state::copy_in) {
    waker_.wake();
    return;
  }
  auto msg = failure.empty() ? nullptr : failure.c_str();
  if (PQputCopyEnd(conn_.get(), msg) != 1) {
    stream_end_ = lose(nullptr);
    stream_ = stream_state::finished;
    waker_.wake();
    return;
  }
  stream_ = stream_state::running; // the COPY's result follows
  flushing_ = PQflush(conn_.get()) > 0;
  watch();
  waker_.wake();
}

stream_status libpq_connection::stream_lost(caf::expected<query_result>& end) {
  stream_ = stream_state::off;
  end = lose(nullptr);
  return stream_status::done;
}

stream_status libpq_connection::poll_stream(query_result& rows,
                                            std::string& data, size_t limit,
                                            caf::expected<query_result>& end) {
  armed_ = false; // woken: the one-shot registration fired
  if (stream_ == stream_state::finished) {
    stream_ = stream_state::off;
    end = std::move(stream_end_);
    stream_end_ = query_result{};
    return stream_status::done;
  }
  if (stream_ == stream_state::off || conn_ == nullptr || broken_) {
    end = broken_
            ? make_error(pool_errc::connection_lost, "connection closed")
            : make_error(pool_errc::invalid_request, "no stream is running");
    stream_ = stream_state::off;
    return stream_status::done;
  }
  auto c = conn_.get();
  if (flushing_) {
    auto r = PQflush(c);
    if (r < 0)
      return stream_lost(end);
    flushing_ = r > 0;
    if (flushing_) {
      watch();
      return stream_status::pending;
    }
  }
  if (stream_ == stream_state::copy_in)
    return stream_status::copy_ready;
  bool read = false;
  for (;;) {
    if (stream_ == stream_state::copy_out) {
      char* buf = nullptr;
      auto n = PQgetCopyData(c, &buf, 1);
      if (n > 0) {
        if (stream_mode_ == stream_mode::copy_out)
          data.append(buf, static_cast<size_t>(n));
        PQfreemem(buf);
        if (stream_mode_ == stream_mode::copy_out && data.size() >= limit)
          return stream_status::more;
        continue;
      }
      if (n == -2)
        return stream_lost(end);
      if (n == 0) { // needs input
        if (read) {
          watch();
          return stream_status::pending;
        }
        if (PQconsumeInput(c) == 0)
          return stream_lost(end);
        read = true;
        continue;
      }
      stream_ = stream_state::running; // -1: the COPY's result follows
    }
    if (PQisBusy(c)) {
      if (read) {
        watch();
        return stream_status::pending;
      }
      if (PQconsumeInput(c) == 0)
        return stream_lost(end);
      read = true;
      continue;
    }
    result_ptr r{PQgetResult(c)};
    if (!r && stream_mode_ == stream_mode::rows && !clearing_single_row_) {
      // libpq 15 keeps single-row mode after the query that used it, failed
      // or not, and applies it to the next query sent in pipeline mode
      // (which then loses its rows: a pooled query after a stream, or after
      // a lease that streamed). Only a query sent outside pipeline mode
      // clears it: an empty one, one round trip per stream.
      if (PQsendQuery(c, "") == 0)
        return stream_lost(end);
      clearing_single_row_ = true;
      flushing_ = PQflush(c) != 0;
      continue;
    }
    if (!r) { // the statement is over: the connection is free
      clearing_single_row_ = false;
      stream_ = stream_state::off;
      end = std::move(stream_end_);
      stream_end_ = query_result{};
      went_idle();
      return stream_status::done;
    }
    switch (PQresultStatus(r.get())) {
    case PGRES_SINGLE_TUPLE:
      append_row(rows, r.get());
      if (rows.rows() >= limit)
        return stream_status::more;
      break;
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
      if (stream_end_) {
        auto res = to_query_result(r.get()); // no cells: single-row mode
        res.cells.clear();
        if (rows.columns.empty())
          rows.columns = res.columns;
        stream_end_ = std::move(res);
      }
      break;
    case PGRES_COPY_OUT:
      stream_ = stream_state::copy_out;
      if (stream_mode_ != stream_mode::copy_out)
        stream_end_ = make_error(pool_errc::invalid_request,
                                 std::string{mode_name(stream_mode_)} +
                                   ": the statement is a COPY TO STDOUT");
      break;
    case PGRES_COPY_IN:
      if (stream_mode_ != stream_mode::copy_in) {
        // Abort it: the server answers with an error, then the end.
        stream_end_ = make_error(pool_errc::invalid_request,
                                 std::string{mode_name(stream_mode_)} +
                                   ": the statement is a COPY FROM STDIN");
        if (PQputCopyEnd(c, "libpool: not a COPY TO STDOUT") != 1)
          return stream_lost(end);
        flushing_ = PQflush(c) > 0;
        break;
      }
      stream_ = stream_state::copy_in;
      return stream_status::copy_ready;
    case PGRES_COPY_BOTH:
      entered_copy_ = true;
      return stream_lost(end);
    case PGRES_FATAL_ERROR:
      if (breaks_connection(r.get())) {
        stream_ = stream_state::off;
        end = lose(r.get());
        return stream_status::done;
      }
      if (stream_end_) // the first error is the one to report
        stream_end_ = server_error(r.get());
      break;
    default:
      break;
    }
  }
}

} // namespace pool
