#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <map>
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
  /// Whether the statement only reads, so that a routed pool
  /// (pool/routing.hpp) may run it on a replica. A plain pool ignores it.
  /// Default false.
  bool read_only = false;

  statement() = default;
  /// A statement without parameters.
  statement(std::string s) : sql(std::move(s)) {}
  /// A statement without parameters.
  statement(const char* s) : sql(s) {}
  /// A statement with parameters, e.g. `{"SELECT $1::int", {42}}`.
  statement(std::string s, std::vector<param> ps)
    : sql(std::move(s)), params(std::move(ps)) {}
};

/// Returns `st` marked read-only (see `statement::read_only`), e.g.
/// `pool::reads({"SELECT name FROM users WHERE id = $1", {7}})`.
inline statement reads(statement st) {
  st.read_only = true;
  return st;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, statement& x) {
  return f(caf::meta::type_name("pool::statement"), x.sql, x.params,
           x.read_only);
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
  /// The name of the pool whose breaker this is (`pool_config::name`), so
  /// that one subscriber can tell several pools' events apart.
  std::string pool;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, breaker_event& x) {
  return f(caf::meta::type_name("pool::breaker_event"), x.state, x.previous,
           x.reason, x.pool);
}

/// One PostgreSQL notification (`NOTIFY channel, 'payload'` or
/// `pg_notify`), sent to every actor that listens to its channel on the
/// pool (`listen_atom`).
struct notification {
  /// The pool that received it (`pool_config::name`).
  std::string pool;
  /// The channel, as the server names it.
  std::string channel;
  /// The payload ("" if none).
  std::string payload;
  /// The process id of the server backend that sent it.
  int32_t sender_pid = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notification& x) {
  return f(caf::meta::type_name("pool::notification"), x.pool, x.channel,
           x.payload, x.sender_pid);
}

/// Sent to a listener when notifications on its channels may have been
/// missed: the pool's listening connection was lost and, once a new one
/// runs LISTEN again, this says so (PostgreSQL does not replay what was sent
/// in between); also when listening ends without `unlisten` (the pool shuts
/// down).
struct notifications_missed {
  /// The pool (`pool_config::name`).
  std::string pool;
  /// The listener's channels concerned.
  std::vector<std::string> channels;
  /// Why, e.g. "the listening connection was lost: connection_lost: ...".
  std::string reason;
  /// Whether the channels are listened to again (false: listening ended).
  bool listening = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, notifications_missed& x) {
  return f(caf::meta::type_name("pool::notifications_missed"), x.pool,
           x.channels, x.reason, x.listening);
}

/// LISTEN/NOTIFY of a pool (`pool_stats::listen`).
struct listen_stats {
  /// Open listening connections (0 or 1; counted in `total` and `leased`
  /// too, and toward `max_size`).
  uint32_t connections = 0;
  /// Channels listened to.
  uint32_t channels = 0;
  /// Subscriptions (listener, channel).
  uint32_t subscriptions = 0;
  /// Notifications received from the server.
  uint64_t received = 0;
  /// Notification messages sent to listeners.
  uint64_t delivered = 0;
  /// Times the listening connection was lost and listening resumed on a
  /// new one.
  uint64_t reconnects = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, listen_stats& x) {
  return f(caf::meta::type_name("pool::listen_stats"), x.connections,
           x.channels, x.subscriptions, x.received, x.delivered, x.reconnects);
}

/// Why the pool closed a connection (`pool_stats::connections_closed_by`).
enum class close_reason : uint8_t {
  /// It reached `max_lifetime` (recycled).
  lifetime,
  /// It stayed idle for `idle_timeout` above `min_size`.
  idle_timeout,
  /// It failed a health check or a validation before use.
  health_check,
  /// It broke: the server closed it, the network failed, its cleanup after a
  /// lease failed, or its worker died.
  lost,
  /// An operator reset recycled it.
  reset,
  /// The pool shrank (resize below its size).
  shrink,
  /// The pool shut down.
  shutdown,
  /// A hook (pool/hooks.hpp) rejected it before use or discarded it after.
  hook,
  /// Any other reason.
  other,
};

/// The number of `close_reason` values.
constexpr size_t close_reason_count = 9;

/// Returns "lifetime", "idle_timeout", "health_check", "lost", "reset",
/// "shrink", "shutdown", "hook" or "other".
std::string to_string(close_reason x);

/// A histogram of durations with fixed bucket bounds, the shape a Prometheus
/// histogram needs. Recording costs a few comparisons and three adds, no
/// allocation.
struct duration_histogram {
  /// The buckets' upper bounds (inclusive), ascending; a last bucket above
  /// every bound (+Inf) is implicit.
  std::vector<caf::timespan> bounds;
  /// Observations per bucket, not cumulative: `counts[i]` counts those in
  /// (bounds[i-1], bounds[i]]; `counts[bounds.size()]` those above every
  /// bound. Always `bounds.size() + 1` entries when built by the pool.
  std::vector<uint64_t> counts;
  /// Observations in all.
  uint64_t count = 0;
  /// The sum of all observations.
  caf::timespan sum{0};

  /// One bucket (+Inf) and nothing else.
  duration_histogram() : counts(1, 0) {}

  /// Empty buckets with the upper bounds `xs` (ascending).
  explicit duration_histogram(std::vector<caf::timespan> xs)
    : bounds(std::move(xs)), counts(bounds.size() + 1, 0) {}

  /// Counts `x` in its bucket and in `count` and `sum`.
  void observe(caf::timespan x) {
    auto i = static_cast<size_t>(
      std::lower_bound(bounds.begin(), bounds.end(), x) - bounds.begin());
    if (i < counts.size())
      ++counts[i];
    ++count;
    sum += x;
  }

  /// Observations up to and including `bounds[i]` (with `i ==
  /// bounds.size()`: all of them), as Prometheus' cumulative `le` buckets.
  uint64_t cumulative(size_t i) const;

  /// Bounds for waits and query times: 50 µs to 10 s.
  static const std::vector<caf::timespan>& latency_bounds();

  /// Bounds for connection lifetimes: 1 s to 24 h.
  static const std::vector<caf::timespan>& lifetime_bounds();
};

/// Whether `x` and `y` have the same bounds, counts and sum.
inline bool operator==(const duration_histogram& x,
                       const duration_histogram& y) {
  return x.bounds == y.bounds && x.counts == y.counts && x.count == y.count &&
         x.sum == y.sum;
}

/// Whether `x` and `y` differ.
inline bool operator!=(const duration_histogram& x,
                       const duration_histogram& y) {
  return !(x == y);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, duration_histogram& x) {
  return f(caf::meta::type_name("pool::duration_histogram"), x.bounds, x.counts,
           x.count, x.sum);
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

/// One replica of a routed pool (see pool/routing.hpp), in its
/// `pool_stats::replicas`.
struct replica_stats {
  /// The replica pool's name (its `pool_config::name`).
  std::string name;
  /// Whether read-only queries go to it now: its last lag check succeeded,
  /// its lag is within `routed_pool_config::max_replica_lag` and its circuit
  /// breaker is not open.
  bool serving = false;
  /// Its replay lag at the last successful check: 0 when it has replayed
  /// everything it received (or is not in recovery), else the time since
  /// the last transaction it replayed committed on the primary
  /// (`now() - pg_last_xact_replay_timestamp()` on the replica).
  caf::timespan lag{0};
  /// Lag checks run, and those that failed (error or timeout).
  uint64_t lag_checks = 0;
  uint64_t lag_check_failures = 0;
  /// Read-only queries and transactions sent to it.
  uint64_t reads = 0;
  /// Why it does not serve ("" while it serves), e.g. "lag 3.200s above
  /// max_replica_lag 1.000s" or the lag check's error.
  std::string reason;
  /// Its open connections by host (its pool's `connections_by_host`).
  std::map<std::string, uint32_t> connections_by_host;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_stats& x) {
  return f(caf::meta::type_name("pool::replica_stats"), x.name, x.serving,
           x.lag, x.lag_checks, x.lag_check_failures, x.reads, x.reason,
           x.connections_by_host);
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
  /// Connections closed, by reason (indexed by `close_reason`); they add up
  /// to `connections_closed`.
  std::array<uint64_t, close_reason_count> connections_closed_by{};
  /// Failed statements (pooled queries, transactions, queries on a lease)
  /// answered with an error that carries a SQLSTATE, by its class (the first
  /// two characters, e.g. "23" for a unique violation 23505).
  std::map<std::string, uint64_t> errors_by_class;
  /// How often the circuit breaker went to half_open, and to closed.
  uint64_t breaker_half_opened = 0;
  uint64_t breaker_closed = 0;
  /// How long requests waited for a connection (each request that got one).
  duration_histogram acquire_wait{duration_histogram::latency_bounds()};
  /// How long pooled queries and transactions held their connection, from
  /// the manager handing them out to the worker giving it back.
  duration_histogram query_time{duration_histogram::latency_bounds()};
  /// How long connections lived, from connected to closed.
  duration_histogram connection_lifetime{duration_histogram::lifetime_bounds()};

  /// Returns the count for `why` in `connections_closed_by`.
  uint64_t closed_by(close_reason why) const {
    return connections_closed_by[static_cast<size_t>(why)];
  }
  /// Whether the pool is paused (`pause_atom`): it hands out no connection
  /// until `resume`.
  bool paused = false;
  /// Connections closed by a `reset` (idle ones at once, the others when
  /// they came back).
  uint64_t connections_reset = 0;
  /// Per priority class, indexed by `priority` (interactive, normal, batch).
  std::vector<priority_stats> by_priority =
    std::vector<priority_stats>(priority_classes);
  /// Open connections by where they are connected: "host:port" as libpq
  /// reports the host it reached (with a host list, the entry that took the
  /// connection; for a Unix-domain socket, its directory).
  std::map<std::string, uint32_t> connections_by_host;
  /// A routed pool's replicas (pool/routing.hpp); empty for a plain pool.
  /// The other fields of a routed pool's stats are its primary's.
  std::vector<replica_stats> replicas;
  /// Read-only requests of a routed pool that ran on the primary because no
  /// replica was serving.
  uint64_t reads_on_primary = 0;
  /// LISTEN/NOTIFY (`listen_atom`).
  listen_stats listen;
  /// The most connections the pool may hold now: `max_size`, or the limit
  /// set with `limit_atom` (a cluster node's share) if that is lower.
  uint32_t max_open = 0;
  /// Whether a limit below `max_size` stands (`limit_atom`).
  bool limited = false;
};

/// Returns every field of `x`, labelled, on one line, e.g. "total=4 idle=4
/// leased=0 ... wait_time_total=1.250ms ... breaker=closed ...
/// last_connect_error=\"\" closed_by=lifetime:0,idle_timeout:1,...
/// errors_by_class=23:2,40:1 ... acquire_wait=count:5,sum:1.250ms ..."
/// (durations in milliseconds, booleans as true/false, the last connect
/// error in double quotes; histograms as count and sum, without buckets).
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
           x.connections_closed_by, x.errors_by_class, x.breaker_half_opened,
           x.breaker_closed, x.acquire_wait, x.query_time,
           x.connection_lifetime, x.paused, x.connections_reset, x.by_priority,
           x.connections_by_host, x.replicas, x.reads_on_primary, x.listen,
           x.max_open, x.limited);
}

} // namespace pool
