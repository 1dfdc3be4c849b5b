#pragma once

// Tracing: the pool tells a tracer when an acquire, a query, a transaction
// or a connect starts and ends (like pgx's QueryTracer and DBConnection's
// telemetry events), and a built-in slow-query logger sits on top of it.
// With no tracer and no slow_query_threshold, the pool tests one null
// pointer where an event would be.

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "caf/error.hpp"
#include "caf/timespan.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace pool {

/// What a trace event is about.
enum class trace_kind : uint8_t {
  /// A request waiting for a connection (lease, transaction or pooled
  /// query): starts when the pool admits it, ends when it gets a connection
  /// (`connection` set) or fails (acquire_timeout, queue_full, ...).
  acquire,
  /// One statement on a connection: pooled, on a lease, or inside a
  /// transaction (not BEGIN/COMMIT, pings or clean-up).
  query,
  /// A pooled transaction: from its BEGIN to its answer.
  transaction,
  /// Opening a connection, after_connect hook included.
  connect,
};

/// Returns "acquire", "query", "transaction" or "connect".
const char* to_string(trace_kind x);

/// One event. Valid only during the call that receives it: copy what you
/// keep.
struct trace_event {
  trace_kind kind = trace_kind::query;
  /// False at the start, true at the end.
  bool end = false;
  /// The pool's name (`pool_config::name`).
  const std::string* pool = nullptr;
  /// `connection` of an acquire that has no connection (yet).
  static constexpr uint32_t no_connection =
    std::numeric_limits<uint32_t>::max();
  /// The connection's id (as in the pool's log and `connection_info::id`),
  /// or `no_connection`.
  uint32_t connection = no_connection;
  /// The statement's SQL text (query events), never its parameter values;
  /// null otherwise.
  const std::string* sql = nullptr;
  /// At the end: how long it took since its start.
  caf::timespan duration{0};
  /// At the end: why it failed, or null if it succeeded. A server error
  /// carries its SQLSTATE: read it with `sqlstate()` below.
  const caf::error* error = nullptr;

  /// The SQLSTATE of `error` ("23505"), or "" (no error, or not one the
  /// server sent).
  std::string sqlstate() const;
};

/// Receives the pool's trace events. Called from the pool's actors, which
/// run on several threads at once: an implementation must be thread-safe
/// and must not block (hand slow work to another thread or actor). An
/// exception it throws is caught and dropped.
class tracer {
 public:
  virtual ~tracer();

  /// Called at every start and end.
  virtual void on_event(const trace_event& ev) = 0;
};

/// A tracer that logs, at level warn on `log`, every query that took at
/// least `threshold` ("slow query (1234 ms) on connection 3: SELECT ..."),
/// and passes every event on to `next` (if any). The pool builds one from
/// `pool_config::slow_query_threshold`.
std::shared_ptr<tracer> slow_query_logger(caf::timespan threshold,
                                          std::shared_ptr<spdlog::logger> log,
                                          std::shared_ptr<tracer> next = {});

} // namespace pool
