#pragma once

// The connection backend interface: where the pool meets a database. The pool
// logic (manager and workers) is written once against it. libpool ships the
// libpq backend (`make_libpq_backend`); the unit tests use a scriptable fake.
// To pool something other than PostgreSQL, implement `backend` and
// `connection`, give the backend the database's rules (a `dialect`), and set
// `pool_config::connection_backend`.
//
// Threading contract: a worker actor owns each connection and calls its member
// functions one at a time from the worker's (cooperative) scheduler thread.
// None of them may block: long work (connecting, network I/O, cancelling) runs
// elsewhere, and when progress is possible the backend calls `waker::wake()`,
// which may happen on any thread. The worker then calls `poll_connect()` or
// `poll_result()`. Spurious wake-ups are allowed and must be harmless.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor_addr.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/types.hpp"

namespace pool {

struct pool_config;

/// Tells a worker that its connection can make progress. Cheap to copy,
/// thread-safe, holds only a weak reference to the worker: waking a worker
/// that is gone does nothing.
class waker {
 public:
  waker() = default;
  /// A waker for the worker `worker`.
  explicit waker(caf::actor_addr worker) : worker_(std::move(worker)) {}

  /// Asks the worker to poll its connection now. Any thread.
  void wake() const;

  /// Asks the worker to poll its connection now, scheduling it on `host`, the
  /// scheduler worker calling this (used by the io scheduler, so that a
  /// socket's reply runs on the thread that saw it).
  void wake(caf::execution_unit* host) const;

  /// Asks the worker to poll its connection after `delay`, measured on the
  /// actor system's clock (virtual time under the test coordinator).
  void wake_after(caf::timespan delay) const;

  /// Returns the current time of the worker's actor clock (virtual time under
  /// the test coordinator), or the epoch if the worker is gone.
  caf::timespan now() const;

 private:
  caf::actor_addr worker_;
};

/// Transaction state of a connection, as `PQtransactionStatus` reports it.
enum class tx_status : uint8_t {
  /// Outside a transaction, no command running: clean.
  idle,
  /// A command is running.
  active,
  /// Inside a transaction block.
  in_transaction,
  /// Inside a failed transaction block.
  in_error,
  /// The connection is bad or its state cannot be known.
  unknown,
};

/// Result of a poll: still waiting, or finished.
enum class poll_status : uint8_t { pending, ready };
/// What `connection::start_stream` runs: a statement whose rows come in
/// parts, a `COPY ... TO STDOUT`, or a `COPY ... FROM STDIN`.
enum class stream_mode : uint8_t { rows, copy_out, copy_in };

/// Result of `connection::poll_stream`.
enum class stream_status : uint8_t { pending, more, copy_ready, done };

/// One database connection, driven by one worker. See the threading contract
/// at the top of this header.
class connection {
 public:
  virtual ~connection();

  /// Starts opening the connection. Completion is signalled through the
  /// waker; the worker then calls `poll_connect`.
  virtual void connect() = 0;

  /// After a wake-up: `pending` while connecting, `ready` when done; on
  /// failure `err` is set (`connect_failed`, `auth_failed`, ...; messages
  /// never contain the password).
  virtual poll_status poll_connect(caf::error& err) = 0;

  /// Starts running `st`. Precondition: connected, no statement running.
  /// May set up server-side state (e.g. a prepared-statement cache).
  virtual void execute(const statement& st) = 0;

  /// After a wake-up: `pending` while the statement runs, `ready` with its
  /// result or error in `out` once it finished and the connection is ready
  /// for the next `execute`. Errors: `query_failed` (with SQLSTATE),
  /// `connection_lost`, `invalid_request`.
  virtual poll_status poll_result(caf::expected<query_result>& out) = 0;

  /// After a wake-up while no statement runs: returns an error
  /// (`connection_lost`) if the connection broke meanwhile, e.g. the server
  /// closed it; the worker then discards it. Backends that watch idle
  /// connections (the libpq one does: it keeps the socket armed for reading)
  /// call the waker when something arrives. The default returns no error.
  virtual caf::error check_idle();

  /// Called before a request that could run on another connection (a pooled
  /// query or transaction) is sent on a connection that sat idle since its
  /// last result. Returns an error (`connection_lost`) if the session is
  /// known to have ended already, e.g. the server's FATAL goodbye or its
  /// end of file is waiting on the socket because the idle watch has not
  /// reported it yet: nothing was sent, so the worker runs the request
  /// elsewhere and discards the connection. Must not block; may cost one
  /// non-blocking read. The default returns no error.
  virtual caf::error check_before_send();

  /// After `poll_result` reported `connection_lost`: whether the server is
  /// known not to have received the statement (the session had ended before
  /// it was sent, or sending it failed), so that it may run elsewhere. The
  /// default returns false.
  virtual bool not_run() const;

  /// After a successful connect: where the connection went, as "host:port"
  /// (with a host list, the one that was reached), for stats and logs.
  /// Never holds credentials. The default returns "".
  virtual std::string endpoint() const;

  /// Moves the notifications (LISTEN/NOTIFY) that arrived on the connection
  /// and were not taken yet to the end of `out` (`pool` left empty), oldest
  /// first. Called by the worker after a wake-up while idle and after each
  /// result. The default takes none.
  virtual void take_notifications(std::vector<notification>& out);

  // -- pipelining (optional) -------------------------------------------------
  //
  // A connection that can pipeline keeps several independent autocommit
  // statements in flight: each is sent with its own synchronisation point,
  // so one that fails does not fail the others. The worker uses it only for
  // pooled `query` messages that the backend's `dialect::may_pipeline`
  // accepts, never for leases, transactions or its own statements, and never
  // while `execute` runs: it lets the pipeline drain first.

  /// Returns whether `submit` and `poll_pipeline` work. Default: false.
  virtual bool can_pipeline() const;

  /// A hint that more `submit` calls follow at once: the connection may hold
  /// back what it sends until `release_sends`, so that the statements travel
  /// together and wake the server once. Default: nothing is held.
  virtual void hold_sends();

  /// Sends what `hold_sends` held back. Default: nothing.
  virtual void release_sends();

  /// Sends `st`, tagged `tag`, behind the statements in flight. `st` must
  /// stay valid and unchanged until its result was reported (the backend may
  /// re-send it, e.g. after its prepared statement went stale). Precondition:
  /// connected, `can_pipeline()`, no `execute` running. Failures are
  /// reported through `poll_pipeline`, never thrown.
  virtual void submit(uint64_t tag, const statement& st);

  /// One finished pipelined statement.
  struct tagged_result {
    tagged_result(uint64_t t, caf::expected<query_result> r, bool unrun = false)
      : tag(t), result(std::move(r)), not_run(unrun) {
      // nop
    }
    /// The tag it was submitted with.
    uint64_t tag;
    /// Its result or error.
    caf::expected<query_result> result;
    /// Set (with `connection_lost`) when the server is known not to have
    /// started it: it ended the session while on an earlier statement. The
    /// worker may then run it on another connection.
    bool not_run;
  };

  /// After a wake-up: appends the submitted statements that finished to
  /// `done`, in any order, each exactly once, and returns how many are still
  /// in flight. Errors as for `poll_result`; on `connection_lost` every
  /// statement in flight is reported with it. Once nothing is in flight the
  /// connection accepts `execute` again.
  virtual size_t poll_pipeline(std::vector<tagged_result>& done);

  // -- streaming and COPY (optional) -----------------------------------------
  //
  // A connection that can stream runs one statement outside any pipeline and
  // hands its result over in parts, reading from the server only when the
  // worker asks for more: the worker stops asking while its receiver is
  // behind, and the server then waits on a full socket. Used for `stream`,
  // `copy_out` and `copy_in` on a lease, never while `execute` or a pipeline
  // runs.

  /// Returns whether `start_stream` and the calls below work. Default: false.
  virtual bool can_stream() const;

  /// Starts `st` in mode `mode`: `rows` delivers its rows in parts (libpq's
  /// single-row mode); `copy_out` runs a `COPY ... TO STDOUT` and delivers
  /// its data; `copy_in` runs a `COPY ... FROM STDIN` and takes data through
  /// `put_copy`. Precondition: connected, nothing running. Failures are
  /// reported through `poll_stream`. Default: reports `invalid_request`.
  virtual void start_stream(stream_mode mode, const statement& st);

  /// After a wake-up, or when the worker wants more: reads what is there
  /// without blocking and returns
  /// - `more`: `rows` got rows until it holds `limit` rows (mode `rows`;
  ///   `rows.columns` set), or `data` got whole COPY lines until it holds at
  ///   least `limit` bytes (`copy_out`); more may be buffered, and no
  ///   wake-up follows for it: call again to get it;
  /// - `pending`: what was there is appended; a wake-up follows when more
  ///   arrives (or, `copy_in`, when the data given was sent);
  /// - `copy_ready` (`copy_in`): the server takes data; `put_copy` next;
  /// - `done`: the statement finished and the connection takes the next
  ///   one; `end` holds its final result (command tag, rows affected, no
  ///   cells) or its error (`query_failed`, `connection_lost`,
  ///   `invalid_request`). Rows appended before the end are valid.
  virtual stream_status poll_stream(query_result& rows, std::string& data,
                                    size_t limit,
                                    caf::expected<query_result>& end);

  /// `copy_in`, after `copy_ready`: queues `data` (any split of the COPY
  /// text) for the server; then `poll_stream` says `copy_ready` once it is
  /// sent. Returns an error (`connection_lost`) if the connection broke.
  virtual caf::error put_copy(const std::string& data);

  /// `copy_in`: ends the data; with a non-empty `failure` the server aborts
  /// the COPY with that message instead (nothing is stored). The end is then
  /// reported by `poll_stream` (`done`).
  virtual void end_copy(const std::string& failure);

  /// Returns the connection's transaction state.
  virtual tx_status transaction_status() const = 0;

  /// Asks the server to cancel the running statement, without blocking. The
  /// statement then finishes through `poll_result` (usually with an error).
  virtual void cancel() = 0;

  /// Closes the connection now; no other call follows. Must not block.
  virtual void close() = 0;
};

/// A database's rules, as the pool applies them: which errors end a
/// connection, which statements may share a pipeline, and the statements a
/// worker runs on its own (transaction control for `transaction` messages and
/// lease clean-up, and the health-check ping). The defaults suit a database
/// the pool knows nothing about: only `connection_lost` is fatal, nothing
/// pipelines, BEGIN / COMMIT / ROLLBACK, and `SELECT 1` as the ping. Derive
/// from it to change the decisions; pass other statements to the
/// constructor. Immutable once built: any thread may call it.
class dialect {
 public:
  /// The default statements: "BEGIN", "COMMIT", "ROLLBACK", "SELECT 1".
  dialect();

  /// A dialect whose worker statements are `begin` (opens a transaction),
  /// `commit`, `rollback` and `ping` (a trivial statement that succeeds on a
  /// healthy connection).
  dialect(statement begin, statement commit, statement rollback,
          statement ping);

  virtual ~dialect();

  /// Returns whether `err`, the error a statement finished with, means that
  /// its connection cannot be used any more: the worker then fails what runs
  /// on it with `connection_lost` and the pool replaces it. Default: only
  /// `connection_lost` (never an empty error).
  virtual bool is_fatal(const caf::error& err) const;

  /// Returns whether `st` may run in a pipeline beside other clients'
  /// statements (`connection::submit`): only statements that can neither
  /// open a transaction that would swallow their neighbours nor refuse to
  /// run inside a pipeline. Default: false (nothing pipelines).
  virtual bool may_pipeline(const statement& st) const;

  /// The statement that opens a transaction. Default "BEGIN".
  const statement& begin() const noexcept { return begin_; }

  /// The statement that commits a transaction. Default "COMMIT".
  const statement& commit() const noexcept { return commit_; }

  /// The statement that rolls back a transaction (also run on a connection
  /// returned inside one). Default "ROLLBACK".
  const statement& rollback() const noexcept { return rollback_; }

  /// The health check's statement. Default "SELECT 1".
  const statement& ping() const noexcept { return ping_; }

 private:
  statement begin_;
  statement commit_;
  statement rollback_;
  statement ping_;
};

/// PostgreSQL's rules, those of the libpq backend (public so that other
/// backends for PostgreSQL, e.g. a test double, reuse them): the default
/// statements, and
/// - fatal: `connection_lost`, and server errors (`query_failed`) of SQLSTATE
///   class 08 except 08P01 (a protocol violation by one statement), or
///   57P01–57P03 (the server shuts down or restarts);
/// - pipelined: plain DML only, judged by the first word after white space
///   and comments (`--` and nested `/* */`), in any letter case: SELECT,
///   INSERT, UPDATE, DELETE, MERGE, WITH, VALUES, TABLE. Anything else (BEGIN,
///   SET, VACUUM, CREATE DATABASE, even a parenthesised SELECT) runs alone.
class postgres_dialect : public dialect {
 public:
  /// See the class comment.
  bool is_fatal(const caf::error& err) const override;

  /// See the class comment.
  bool may_pipeline(const statement& st) const override;
};

/// Creates connections. One backend serves all workers of a pool; `create` is
/// called by each worker when it starts, possibly on several threads at once,
/// so it must be thread-safe.
class backend {
 public:
  /// A backend with the rules of an unknown database (`dialect`'s
  /// defaults).
  backend();

  /// A backend whose connections follow `rules` (null: `dialect`'s
  /// defaults).
  explicit backend(std::shared_ptr<const dialect> rules);

  virtual ~backend();

  /// Returns the database's rules; the manager and the workers ask them
  /// which errors are fatal, what may pipeline and what to run for
  /// transactions and pings.
  const dialect& rules() const noexcept { return *rules_; }

  /// Returns a new, unconnected connection that reports progress through
  /// `w`. `cfg` is the validated pool configuration.
  virtual std::unique_ptr<connection> create(const pool_config& cfg,
                                             waker w) = 0;

  /// Returns whether its connections can pipeline (`connection::
  /// can_pipeline`); the manager then routes pipelinable queries to busy
  /// connections. Default: false.
  virtual bool can_pipeline() const;

 private:
  std::shared_ptr<const dialect> rules_;
};

/// Returns the libpq backend for the actor system `sys`: non-blocking libpq
/// (connects too, through PQconnectStartParams/PQconnectPoll) driven by the
/// io scheduler's epoll sets or one epoll thread per backend; the calls that
/// block (PQcancel, host-name lookups while connecting) run on one thread the
/// backend owns, so no libpq call blocks a scheduler thread.
std::shared_ptr<backend> make_libpq_backend(caf::actor_system& sys);

} // namespace pool
