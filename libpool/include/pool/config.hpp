#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "caf/error.hpp"
#include "caf/timespan.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace pool {

class backend;
struct pool_hooks;
class tracer;

/// Everything a pool needs to start. `validate()` checks it; `spawn_pool`
/// refuses an invalid one with an `invalid_config` error naming the field.
struct pool_config {
  /// The pool's name: the pool logs under "<logger name>.<name>" (see
  /// `logger`), so that the lines of several pools in one process tell
  /// which pool wrote them. Default "pool"; must be non-empty and hold only
  /// letters, digits, '_', '-' and '.'.
  std::string name = "pool";

  /// libpq connection string: keyword/value ("host=/tmp port=5432
  /// dbname=app") or URI ("postgresql://user@host/db"). libpq's `PG*`
  /// environment variables fill in what it leaves out. Default: "" (all from
  /// the environment). The password in it never appears in logs or errors.
  std::string conninfo;

  /// Connections opened at start and kept open. Default 1.
  size_t min_size = 1;

  /// Upper bound on open connections, connecting ones included. Default 10;
  /// must be at least 1 and at least `min_size`.
  size_t max_size = 10;

  /// How long a `query` or `transaction` may wait for a connection before it
  /// is answered with `acquire_timeout`. (`acquire` carries its own timeout.)
  /// Default 5 s; must be positive.
  caf::timespan acquire_timeout = std::chrono::seconds(5);

  /// How long one statement may run before it is cancelled on the server and
  /// answered with `query_timeout`. Default 30 s; must be positive.
  caf::timespan query_timeout = std::chrono::seconds(30);

  /// How long opening one connection may take: the whole attempt, every
  /// host of a host list together, enforced by the pool (libpq applies its
  /// own connect_timeout only to blocking connects; the libpq backend
  /// connects without blocking). Default 10 s; must be positive.
  caf::timespan connect_timeout = std::chrono::seconds(10);

  /// Upper bound on requests waiting for a connection; beyond it requests are
  /// answered with `queue_full` at once. Default 10000; must be at least 1.
  size_t max_waiters = 10000;

  /// Prepared statements cached per connection (least recently used ones are
  /// deallocated first). 0 turns the cache off, e.g. for PgBouncer's
  /// transaction mode. Default 128.
  size_t statement_cache_size = 128;
  /// Pooled autocommit queries (plain DML, see `dialect::may_pipeline`) one
  /// connection may have in flight at once in libpq's pipeline mode (see
  /// `fill_pipelines` for when they share): each with its own sync point, so
  /// one failing does not fail the others. Never used for leases and
  /// transactions. 1 turns pipelining off. Default 4.
  size_t pipeline_depth = 4;
  /// Whether a pipelinable query joins a busy connection's pipeline that
  /// has room before it takes an idle connection (true), or takes an idle
  /// one first and shares a busy one only when none is idle (false).
  /// Filling keeps fewer server backends busy, and each then wakes for
  /// several queries: on a box the client shares with the server, pool-bench
  /// measured half the client and server CPU per query and 45-75 % more
  /// throughput at 16 clients on 16 connections. The price is head-of-line
  /// blocking: a query behind a slow one on the same connection waits for
  /// it, even while other connections are idle. Turn it off when short and
  /// long queries mix in the pipelines. No effect with pipeline_depth 1.
  /// Default true.
  bool fill_pipelines = true;
  /// Chunks of a stream or COPY out (`stream_atom`, `copy_out_atom` on a
  /// lease) that may be on their way to the receiver unacknowledged; the
  /// connection reads nothing from the server while this many are. Memory
  /// per stream is about this many chunks. Default 2; in [1, 64].
  size_t stream_window = 2;

  // -- supervision --------------------------------------------------------

  /// First delay before reconnecting after a failed connect; each further
  /// consecutive failure doubles it, up to `backoff_max`, with full jitter
  /// (a random delay between half and all of it). Default 100 ms; positive.
  caf::timespan backoff_min = std::chrono::milliseconds(100);

  /// Upper bound of the reconnect delay. Default 10 s; at least backoff_min.
  caf::timespan backoff_max = std::chrono::seconds(10);

  /// Connections older than this are closed once idle (or when returned) and
  /// replaced; each connection's limit is drawn between 90 % and 100 % of it
  /// so they do not all expire at once. Default 30 min; 0 = unlimited.
  caf::timespan max_lifetime = std::chrono::minutes(30);

  /// Idle connections above `min_size` are closed after being idle this
  /// long. Default 10 min; 0 = never.
  caf::timespan idle_timeout = std::chrono::minutes(10);

  /// Idle connections are pinged this often; one that fails is replaced.
  /// Default 30 s; 0 = no periodic health checks.
  caf::timespan health_check_interval = std::chrono::seconds(30);

  /// How long a ping (health check or validation) may take before the
  /// connection counts as dead. Default 5 s; positive.
  caf::timespan health_check_timeout = std::chrono::seconds(5);

  /// A connection idle at least this long is pinged before it is handed out
  /// (like pgxpool's ping-after-idle); if the ping fails, the request goes
  /// to another connection. Default 1 s; 0 = never validate.
  caf::timespan validate_after_idle = std::chrono::seconds(1);

  // -- circuit breaker ----------------------------------------------------

  /// Consecutive connect failures that open the circuit: no connects for
  /// `breaker_cooldown`, then one probe. New connections the before_acquire
  /// hook rejects in a row count the same way. Default 5; 0 = no breaker.
  size_t breaker_threshold = 5;

  /// How long the circuit stays open before a probe connect. Default 5 s;
  /// positive.
  caf::timespan breaker_cooldown = std::chrono::seconds(5);

  /// While the circuit is open or half-open and no connection is open,
  /// requests that would have to wait fail at once with `circuit_open`
  /// (carrying the last connect error). If false, they wait until their
  /// deadline instead. Default true.
  bool breaker_fail_fast = true;

  // -- overload -----------------------------------------------------------

  /// Load shedding like DBConnection's: when every request that got a
  /// connection during a whole `queue_interval` had waited longer than this,
  /// new requests that would have to wait fail at once with `overloaded`
  /// until waits drop again. A request served by a connection opened after
  /// it came waited for a connect, not behind other work: it does not count,
  /// nor do waiters while connections are being opened. Default 50 ms; 0 =
  /// no shedding.
  caf::timespan queue_target = std::chrono::milliseconds(50);

  /// The window of the overload check. Default 1 s; positive.
  caf::timespan queue_interval = std::chrono::seconds(1);

  // -- leases -------------------------------------------------------------

  /// A lease held longer than this is logged once with its holder and
  /// counted in `pool_stats::leaks`. Default 60 s; 0 = off.
  caf::timespan leak_threshold = std::chrono::seconds(60);

  /// A lease held longer than this is reclaimed by force (rolled back); the
  /// holder's later use gets `invalid_lease`. Default 0 = never.
  caf::timespan lease_timeout = caf::timespan{0};

  // -- operating a running pool -------------------------------------------

  /// Whether a `pause` also closes the idle connections once the pool has
  /// drained, and opens none (min_size is ignored) until `resume`: the
  /// database can then restart while the pool holds new requests. Default
  /// false (a paused pool keeps its connections open).
  bool pause_closes_idle = false;

  /// Aging of priority classes (see `pool::priority`): a waiting request's
  /// class rises by one (toward `interactive`) per `priority_aging` it has
  /// waited, and among equal classes the longer-waiting request goes first.
  /// So a `batch` request that has waited 2 x priority_aging is served
  /// before any request that came after it, whatever their class. Default
  /// 1 s; 0 = strict priorities (a lower class may starve).
  caf::timespan priority_aging = std::chrono::seconds(1);

  // -- hooks (pool/hooks.hpp) ----------------------------------------------

  /// The after_connect hook as SQL: statements run, in order, on every new
  /// connection before it is used (e.g. "SET application_name = 'orders'",
  /// "PREPARE ..."). One that fails fails the connect (`connect_failed`
  /// naming the statement; the circuit breaker counts it). Default: none.
  std::vector<std::string> after_connect_sql;

  /// The before_acquire hook as SQL: run on a free connection each time it
  /// is about to be handed out (in place of the validation ping), the
  /// request waiting meanwhile. If it fails, or its first row's first value
  /// is false ("f"), the connection is closed and replaced and the request
  /// goes to another one. Costs a round trip per hand-out. Default "" (none).
  std::string before_acquire_sql;

  /// The after_release hook as SQL: run on a leased connection when it is
  /// returned, after any rollback, e.g. "DISCARD ALL". If it fails, or its
  /// first row's first value is false ("f"), the connection is closed and
  /// replaced. Default "" (none).
  std::string reset_query;

  /// The hooks as callbacks (pool/hooks.hpp); they run after the SQL forms.
  /// Default (nullptr): none.
  std::shared_ptr<const pool_hooks> hooks;

  // -- tracing (pool/tracer.hpp) ------------------------------------------

  /// Receives the start and end of every acquire, query, transaction and
  /// connect. Default (nullptr): none.
  std::shared_ptr<pool::tracer> tracer;

  /// Queries that take at least this long are logged at level warn with
  /// their SQL text (never their parameters). Default 0 = off.
  caf::timespan slow_query_threshold = caf::timespan{0};

  /// The connection backend. Default (nullptr): libpq. Tests plug in a fake;
  /// other databases plug in here (see pool/backend.hpp).
  std::shared_ptr<backend> connection_backend;

  /// Where the pool logs. The pool logs through a clone of it named
  /// "<its name>.<name>" (`spdlog::logger::clone`: same sinks and level).
  /// Default (nullptr): a logger named "pool.<name>" that writes to stderr
  /// at level warn.
  std::shared_ptr<spdlog::logger> logger;
};

/// Checks `cfg` and returns an `invalid_config` error whose message names the
/// first invalid field and why ("max_size: must be at least min_size (4), is
/// 2"), or an empty error when `cfg` is valid. Checks the conninfo syntax
/// with libpq's parser without echoing the password.
caf::error validate(const pool_config& cfg);

/// Returns `conninfo` (keyword/value or URI) as a keyword/value conninfo
/// that libpq parses to the same options, except that the values of
/// `password` and `sslpassword` are "***": for logs and printed
/// configurations. Values are quoted as libpq expects when they are empty
/// or hold blanks, quotes or backslashes. Returns "<unparsable conninfo>"
/// when libpq cannot parse `conninfo`.
std::string redact_conninfo(const std::string& conninfo);

} // namespace pool
