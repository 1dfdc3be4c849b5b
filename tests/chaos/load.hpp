#pragma once

// The steady load of a chaos scenario: N event-based client actors in a closed
// loop, each running one workload again and again with a short pause:
// - `query`: `(query_atom, SELECT $1::int)`;
// - `lease`: `acquire`, `SELECT $1::int` on the lease, `release`;
// - `transaction`: `(transaction_atom, [SELECT $1::int, SELECT $1::int + 1])`;
// - `write`: `(query_atom, INSERT INTO <write_table> (v) VALUES ($1) RETURNING
//   v)` (the table needs an int column v; see `load_options::write_table`);
// - `read`: `(query_atom, reads(SELECT $1::int, inet_server_port()::text))`,
//   marked read-only (a routed pool sends it to a replica); the record of a
//   result names the server's port (`answer_record::server`).
//
// Exactly once, as the clients see it. CAF 0.17.6 drops a second response to
// a `request` (its id is no longer awaited), so a client that used `request`
// could never see a duplicate. The clients therefore send to the pool with
// plain `send`: the pool's response promise then answers with an ordinary
// asynchronous message (`message_id::response_id()` of an asynchronous id is
// asynchronous; errors arrive through the actor's error handler), and every
// message that arrives is counted. A client has at most one request in flight
// and knows the value it asked for, so an answer that matches no request in
// flight (a second answer, or one after the client's own deadline) is counted
// as a duplicate. The deadline is the client's own (a delayed message per
// request), not CAF's request timeout.
//
// The one request not sent this way is the query on a lease: it goes to the
// lease's worker, which quits once its connection is lost, and CAF bounces a
// `request` to a dead actor (`request_receiver_down`) but drops a plain
// message silently. It is sent with `request(…, infinite)`, still under the
// client's own deadline.
//
// Every answer (result or error) is recorded with its operation, its send and
// answer time, so that a scenario can count answers per kind and look at the
// ones of a time window.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/protocol.hpp"

namespace chaos {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;

/// The kind of a correct answer in the counts.
constexpr const char* ok_kind = "ok";

/// The kind of a request that got no answer by the client's own deadline
/// (`load_options::request_timeout`): a broken invariant.
constexpr const char* no_answer_kind = "NO_ANSWER(deadline)";

/// The kind of a lease query that CAF bounced because the lease's worker had
/// quit (`sec::request_receiver_down`).
constexpr const char* receiver_down_kind = "request_receiver_down";

/// The kind of a result whose value was not the one asked for.
constexpr const char* wrong_value_kind = "WRONG_VALUE";

/// Operation names in the records.
constexpr const char* op_query = "query";
constexpr const char* op_acquire = "acquire";
constexpr const char* op_lease_query = "lease_query";
constexpr const char* op_release = "release";
constexpr const char* op_transaction = "transaction";
constexpr const char* op_write = "write";
constexpr const char* op_read = "read";

/// Returns the kind of an error: the `pool_errc` name for pool errors,
/// `receiver_down_kind` for CAF's `request_receiver_down`, else "caf:" +
/// CAF's rendering.
std::string kind_of(const caf::error& err);

/// What a client does, again and again.
enum class workload { query, lease, transaction, write, read };

/// One answer.
struct answer_record {
  time_point sent;
  time_point answered;
  std::string op;      ///< one of the `op_*` names
  std::string kind;    ///< `ok_kind` or an error kind
  std::string message; ///< for errors: pool::describe(err)
  std::string server;  ///< for read results: the server's port

  std::chrono::milliseconds latency() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(answered -
                                                                 sent);
  }
};

struct load_options {
  /// Client actors.
  size_t clients = 24;
  /// Client `i` runs `workloads[i % workloads.size()]`.
  std::vector<workload> workloads = {workload::query, workload::lease,
                                     workload::transaction};
  /// Each request's deadline, kept by the client: must exceed what the pool
  /// may take to answer (acquire_timeout + query_timeout), so that hitting
  /// it means the pool did not answer in time.
  caf::timespan request_timeout = std::chrono::seconds(8);
  /// The timeout an `acquire` asks for.
  caf::timespan acquire_wait = std::chrono::seconds(2);
  /// Pause of a client between two workload rounds.
  caf::timespan pause = std::chrono::milliseconds(10);
  /// How long a client stays alive after its last answer, counting whatever
  /// still arrives as duplicates.
  caf::timespan grace = std::chrono::milliseconds(300);
  /// The table of `workload::write` (an int column v).
  std::string write_table;
};

/// A snapshot of what the clients saw.
struct load_report {
  /// When `start()` spawned the clients.
  time_point started;
  uint64_t sent = 0;
  uint64_t answered = 0;
  /// Answers that matched no request in flight: a second answer to a
  /// request, or an answer after the client's deadline for it.
  uint64_t duplicates = 0;
  /// Results whose value was not the one asked for (also lease ids handed
  /// out twice).
  uint64_t wrong_values = 0;
  /// Answers per kind.
  std::map<std::string, uint64_t> by_kind;
  /// Answers per operation and kind.
  std::map<std::string, std::map<std::string, uint64_t>> by_op;
  /// One example message per error kind.
  std::map<std::string, std::string> example;
  /// Every answer, in answer order.
  std::vector<answer_record> records;

  uint64_t count(const std::string& kind) const;
  uint64_t count(const std::string& op, const std::string& kind) const;
  /// Milliseconds from `started` to `t`, for timelines in test messages.
  long long at(time_point t) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - started)
      .count();
  }
  uint64_t errors() const { return answered - count(ok_kind); }
  /// Answers whose request was sent in [from, to).
  std::vector<answer_record> sent_between(time_point from, time_point to) const;
  /// "sent 123, answered 123, ok 100, connection_lost 23, ..." on one line.
  std::string summary() const;
};

/// Shared by the clients and the test thread.
struct load_state;

class load_generator {
 public:
  /// `pool` may be any actor that speaks `pool::pool_actor`'s protocol.
  load_generator(caf::actor_system& sys, pool::pool_actor pool,
                 load_options opts = {});

  /// Stops the clients (bounded) and kills any still running.
  ~load_generator();

  load_generator(const load_generator&) = delete;
  load_generator& operator=(const load_generator&) = delete;

  /// Spawns the clients; each sends its first request at once.
  void start();

  /// Asks the clients to start nothing new and waits until every one got
  /// its last answer (a lease client also released its lease), stayed
  /// alive for `grace` and quit, at most `limit`. Returns whether all quit.
  bool stop(std::chrono::milliseconds limit);

  /// Correct results answered so far.
  uint64_t ok_count() const;

  /// Waits until `n` more correct results arrived than now, at most
  /// `limit`; returns whether they did.
  bool wait_for_ok(uint64_t n, std::chrono::milliseconds limit) const;

  /// A snapshot of everything recorded so far.
  load_report report() const;

  const load_options& options() const { return opts_; }

 private:
  caf::actor_system& sys_;
  pool::pool_actor pool_;
  load_options opts_;
  std::shared_ptr<load_state> state_;
  std::vector<caf::actor> clients_;
};

} // namespace chaos
