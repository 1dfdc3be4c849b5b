#pragma once

// A scriptable connection backend for deterministic tests. It keeps time on
// the worker's actor clock, so under CAF's test coordinator every latency is
// virtual and advances only with `advance_time`. Single-threaded use only
// (the test coordinator runs everything on the test's thread).

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pool/backend.hpp"
#include "pool/config.hpp"
#include "pool/error.hpp"

namespace pool::testing {

/// How the fake answers one SQL text.
struct fake_rule {
  /// Time until the statement completes.
  caf::timespan latency{0};
  /// If set, the statement fails with this error.
  caf::error error;
  /// If true, the statement never completes unless cancelled.
  bool hang = false;
  /// The result on success (command_tag defaults to the SQL's first word).
  /// A stream (`start_stream`, mode rows) delivers its rows; with `hang`,
  /// it delivers them all and then never ends unless cancelled.
  query_result result;
  /// The data a `COPY ... TO STDOUT` with this SQL sends (whole lines).
  std::string copy_out;
};

/// One connect attempt, as the fake saw it (virtual time).
struct fake_connect {
  /// The connection's number (1 for the first one created).
  int number = 0;
  /// When `connect()` was called.
  caf::timespan started{0};
  /// When it completed or failed (valid if `finished`).
  caf::timespan ended{0};
  bool finished = false;
  /// Whether it succeeded.
  bool ok = false;
};

/// Shared by the test and every fake connection: the script and what the
/// connections observed.
struct fake_script {
  /// Where connections report they are connected (`endpoint()`).
  std::string endpoint = "fake:5432";
  /// Time until a connect completes.
  caf::timespan connect_latency{0};
  /// If set, connects fail with this error. The error a connect actually
  /// reports has the same code and SQLSTATE, and its message ends with
  /// " (fake connection <n>)", so that tests can tell which attempt an error
  /// came from (see `connect_errors`).
  caf::error connect_error;
  /// If true, connects never complete (as with a server that accepts the
  /// TCP connection and then says nothing).
  bool connect_hang = false;
  /// Every connect attempt, in the order they started.
  std::vector<fake_connect> connects;
  /// Connects started and not finished now; the most there ever were.
  int connecting = 0;
  int max_connecting = 0;
  /// The errors failed connects reported, in order.
  std::vector<caf::error> connect_errors;
  /// Latency of statements without a rule.
  caf::timespan default_latency{0};
  /// Rules by exact SQL text.
  std::map<std::string, fake_rule> rules;

  /// Connections created, connected, closed; connected and not closed now;
  /// the most that were ever open (connecting included) at once.
  int created = 0;
  int connected = 0;
  int closed = 0;
  int open = 0;
  int max_open = 0;
  /// Cancel requests received.
  int cancels = 0;
  /// If true, cancels land late: they miss the statement they were meant
  /// for and fail the next statement that starts on that connection with
  /// 57014 (as when the cancel reaches the server just after the statement
  /// finished).
  bool late_cancels = false;
  /// Every statement executed, as "<connection number>:<sql>".
  std::vector<std::string> log;
  /// Wakers of the open connections, by connection number.
  std::map<int, waker> wakers;
  /// Connections the "server" closed: every use fails with connection_lost.
  std::set<int> broken;
  /// Connections whose server stopped answering (frozen, e.g. SIGSTOP): their
  /// statements, pings included, never finish and cancels do not help.
  std::set<int> stalled;

  // -- pipelining ------------------------------------------------------------

  /// Whether connections can pipeline (`can_pipeline()`). Off by default, so
  /// tests that do not opt in see no pipelining. Pipelined statements run in
  /// order, one after another: a statement's latency starts when the one
  /// before it finished, or at its submit if that was later. Each finishes
  /// with its own rule's result or error; a `hang` one, and every one behind
  /// it, never finishes unless a cancel fails it (query_failed, 57014). A
  /// broken connection reports connection_lost for every statement in flight.
  /// Submitted statements are logged in `log` like executed ones.
  bool pipelining = false;
  /// Statements submitted in all.
  int submitted = 0;
  /// `hold_sends` and `release_sends` calls, and statements submitted while
  /// sends were held. A held statement reaches the "server" (its latency
  /// starts) only at the release: one never released never finishes.
  int holds = 0;
  int releases = 0;
  int submitted_held = 0;
  /// Statements in flight now (submitted, not yet reported by
  /// `poll_pipeline`), by connection number.
  std::map<int, size_t> in_flight;
  /// The most statements ever in flight at once on one connection, over all
  /// connections and by connection number.
  size_t max_in_flight = 0;
  std::map<int, size_t> max_in_flight_of;
  /// Contract violations by the worker: `execute` while statements are in
  /// flight, `submit` while `execute` runs, before connecting, without
  /// `pipelining`, or of a statement the dialect's `may_pipeline` rejects.
  /// Each is answered with invalid_request. Tests should check that it stays
  /// 0.
  int misuse = 0;
  /// What the violations were, for test failure messages.
  std::vector<std::string> misuse_log;

  /// Returns the statements in `log` run on connection `n`.
  std::vector<std::string> log_of(int n) const;

  /// The "server" closes connection `n` (as after pg_terminate_backend).
  void break_connection(int n);

  /// The "server" closes every open connection (as in a restart).
  void break_all();

  /// The "server" ends connection `n`'s session, but its goodbye is not
  /// noticed yet: nobody is woken (as when the FATAL is on the socket and the
  /// idle watch has not reported it). Every use fails as for
  /// `break_connection`; `check_before_send` reports it.
  void end_session_quietly(int n);

  /// Calls of `connection::check_before_send`.
  int send_checks = 0;

  // -- streams and COPY ------------------------------------------------------

  /// Streams started (`start_stream`, logged in `log` like statements).
  int streams = 0;
  /// Rows and COPY-out bytes the streams handed to the worker so far: a
  /// stream hands over only what the worker asks for (`poll_stream`'s
  /// limit), as a server blocked on a full socket would.
  size_t rows_streamed = 0;
  size_t bytes_streamed = 0;
  /// COPY-in data each connection received, by connection number.
  std::map<int, std::string> copied_in;

  // -- LISTEN/NOTIFY
  // -----------------------------------------------------------

  /// Channels each connection listens to, by connection number: a
  /// successful `LISTEN "ch"` adds `ch` (quotes as PostgreSQL reads a quoted
  /// identifier), `UNLISTEN "ch"` removes it, `UNLISTEN *` clears them.
  std::map<int, std::set<std::string>> listening;
  /// Notifications delivered to each connection and not taken yet.
  std::map<int, std::vector<notification>> notes;

  /// The "server" sends a notification: every open connection listening to
  /// `channel` gets it and is woken. Returns how many got it.
  int notify(const std::string& channel, const std::string& payload,
             int32_t sender_pid = 4242);
};

/// A backend whose connections follow `script`, under the database rules
/// `rules` (PostgreSQL's unless given; not null). Its "server" knows the
/// dialect's transaction statements: a statement starting with
/// `rules->begin()`'s SQL opens a transaction, one starting with its commit's
/// or rollback's ends it.
class fake_backend : public backend {
 public:
  explicit fake_backend(std::shared_ptr<fake_script> script,
                        std::shared_ptr<const dialect> rules =
                          std::make_shared<const postgres_dialect>())
    : backend(rules), script_(std::move(script)), rules_(std::move(rules)) {
    // nop
  }

  std::unique_ptr<connection> create(const pool_config& cfg, waker w) override;

  /// Follows `fake_script::pipelining`.
  bool can_pipeline() const override;

 private:
  std::shared_ptr<fake_script> script_;
  std::shared_ptr<const dialect> rules_;
};

} // namespace pool::testing
