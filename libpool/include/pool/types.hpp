#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>
#include <type_traits>
#include <vector>

#include "caf/meta/type_name.hpp"
#include "caf/optional.hpp"
#include "caf/timespan.hpp"

namespace pool {

/// One statement parameter, sent to the server as text in its own protocol
/// field (never spliced into the SQL). A default-constructed or `nullptr`
/// parameter is SQL NULL, distinct from the empty string.
class param {
 public:
  /// SQL NULL.
  param() = default;
  /// SQL NULL.
  param(std::nullptr_t) {}
  /// The text `x`.
  param(std::string x) : value_(std::move(x)) {}
  /// The text `x`.
  param(const char* x) : value_(std::string{x}) {}
  /// The decimal text of an integer, e.g. `param{42}` sends "42".
  template <class T, class = std::enable_if_t<std::is_integral<T>::value &&
                                              !std::is_same<T, bool>::value>>
  param(T x) : value_(std::to_string(x)) {}
  /// "t" or "f", PostgreSQL's text form of a boolean.
  param(bool x) : value_(std::string{x ? "t" : "f"}) {}

  /// Returns whether this parameter is SQL NULL.
  bool is_null() const { return !value_; }
  /// Returns the text; precondition: `!is_null()`.
  const std::string& text() const { return *value_; }
  /// Returns the text or nullptr for NULL (for libpq's paramValues).
  const char* c_str() const { return value_ ? value_->c_str() : nullptr; }

  friend bool operator==(const param& x, const param& y) {
    return x.value_ == y.value_;
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, param& x) {
    return f(caf::meta::type_name("pool::param"), x.value_);
  }

 private:
  caf::optional<std::string> value_;
};

/// A SQL statement with its parameters ($1, $2, ...).
struct statement {
  /// The SQL text; placeholders are $1, $2, ...
  std::string sql;
  /// The parameters, in placeholder order.
  std::vector<param> params;

  statement() = default;
  /// A statement without parameters.
  statement(std::string s) : sql(std::move(s)) {}
  /// A statement without parameters.
  statement(const char* s) : sql(s) {}
  /// A statement with parameters, e.g. `{"SELECT $1::int", {42}}`.
  statement(std::string s, std::vector<param> ps)
    : sql(std::move(s)), params(std::move(ps)) {}
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, statement& x) {
  return f(caf::meta::type_name("pool::statement"), x.sql, x.params);
}

/// A result column: its name and the OID of its PostgreSQL type.
struct column {
  std::string name;
  uint32_t type_oid = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, column& x) {
  return f(caf::meta::type_name("pool::column"), x.name, x.type_oid);
}

/// The result of one statement. Cells are stored row-major in one vector
/// (fewer allocations than a vector per row); a NULL cell is an empty
/// `caf::optional`, distinct from the empty string.
struct query_result {
  /// The result's columns (empty for commands that return no rows).
  std::vector<column> columns;
  /// rows() * columns.size() cells, row-major, in PostgreSQL's text format.
  std::vector<caf::optional<std::string>> cells;
  /// Rows affected by INSERT/UPDATE/DELETE/..., or the rows returned.
  int64_t affected = 0;
  /// The command tag, e.g. "SELECT 1", "INSERT 0 3", "BEGIN".
  std::string command_tag;

  /// Returns the number of rows.
  size_t rows() const {
    return columns.empty() ? 0 : cells.size() / columns.size();
  }
  /// Returns whether the cell at (row, col) is NULL.
  bool is_null(size_t row, size_t col) const {
    return !cells[row * columns.size() + col];
  }
  /// Returns the text of the cell at (row, col); "" for NULL.
  const std::string& at(size_t row, size_t col) const;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, query_result& x) {
  return f(caf::meta::type_name("pool::query_result"), x.columns, x.cells,
           x.affected, x.command_tag);
}

/// The state of the pool's circuit breaker, which gates reconnects.
enum class breaker_state : uint8_t {
  /// Connects are attempted normally.
  closed,
  /// Connects failed repeatedly: none are attempted until the cool-down ends.
  open,
  /// The cool-down ended: one probe connect is under way.
  half_open,
};

/// Returns "closed", "open" or "half_open".
std::string to_string(breaker_state x);

/// Sent to subscribers (`subscribe_atom`) on every breaker transition.
struct breaker_event {
  /// The state entered.
  breaker_state state = breaker_state::closed;
  /// The state left.
  breaker_state previous = breaker_state::closed;
  /// Why, e.g. "5 consecutive connect failures; last: connect_failed: ...".
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, breaker_event& x) {
  return f(caf::meta::type_name("pool::breaker_event"), x.state, x.previous,
           x.reason);
}

/// The priority class of a request that waits for a connection. Waiting
/// requests of a higher class (lower value) are served first; aging
/// (`pool_config::priority_aging`) raises a waiting request's class over
/// time so that no class starves. Requests sent without a class are
/// `normal`.
enum class priority : uint8_t {
  /// Served first: user-facing requests.
  interactive = 0,
  /// The default class.
  normal = 1,
  /// Served last: background and bulk work.
  batch = 2,
};

/// The number of priority classes.
constexpr size_t priority_classes = 3;

/// Returns "interactive", "normal" or "batch".
std::string to_string(priority x);

/// The counters of one priority class (see `pool_stats::by_priority`).
struct priority_stats {
  /// Requests of this class that got a connection.
  uint64_t acquired = 0;
  /// Requests of this class answered with `acquire_timeout`.
  uint64_t acquire_timeouts = 0;
  /// Sum over this class's acquired requests of the time spent waiting.
  caf::timespan wait_time_total{0};
  /// Requests of this class waiting now.
  uint32_t waiting = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, priority_stats& x) {
  return f(caf::meta::type_name("pool::priority_stats"), x.acquired,
           x.acquire_timeouts, x.wait_time_total, x.waiting);
}

/// A snapshot of the pool's state and counters.
struct pool_stats {
  /// Connections that exist: idle + leased + busy + connecting + cleaning.
  uint32_t total = 0;
  /// Connections ready to be handed out.
  uint32_t idle = 0;
  /// Connections held by a lease.
  uint32_t leased = 0;
  /// Connections running a pooled `query` or `transaction`.
  uint32_t busy = 0;
  /// Connections being opened (they count toward `max_size`).
  uint32_t connecting = 0;
  /// Connections being cleaned after a lease (rollback/reset) or closing.
  uint32_t cleaning = 0;
  /// Requests waiting for a connection.
  uint32_t waiting = 0;
  /// Requests that got a connection (leases, queries, transactions).
  uint64_t acquired = 0;
  /// Requests answered with `acquire_timeout`.
  uint64_t acquire_timeouts = 0;
  /// Requests rejected with `queue_full`.
  uint64_t rejected = 0;
  /// Connections successfully opened since start.
  uint64_t connections_created = 0;
  /// Connections closed since start (any reason).
  uint64_t connections_closed = 0;
  /// Connect attempts that failed.
  uint64_t connect_failures = 0;
  /// Leases reclaimed because their holder died.
  uint64_t leases_reclaimed = 0;
  /// Sum over acquired requests of the time spent waiting, in nanoseconds.
  caf::timespan wait_time_total{0};
  /// Whether the pool is shutting down.
  bool shutting_down = false;
  /// Requests rejected with `overloaded` (load shedding).
  uint64_t shed = 0;
  /// Whether load shedding is active now.
  bool overloaded = false;
  /// Leases that passed `leak_threshold` (each counted once).
  uint64_t leaks = 0;
  /// Leases reclaimed by force after `lease_timeout`.
  uint64_t leases_timed_out = 0;
  /// Health checks and validations that failed (the connection was closed).
  uint64_t health_check_failures = 0;
  /// Connections closed after `max_lifetime` or `idle_timeout`.
  uint64_t connections_recycled = 0;
  /// Queries that joined a busy connection's pipeline (see
  /// `pool_config::pipeline_depth`).
  uint64_t pipelined = 0;
  /// The circuit breaker's state.
  breaker_state breaker = breaker_state::closed;
  /// How often the circuit opened.
  uint64_t breaker_opened = 0;
  /// The most recent connect error ("" if none since the last success).
  std::string last_connect_error;
  /// Whether the pool is paused (`pause_atom`): it hands out no connection
  /// until `resume`.
  bool paused = false;
  /// Connections closed by a `reset` (idle ones at once, the others when
  /// they came back).
  uint64_t connections_reset = 0;
  /// Per priority class, indexed by `priority` (interactive, normal, batch).
  std::vector<priority_stats> by_priority =
    std::vector<priority_stats>(priority_classes);
};

/// Returns every field of `x`, labelled, on one line, e.g. "total=4 idle=4
/// leased=0 ... wait_time_total=1.250ms ... breaker=closed ...
/// last_connect_error=\"\"" (durations in milliseconds, booleans as
/// true/false, the last connect error in double quotes).
std::string to_string(const pool_stats& x);

/// Writes `to_string(x)` to `out`.
std::ostream& operator<<(std::ostream& out, const pool_stats& x);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_stats& x) {
  return f(caf::meta::type_name("pool::pool_stats"), x.total, x.idle, x.leased,
           x.busy, x.connecting, x.cleaning, x.waiting, x.acquired,
           x.acquire_timeouts, x.rejected, x.connections_created,
           x.connections_closed, x.connect_failures, x.leases_reclaimed,
           x.wait_time_total, x.shutting_down, x.shed, x.overloaded, x.leaks,
           x.leases_timed_out, x.health_check_failures, x.connections_recycled,
           x.pipelined, x.breaker, x.breaker_opened, x.last_connect_error,
           x.paused, x.connections_reset, x.by_priority);
}

} // namespace pool
