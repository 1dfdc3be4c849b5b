#pragma once

// One PostgreSQL connection driven through libpq's non-blocking API, for the
// libpq backend (see pool/backend.hpp for the threading contract).

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <libpq-fe.h>

#include "caf/error.hpp"
#include "caf/timespan.hpp"

#include "pool/backend.hpp"
#include "pool/config.hpp"

#include "libpq_blocking_thread.hpp"
#include "libpq_statement_cache.hpp"
#include "readiness.hpp"

namespace pool {

/// A `connection` on libpq's non-blocking API; no actor, no thread of its
/// own. Every wait is for the socket, through `readiness` (the poller thread
/// or the io scheduler's epoll sets), which calls the worker's `waker`.
///
/// Connecting: `PQconnectStartParams`, then `PQconnectPoll` each time the
/// socket is ready for what the last poll asked (reading or writing). The
/// socket is re-registered whenever libpq replaced it (next host of a list,
/// SSL or GSS encryption retried without), recognised by its inode since the
/// number is often reused; a spurious wake-up polls the socket first
/// (`poll` with timeout 0), so libpq is only polled when it can progress.
/// TLS handshakes go through `PQconnectPoll` like the rest. The one thing
/// that blocks is a host-name lookup (getaddrinfo), done by
/// `PQconnectStartParams` for the first host and by `PQconnectPoll` for the
/// next ones: so when `may_look_up_host` says the conninfo may need one,
/// every start and poll step runs as a job on the backend's
/// `libpq_blocking_thread` (which wakes the worker when the step is done),
/// and the connection only waits for the socket between steps. Numeric
/// addresses and Unix-socket directories (the common case) connect on the
/// worker's thread without any hand-off. A connection closed while a step
/// runs leaves the PGconn to the job, which frees it. The deadline is the
/// worker's (`connect_timeout`, for the whole attempt): libpq enforces its
/// own `connect_timeout` only in its blocking mode, so with a host list a
/// host that accepts and never answers is not skipped after a per-host
/// timeout as `PQconnectdb` would; the attempt fails at the deadline. The
/// blocking thread runs one job at a time: a slow lookup delays the other
/// connections' lookups and cancels behind it.
///
/// Cancelling: `PQcancel` opens a new connection and blocks, so it runs as a
/// job on the backend's thread with the `PGcancel` handle moved in; nothing
/// is reported back, the statement finishes through `poll_result` (or
/// `poll_pipeline`).
///
/// Statements: one engine, libpq's pipeline mode. Every statement, a lone
/// one (`execute` / `poll_result`) as well as pipelined ones (`submit` /
/// `poll_pipeline`), is one segment [Parse,] Bind, Execute, Sync behind the
/// segments in flight, and one drain reads them all in order (a lone
/// statement is a pipeline of one). The connection enters pipeline mode when
/// a segment goes out on an empty pipeline and leaves it when the pipeline
/// drains. Each segment ends with its own Sync, so outside a transaction
/// block it runs in an implicit transaction of its own and a failure aborts
/// nothing behind it; inside a block (the user's BEGIN) a Sync commits
/// nothing, so statements on a lease run exactly as in libpq's normal mode.
/// A segment alone in its implicit transaction also runs the statements that
/// refuse a transaction block (VACUUM, CREATE DATABASE).
///
/// With the cache on, a SQL text not cached yet is prepared ("lp_N") in the
/// segment that runs it, one round trip, and cached at once (dropped again
/// if the prepare fails; a statement behind it that used the name meanwhile
/// fails with 26000 and is re-sent like a stale one);
/// with `statement_cache_size` 0 statements are unnamed
/// (`PQsendQueryParams`). Evicted statements are deallocated once
/// `deallocate_batch` have accumulated, each in an internal segment of its
/// own sent before the segment that evicted the last of them, and only when
/// that segment starts outside a transaction block (a failing DEALLOCATE
/// would abort the user's transaction); internal segments are never
/// reported, and a cancel that lands on one is sent again for the statement
/// behind it. An execution failing with 26000 (statement gone) or 0A000
/// ("cached plan must not change result type") drops the entry and, when its
/// segment started outside a transaction block (its implicit transaction
/// rolled back: nothing ran), is re-prepared and re-sent once; inside a
/// block the error is reported. DISCARD ALL and DEALLOCATE ALL empty the
/// cache. COPY is refused before sending (`invalid_request`, by the first
/// word: it runs through `start_stream`); if the server starts a COPY anyway
/// the connection is lost (`connection_lost`, naming COPY). Several statements
/// in one text are refused by the server (42601), as the extended protocol
/// does. A statement sent on a session known to have ended, or whose small
/// segment could not be written at all, is reported `connection_lost` with
/// `not_run` (see `check_before_send`).
///
/// Errors: a failed connect is `auth_failed` (libpq's or the server's words
/// for SQLSTATE class 28) or `connect_failed`, in libpq's words with any
/// password cut out; `query_failed` with the server's primary message and
/// SQLSTATE; `connection_lost` for a broken connection or SQLSTATE class 08
/// (except 08P01, e.g. a wrong parameter count, which leaves the session
/// usable).
class libpq_connection : public connection {
 public:
  /// A connection to `cfg.conninfo` that reports progress through `w`,
  /// waits for its socket on `p` and runs blocking libpq calls on `jobs`.
  libpq_connection(std::shared_ptr<readiness> p,
                   std::shared_ptr<libpq_blocking_thread> jobs,
                   const pool_config& cfg, waker w);

  /// Closes the connection if still open.
  ~libpq_connection() override;

  void connect() override;
  poll_status poll_connect(caf::error& err) override;
  void execute(const statement& st) override;
  poll_status poll_result(caf::expected<query_result>& out) override;
  caf::error check_idle() override;
  caf::error check_before_send() override;
  bool not_run() const override { return not_run_; }
  std::string endpoint() const override;
  void take_notifications(std::vector<notification>& out) override;
  tx_status transaction_status() const override;
  void cancel() override;
  void close() override;

  // Streams and COPY (libpq_stream.cpp): one statement in libpq's normal
  // mode (rows in single-row mode), read only when the worker asks.
  bool can_stream() const override;
  void start_stream(stream_mode mode, const statement& st) override;
  stream_status poll_stream(query_result& rows, std::string& data, size_t limit,
                            caf::expected<query_result>& end) override;
  caf::error put_copy(const std::string& data) override;
  void end_copy(const std::string& failure) override;

  // The statement engine (libpq_pipeline.cpp), see the class comment.
  bool can_pipeline() const override;
  /// Corks the TCP socket (`TCP_CORK`): libpq still calls `send` per
  /// statement, but the kernel transmits nothing until `release_sends` (or
  /// its own 200 ms limit). Nothing is held on a Unix-domain socket.
  void hold_sends() override;
  void release_sends() override;
  void submit(uint64_t tag, const statement& st) override;
  size_t poll_pipeline(std::vector<tagged_result>& done) override;

  /// Returns the number of cached prepared statements (for tests).
  size_t cached_statements() const { return cache_.size(); }

  /// Returns the names of evicted statements not deallocated yet (for
  /// tests).
  const std::vector<std::string>& pending_deallocations() const {
    return to_deallocate_;
  }

  /// Evicted statements are deallocated once this many have accumulated.
  static constexpr size_t deallocate_batch = 8;

 private:
  /// Notifications parsed while reading an idle connection, until
  /// `take_notifications`.
  std::vector<notification> notes_;
  /// The PGconn while connecting, shared with the job running a step of
  /// it on the blocking thread (libpq_connect.cpp).
  struct connect_slot;

  // Connecting (libpq_connect.cpp).

  /// Runs one connect step on `s`: `PQconnectStartParams` if `start`, else
  /// `PQconnectPoll`; sets `s.status`. Blocks only for a host-name lookup.
  static void step(connect_slot& s, bool start);
  /// Runs `step` on the blocking thread; the job wakes the worker when done.
  void on_thread(bool start);
  /// Registers the socket of `c` unless it is registered already; false if
  /// it cannot be.
  bool track_socket(PGconn* c);
  /// Whether the socket of `c` is ready for what libpq last asked (or in
  /// error): a non-blocking `poll`.
  bool socket_ready(PGconn* c) const;
  /// `PQconnectPoll` said OK: takes the PGconn and watches it.
  poll_status connected(caf::error& err);
  /// Ends a failed connect with `err`: unregisters and frees the PGconn.
  poll_status connect_failed(caf::error& err, caf::error reason);

  struct result_deleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  /// Owns a PGresult (PQclear).
  using result_ptr = std::unique_ptr<PGresult, result_deleter>;
  struct conn_deleter {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  /// Owns a PGconn (PQfinish).
  using conn_ptr = std::unique_ptr<PGconn, conn_deleter>;

  /// Sends `st` with its parameters as the prepared statement `name`, or
  /// unnamed (PQsendQueryParams) if `name` is null; returns libpq's result.
  int send_statement(const statement& st, const std::string* name);
  /// If `err` says the cached statement `name` for `sql` went stale (26000,
  /// 0A000 "cached plan"), drops it from the cache (and deallocates it later
  /// if it still exists on the server) and returns true.
  bool forget_stale(const std::string& sql, const std::string& name,
                    const PGresult* err);
  /// Marks the connection broken and returns `connection_lost`, in the words
  /// of `cause` (the server's last error) if there is one, else libpq's.
  caf::error lose(const PGresult* cause);
  /// One segment in the pipeline: a statement's [Parse,] Bind, Execute and
  /// Sync, or an internal DEALLOCATE.
  struct piped {
    uint64_t tag = 0;
    /// The caller's statement (valid until reported, see `submit`).
    const statement* stmt = nullptr;
    /// The name prepared for it in its segment, if any.
    std::string prepared;
    /// The cached name it executes ("": unnamed).
    std::string executing;
    result_ptr last;
    result_ptr error;
    /// Set if sending failed; reported at its Sync.
    caf::error failure;
    bool prepare_seen = false;
    bool retried = false;
    /// The connection's own DEALLOCATE: not reported.
    bool internal = false;
    /// Whether it went out with its Sync (else the server never saw it).
    bool sent = false;
    /// Whether the segment started outside a transaction block, so that it
    /// ran in an implicit transaction of its own.
    bool autocommit = false;
  };

  /// The tag of the lone statement of `execute`.
  static constexpr uint64_t lone_tag = ~uint64_t{0};

  /// Starts `st` under `tag`: refuses it (into `refused_`) or sends its
  /// segment; a failure shows in the next `pump`.
  void start(uint64_t tag, const statement& st);
  /// `st` cannot go out (the connection is unusable): marks the connection
  /// broken; `pump` reports `st` as not run, with everything in flight.
  void lose_unsent(uint64_t tag, const statement& st);
  /// Appends `p`, preceded by any deallocation it makes due, to the pipeline
  /// and sends it with its Sync; false if the connection broke.
  bool send_segment(piped p);
  /// Deallocates evicted statements, each in its own internal segment, once
  /// `deallocate_batch` have accumulated; false if the connection broke.
  bool deallocate_piped();
  /// The one drain: flushes, reads, moves refused and finished statements
  /// into `done`, reports everything in flight on a lost connection, and
  /// leaves pipeline mode when the pipeline drains. Returns how many
  /// statements are still in flight.
  size_t pump(std::vector<tagged_result>& done);
  /// Reads the finished statements into `done`; false if the connection
  /// broke.
  bool drain_pipeline(std::vector<tagged_result>& done);
  /// The front segment reached its Sync: reports it, or re-sends it once if
  /// its prepared statement went stale. False if the connection broke.
  bool complete_front(std::vector<tagged_result>& done);
  /// Posts PQcancel for whatever runs now to the blocking thread.
  void post_cancel();

  /// Reads what arrived while no statement ran (without blocking); returns
  /// `connection_lost` if the session ended (EOF, or a FATAL notice).
  caf::error read_while_idle();

  /// Arms the registration for reading (and writing while `flushing_`)
  /// unless it is armed so already; an idle connection stays armed, so a
  /// server that closes it wakes the worker.
  void watch();

  /// The last statement finished: notes when (`check_before_send`) and
  /// keeps the idle session watched.
  void went_idle();

  /// A connection idle for less than this is not read before a send.
  static constexpr std::chrono::milliseconds fresh_idle{1};

  /// libpq's notice receiver: notes a FATAL notice in `server_ended_`.
  static void on_notice(void* self, const PGresult* r);

  std::shared_ptr<readiness> poller_;
  std::shared_ptr<libpq_blocking_thread> jobs_;
  waker waker_;
  std::string conninfo_;
  caf::timespan connect_timeout_;
  size_t cache_capacity_;

  std::shared_ptr<connect_slot> slot_;
  /// Whether connect steps run on `jobs_` (the conninfo may need a lookup).
  bool threaded_ = false;
  /// What the last `PQconnectPoll` waits for: writing (else reading).
  bool want_write_ = true;
  /// The registered socket's identity (its number may be reused by libpq).
  uint64_t sock_dev_ = 0;
  uint64_t sock_ino_ = 0;
  conn_ptr conn_;
  uint64_t key_ = 0;
  bool broken_ = false;
  /// The server ended the session with a FATAL notice while idle; its
  /// message and SQLSTATE.
  bool server_ended_ = false;
  std::string ended_message_;
  std::string ended_state_;
  /// Whether the running statement is known not to have reached the server
  /// (see `connection::not_run`).
  bool not_run_ = false;

  statement_cache cache_;
  uint64_t next_name_ = 1;
  std::vector<std::string> to_deallocate_;

  /// A copy of the lone statement of `execute` (re-sent if it went stale).
  statement lone_;
  /// Whether `execute` started a statement that `poll_result` has not
  /// reported yet.
  bool lone_running_ = false;
  /// Whether the pipeline in flight started outside a transaction block.
  bool autocommit_pipe_ = false;
  /// The server started a COPY: the connection is lost (see `lose`).
  bool entered_copy_ = false;
  /// Where the stream is: none, reading results, reading COPY data, the
  /// server takes COPY data, or ended before it started (`stream_end_`
  /// says why).
  enum class stream_state : uint8_t {
    off,
    running,
    copy_out,
    copy_in,
    finished
  };
  stream_state stream_ = stream_state::off;
  stream_mode stream_mode_ = stream_mode::rows;
  /// Whether the empty query that clears single-row mode after a rows
  /// stream runs (see `poll_stream`).
  bool clearing_single_row_ = false;
  /// The stream's final result, or its first error.
  caf::expected<query_result> stream_end_{query_result{}};
  /// Ends the stream before it started, with `err` (reported at the next
  /// `poll_stream`, after a wake-up).
  void refuse_stream(caf::error err);
  /// The connection broke during the stream: ends it with `connection_lost`.
  stream_status stream_lost(caf::expected<query_result>& end);
  /// Where `poll_result` collects the lone statement's result.
  std::vector<tagged_result> finished_;

  /// Output is waiting in libpq's buffer for the socket to take it.
  bool flushing_ = false;
  /// Whether the one-shot registration is armed (reading; writing too if
  /// `armed_write_`). A wake means it fired, so it is cleared and `watch`
  /// re-arms before the next wait; a send costs no arming while the idle
  /// watch is armed.
  bool armed_ = false;
  bool armed_write_ = false;
  /// When the connection last became idle (its statements all finished).
  std::chrono::steady_clock::time_point idle_at_;
  bool cancel_requested_ = false;

  /// Statements in flight in pipeline mode, in the order sent.
  std::deque<piped> pipe_;
  /// Statements refused before sending (by `execute` or `submit`),
  /// reported by the next `pump`.
  std::vector<tagged_result> refused_;
};

} // namespace pool
