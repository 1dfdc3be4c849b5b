#pragma once

// The demo's client actors and what they report back.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/error.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/protocol.hpp"

namespace demo {

/// What a client does in a loop.
enum class role : uint8_t {
  /// Parameterised INSERTs and SELECTs through `query`.
  query,
  /// Takes a lease and runs a multi-statement session on it.
  session,
  /// Moves money between two accounts with `transaction`.
  transfer,
  /// Sends a statement with a syntax error (expects SQLSTATE 42601).
  bad_sql,
  /// Runs a transaction that ends in a unique violation (expects 23505) and
  /// must roll back.
  dup_txn,
};

/// The kinds of operations, one row each in the report.
enum class op_kind : uint8_t {
  insert,
  select,
  session,
  transfer,
  bad_sql,
  dup_txn
};

constexpr size_t num_kinds = 6;

const char* to_string(role r);
const char* to_string(op_kind k);

/// The role of the client with index `i`: every 16 clients are 10 `query`,
/// 2 `session`, 2 `transfer`, 1 `bad_sql`, 1 `dup_txn`; the first five
/// clients cover every role.
role role_for(size_t i);

/// Outcomes of one kind of operation at one client.
struct kind_tally {
  /// Operations that did what they should (for the deliberately failing
  /// kinds: failed with the expected SQLSTATE).
  uint64_t ok = 0;
  /// Of `ok`: operations that failed as intended.
  uint64_t expected_errors = 0;
  /// Operations with any other outcome.
  uint64_t unexpected = 0;
  /// SQL statements sent.
  uint64_t statements = 0;
  /// Latency of each operation, in nanoseconds.
  std::vector<int64_t> latency_ns;
  /// Error lines ("expected: ..." / "UNEXPECTED: ...") with their counts;
  /// at most `max_examples` distinct lines, the rest counted in `more`.
  std::map<std::string, uint64_t> examples;
  uint64_t more = 0;
  static constexpr size_t max_examples = 4;
};

/// What a client sends to its collector when its time is up.
struct client_report {
  uint32_t id = 0;
  role r = role::query;
  std::array<kind_tally, num_kinds> kinds;
  /// Requests that got no answer within their timeout (CAF's
  /// request_timeout): the pool broke its promise to answer every request.
  uint64_t unanswered = 0;
  /// INSERTs this client got a reply for.
  uint64_t inserts_acked = 0;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point finished;
};

struct client_params {
  pool::pool_actor pool;
  /// Receives the `client_report`.
  caf::actor collector;
  uint32_t id = 0;
  role r = role::query;
  caf::timespan duration{0};
  uint32_t accounts = 1;
};

/// Spawns an event-based client that runs its role until `duration` has
/// passed, then sends its `client_report` to the collector and quits.
caf::actor spawn_client(caf::actor_system& sys, client_params p);

} // namespace demo

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(demo::client_report)
