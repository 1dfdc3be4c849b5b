#pragma once

// The steady load of a chaos scenario: N event-based client actors in a closed
// loop, each sending `(query_atom, statement{"SELECT $1::int", {i}})` with a
// finite request timeout, checking the answer, pausing briefly, and sending
// the next one. Every answer (result or error) is recorded with its send and
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

/// The kind of a request the pool did not answer by the request's own
/// timeout (CAF's `sec::request_timeout`): a broken invariant.
constexpr const char* no_answer_kind = "NO_ANSWER(request_timeout)";

/// Returns the kind of an error: the `pool_errc` name for pool errors, else
/// "caf:" + CAF's rendering (request timeouts are `no_answer_kind`).
std::string kind_of(const caf::error& err);

/// One answer.
struct answer_record {
  time_point sent;
  time_point answered;
  std::string kind;    ///< `ok_kind` or an error kind
  std::string message; ///< for errors: pool::describe(err)

  std::chrono::milliseconds latency() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(answered -
                                                                 sent);
  }
};

struct load_options {
  /// Client actors.
  size_t clients = 24;
  /// Each request's timeout: must exceed what the pool may take to answer
  /// (acquire_timeout + query_timeout), so that hitting it means the pool did
  /// not answer in time.
  caf::timespan request_timeout = std::chrono::seconds(8);
  /// Pause of a client between an answer and its next request.
  caf::timespan pause = std::chrono::milliseconds(10);
};

/// A snapshot of what the clients saw.
struct load_report {
  /// When `start()` spawned the clients.
  time_point started;
  uint64_t sent = 0;
  uint64_t answered = 0;
  /// Answers for a request that had been answered already (or never sent).
  uint64_t duplicates = 0;
  /// Results whose value was not the parameter sent.
  uint64_t wrong_values = 0;
  /// Answers per kind.
  std::map<std::string, uint64_t> by_kind;
  /// One example message per error kind.
  std::map<std::string, std::string> example;
  /// Every answer, in answer order.
  std::vector<answer_record> records;

  uint64_t count(const std::string& kind) const;
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
  load_generator(caf::actor_system& sys, pool::pool_actor pool,
                 load_options opts = {});

  /// Stops the clients (bounded) and kills any still running.
  ~load_generator();

  load_generator(const load_generator&) = delete;
  load_generator& operator=(const load_generator&) = delete;

  /// Spawns the clients; each sends its first request at once.
  void start();

  /// Asks the clients to send nothing new and waits until every one got its
  /// last answer and quit, at most `limit`. Returns whether all quit.
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
