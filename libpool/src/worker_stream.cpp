// The connection worker's streams on a lease: `stream` (rows), `copy_out`
// and `copy_in`, with flow control (see `lease_actor` in pool/protocol.hpp).
// One stream runs at a time, as the worker's current operation, in phase
// `streaming`; other requests of the lease wait in the queue.

#include <algorithm>

#include "caf/actor_cast.hpp"
#include "caf/send.hpp"

#include "pool/error.hpp"

#include "statement_check.hpp"
#include "worker_ops.hpp"

#include <spdlog/spdlog.h>

namespace pool::worker_ops {

namespace {

/// The most rows per chunk of a `stream`, bytes per chunk of a `copy_out`.
constexpr uint32_t max_rows_per_chunk = 1'000'000;
constexpr uint32_t max_bytes_per_chunk = 64u << 20;

const char* request_name(stream_mode mode) {
  switch (mode) {
  case stream_mode::rows:
    return "stream";
  case stream_mode::copy_out:
    return "copy_out";
  default:
    return "copy_in";
  }
}

caf::error not_held(uint64_t lease_id) {
  return make_error(pool_errc::invalid_lease,
                    "lease " + std::to_string(lease_id) +
                      " is not held on this connection");
}

// The lease check every stream request starts with.
caf::error check_lease(worker_ptr self, uint64_t lease_id) {
  auto& st = self->state;
  if (st.phase == worker_state::dead)
    return make_error(pool_errc::connection_lost, "the connection was lost");
  if (lease_id == 0 || lease_id != st.lease_id)
    return not_held(lease_id);
  return {};
}

bool is_streaming(const worker_state& st) {
  return st.phase == worker_state::streaming;
}

// No progress for query_timeout ends the stream.
void touch(worker_ptr self) {
  auto& st = self->state;
  st.deadline = now(self) + st.ctx->cfg.query_timeout;
  arm_tick(self, st.deadline);
}

void fresh_chunk(worker_ptr self) {
  auto& s = self->state.stream;
  s.chunk = stream_chunk{};
  s.chunk.stream = s.id;
  s.chunk.source = caf::actor_cast<caf::actor>(self);
}

size_t lines_in(const std::string& data) {
  return static_cast<size_t>(std::count(data.begin(), data.end(), '\n'));
}

void send_chunk(worker_ptr self) {
  auto& st = self->state;
  auto& s = st.stream;
  s.chunk.seq = ++s.sent;
  s.rows += st.current.mode == stream_mode::rows ? s.chunk.rows.rows()
                                                 : lines_in(s.chunk.data);
  caf::anon_send(st.current.receiver, std::move(s.chunk));
  fresh_chunk(self);
  touch(self);
}

void unwatch(worker_ptr self) {
  auto& s = self->state.stream;
  if (s.watched) {
    self->demonitor(s.watched);
    s.watched = caf::actor_addr{};
  }
}

// Answers every waiting copy_data / copy_end with `err`.
void answer_inbox(worker_ptr self, const caf::error& err) {
  auto& s = self->state.stream;
  for (auto& x : s.inbox)
    reply::deliver(self, x.rp, err);
  s.inbox.clear();
}

// The statement is over (`end`: its final result or error): the receiver
// gets its last chunk and the `stream_end`, the requests are answered, and
// the connection takes the lease's next request.
void finish_stream(worker_ptr self, caf::expected<query_result>& end) {
  auto& st = self->state;
  auto& s = st.stream;
  auto& op = st.current;
  bool fatal = !end && st.ctx->db->rules().is_fatal(end.error());
  stream_end e;
  e.stream = s.id;
  if (!s.stopping && (s.chunk.rows.rows() > 0 || !s.chunk.data.empty()))
    send_chunk(self);
  e.chunks = s.sent;
  e.rows = s.rows;
  if (s.stopping) {
    e.error = s.stopping;
  } else if (!end) {
    e.error = fatal ? as_lost(end.error()) : end.error();
  } else {
    e.command_tag = end->command_tag;
    if (op.mode != stream_mode::rows && end->affected >= 0)
      e.rows = static_cast<uint64_t>(end->affected);
  }
  unwatch(self);
  if (op.mode == stream_mode::copy_in) {
    // The end's request gets the COPY's outcome; a failure with no end
    // requested waits for the next copy_data or copy_end.
    bool ended = !s.inbox.empty() && s.inbox.front().end;
    auto err = e.error;
    if (ended) {
      auto& rp = s.inbox.front().rp;
      if (err)
        reply::deliver(self, rp, err);
      else
        reply::deliver(self, rp, std::move(*end));
      s.inbox.pop_front();
    } else if (s.copy_ready) {
      st.copy_failure =
        err ? err
            : make_error(pool_errc::invalid_request, "the COPY ended early");
    }
    answer_inbox(self, err ? err
                           : make_error(pool_errc::invalid_request,
                                        "copy_in: no COPY is running"));
    if (!s.copy_ready) // the copy_in itself is still unanswered
      answer(self, op,
             err ? err
                 : make_error(pool_errc::invalid_request,
                              "copy_in: the server did not start "
                              "a COPY FROM STDIN"));
  } else {
    if (op.receiver)
      caf::anon_send(op.receiver, e);
    if (e.error)
      answer(self, op, e.error);
    else
      answer(self, op, std::move(e));
  }
  s = stream_run{};
  if (fatal) {
    fail(self, as_lost(end.error()));
    return;
  }
  finish_op(self);
}

// COPY in: the server took the data given last (or is ready for the
// first): answers its request and gives the next one. Returns whether
// `pump` should poll again.
bool on_copy_ready(worker_ptr self) {
  auto& st = self->state;
  auto& s = st.stream;
  if (!s.copy_ready) {
    s.copy_ready = true;
    answer(self, st.current, caf::ok_atom::value);
  }
  if (s.sending) {
    s.sending = false;
    reply::deliver(self, s.inbox.front().rp, caf::ok_atom::value);
    s.inbox.pop_front();
  }
  if (s.inbox.empty() || s.stopping || s.ending)
    return false;
  touch(self);
  auto& next = s.inbox.front();
  if (next.end) {
    s.ending = true;
    st.conn->end_copy(next.data);
    return false; // its wake-up follows
  }
  if (auto err = st.conn->put_copy(next.data)) {
    answer_inbox(self, err);
    fail(self, err);
    return false;
  }
  s.sending = true;
  return true;
}

} // namespace

void pump_stream(worker_ptr self) {
  auto& st = self->state;
  auto window = st.ctx->cfg.stream_window;
  while (is_streaming(st)) {
    auto& s = st.stream;
    auto& op = st.current;
    if (op.mode != stream_mode::copy_in && !s.stopping &&
        s.sent - s.acked >= window)
      return; // the receiver is behind: read nothing
    auto before = s.chunk.rows.cells.size() + s.chunk.data.size();
    caf::expected<query_result> end{query_result{}};
    auto status = st.conn->poll_stream(s.chunk.rows, s.chunk.data,
                                       std::max<uint32_t>(op.limit, 1), end);
    if (s.stopping) { // discard what still comes
      s.chunk.rows.cells.clear();
      s.chunk.data.clear();
    } else if (s.chunk.rows.cells.size() + s.chunk.data.size() != before) {
      touch(self);
    }
    if (st.notify_to)
      pass_notifications(self);
    switch (status) {
    case stream_status::more:
      if (!s.stopping)
        send_chunk(self);
      break;
    case stream_status::pending:
      return;
    case stream_status::copy_ready:
      if (!on_copy_ready(self))
        return;
      break;
    case stream_status::done:
      finish_stream(self, end);
      return;
    }
  }
}

void abort_stream(worker_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (!is_streaming(st))
    return;
  auto& s = st.stream;
  answer_inbox(self, err);
  if (st.current.receiver) {
    stream_end e;
    e.stream = s.id;
    e.rows = s.rows;
    e.chunks = s.sent;
    e.error = s.stopping ? s.stopping : err;
    caf::anon_send(st.current.receiver, std::move(e));
  }
  unwatch(self);
  s = stream_run{};
}

void stop_stream(worker_ptr self, caf::error why) {
  auto& st = self->state;
  auto& s = st.stream;
  if (!is_streaming(st) || s.stopping)
    return;
  st.ctx->log->debug("worker {}: stream {} stops: {}", st.id, s.id,
                     describe(why));
  s.stopping = std::move(why);
  s.chunk.rows.cells.clear();
  s.chunk.data.clear();
  if (st.current.mode == stream_mode::copy_in && s.copy_ready) {
    if (!s.ending) {
      s.ending = true;
      st.conn->end_copy("libpool: " + error_message(s.stopping));
    }
  } else {
    auto t = now(self);
    st.cancelled_any = true;
    st.last_cancel = t;
    st.conn->cancel();
  }
  // The server gets a grace period to stop, as a cancelled statement does.
  st.cancelled = true;
  st.deadline = now(self) + std::max<caf::timespan>(st.ctx->cfg.query_timeout,
                                                    std::chrono::seconds(2));
  arm_tick(self, st.deadline);
  pump_stream(self);
}

void on_stream_tick(worker_ptr self) {
  auto& st = self->state;
  auto& s = st.stream;
  if (now(self) < st.deadline) {
    arm_tick(self, st.deadline);
    return;
  }
  if (s.stopping) {
    answer_inbox(self, s.stopping);
    fail(self, make_error(pool_errc::connection_lost,
                          "the server did not stop a cancelled stream"));
    return;
  }
  auto& op = st.current;
  const char* why = "the server sent nothing for query_timeout";
  if (op.mode == stream_mode::copy_in && s.copy_ready && !s.sending)
    why = "no COPY data came for query_timeout";
  else if (op.mode != stream_mode::copy_in &&
           s.sent - s.acked >= st.ctx->cfg.stream_window)
    why = "the receiver acknowledged nothing for query_timeout";
  stop_stream(self, make_error(pool_errc::query_timeout, why));
}

void on_stream_ack(worker_ptr self, uint64_t stream, uint64_t seq) {
  auto& st = self->state;
  auto& s = st.stream;
  if (!is_streaming(st) || s.id != stream || seq <= s.acked || seq > s.sent)
    return;
  s.acked = seq;
  touch(self);
  pump_stream(self);
}

void on_stream_cancel(worker_ptr self, uint64_t stream) {
  auto& st = self->state;
  if (is_streaming(st) && st.stream.id == stream)
    stop_stream(self, make_error(pool_errc::cancelled,
                                 "the receiver cancelled the stream"));
}

bool on_receiver_down(worker_ptr self, const caf::actor_addr& who,
                      const caf::error& reason) {
  auto& st = self->state;
  if (!is_streaming(st) || !st.stream.watched || st.stream.watched != who)
    return false;
  st.stream.watched = caf::actor_addr{};
  stop_stream(self, make_error(pool_errc::cancelled, "the receiver is gone (" +
                                                       describe(reason) + ")"));
  return true;
}

void start_stream_op(worker_ptr self) {
  auto& st = self->state;
  auto& op = st.current;
  st.phase = worker_state::streaming;
  st.stream = stream_run{};
  st.stream.id = ++st.streams;
  st.cancelled = false;
  fresh_chunk(self);
  if (op.mode == stream_mode::copy_in)
    st.copy_failure = caf::error{};
  if (op.receiver) {
    st.stream.watched = op.receiver.address();
    self->monitor(op.receiver);
  }
  touch(self);
  st.conn->start_stream(op.mode, op.stmt);
}

caf::result<stream_end> request_stream(worker_ptr self, uint64_t lease_id,
                                       stream_mode mode, statement& stmt,
                                       caf::actor& receiver, uint32_t limit) {
  auto name = std::string{request_name(mode)};
  if (auto err = check_lease(self, lease_id))
    return err;
  if (!receiver)
    return make_error(pool_errc::invalid_request, name + ": no receiver");
  auto most =
    mode == stream_mode::rows ? max_rows_per_chunk : max_bytes_per_chunk;
  if (limit == 0 || limit > most)
    return make_error(
      pool_errc::invalid_request,
      name +
        (mode == stream_mode::rows ? ": rows_per_chunk" : ": bytes_per_chunk") +
        " must be in [1, " + std::to_string(most) + "], is " +
        std::to_string(limit));
  if (stmt.sql.empty())
    return make_error(pool_errc::invalid_request, name + ": empty SQL");
  if (auto err = check_statement(stmt, name.c_str()))
    return err;
  if (!self->state.conn->can_stream())
    return make_error(pool_errc::invalid_request,
                      name + ": this connection cannot stream");
  auto op = make_op(self, worker_op::stream);
  op.mode = mode;
  op.stmt = std::move(stmt);
  op.receiver = std::move(receiver);
  op.limit = limit;
  return submit(self, std::move(op));
}

caf::result<caf::ok_atom> request_copy_in(worker_ptr self, uint64_t lease_id,
                                          statement& stmt) {
  if (auto err = check_lease(self, lease_id))
    return err;
  if (stmt.sql.empty())
    return make_error(pool_errc::invalid_request, "copy_in: empty SQL");
  if (auto err = check_statement(stmt, "copy_in"))
    return err;
  if (!self->state.conn->can_stream())
    return make_error(pool_errc::invalid_request,
                      "copy_in: this connection cannot run COPY");
  auto op = make_op(self, worker_op::stream);
  op.mode = stream_mode::copy_in;
  op.stmt = std::move(stmt);
  return submit(self, std::move(op));
}

caf::response_promise request_copy(worker_ptr self, uint64_t lease_id, bool end,
                                   std::string& data) {
  auto& st = self->state;
  auto rp = self->make_response_promise();
  auto what = end ? "copy_end" : "copy_data";
  if (auto err = check_lease(self, lease_id)) {
    rp.deliver(err);
    return rp;
  }
  auto& s = st.stream;
  if (is_streaming(st) && st.current.mode == stream_mode::copy_in &&
      !s.stopping && !s.ending && !(s.inbox.size() > 0 && s.inbox.back().end)) {
    s.inbox.push_back(copy_request{end, std::move(data), rp});
    if (s.copy_ready && !s.sending && s.inbox.size() == 1 &&
        on_copy_ready(self))
      pump_stream(self);
    return rp;
  }
  if (st.copy_failure) {
    rp.deliver(st.copy_failure);
    if (end)
      st.copy_failure = caf::error{};
    return rp;
  }
  rp.deliver(make_error(pool_errc::invalid_request,
                        std::string{what} +
                          ": no COPY FROM STDIN is running on "
                          "lease " +
                          std::to_string(lease_id) +
                          " (send data after copy_in's ok)"));
  return rp;
}

} // namespace pool::worker_ops
