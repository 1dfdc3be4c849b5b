#pragma once

// The pool's internal actors and the messages they exchange. Clients never see
// these; they talk to `pool_actor` (the manager) and `lease_actor` (a
// worker).
//
//   manager ── want(n), ready(id) ──▶ supervisor ── permit? / outcome ──▶
//   breaker
//      ▲  ◀── connfail(err), connecting(n), retire(id)
//      │                      │ spawns, monitors, replaces
//      └── ready(id, worker, capacity), done(id, n), lost(id, err) ───
//          workers (one per connection) ◀── run/txn/lease/ping
//   breaker ── breaker_event ──▶ manager and other subscribers
//   listener ── acquire, LISTEN on its lease ──▶ manager, worker;
//   worker ── notification ──▶ listener ──▶ listening actors

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/fwd.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"

#include "pool/backend.hpp"
#include "pool/config.hpp"
#include "pool/protocol.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace pool {
struct pool_context;
/// The shared, read-only context of a pool's actors; `reconfigure` makes a
/// new one and sends it around (`settings_atom`).
using context_ptr = std::shared_ptr<const pool_context>;
} // namespace pool

// Local only: a context never leaves its node.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pool::context_ptr)

namespace pool {

/// Manager → worker: run one autocommit statement for the original sender
/// (delegated), then report `done` to the manager. The first flag says
/// whether the statement may share the connection's pipeline (decided by the
/// manager where the request entered); the worker pipelines it if it has a
/// pipeline. The second says whether another connection of the pool is busy
/// too (then its send may wait for the queries right behind it).
using run_atom = caf::atom_constant<caf::atom("run")>;
/// Manager → worker: a lease with this id begins.
using lease_atom = caf::atom_constant<caf::atom("lease")>;
/// Manager → worker: the lease with this id ends; clean the connection, then
/// report `done`.
using unlease_atom = caf::atom_constant<caf::atom("unlease")>;
/// Manager → worker: `(ping_atom, before_acquire)` check the connection
/// with a trivial statement, or (before_acquire, if configured) with the
/// before_acquire hook's SQL; replies whether it may be used (false: the
/// hook said no), an error if it failed.
using ping_atom = caf::atom_constant<caf::atom("ping")>;
/// Backend → worker: the connection can make progress.
using wake_atom = caf::atom_constant<caf::atom("wake")>;
/// Worker → itself: send what the connection held back (see
/// `connection::hold_sends`).
using push_atom = caf::atom_constant<caf::atom("push")>;
/// Timer → worker/manager/supervisor/breaker: time to check deadlines.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Manager → worker: close the connection and exit. Manager → supervisor:
/// the pool shuts down. Timer → manager: the shutdown deadline.
using close_atom = caf::atom_constant<caf::atom("close")>;
/// Worker → manager: connected, with the worker's handle and capacity (how
/// many statements it takes at once: 1, or pipeline_depth when its
/// connection can pipeline). Manager → supervisor: that connect succeeded.
using ready_atom = caf::atom_constant<caf::atom("ready")>;
/// Worker → manager: operations worth `n` credits finished (a pipelined
/// query is worth 1, anything else the worker's whole capacity); with all
/// credit back the connection is clean and free.
using done_atom = caf::atom_constant<caf::atom("done")>;
/// Worker → manager: my connection broke (error attached); I answer what
/// reaches me with errors (or hand pooled requests back) until told to close.
using lost_atom = caf::atom_constant<caf::atom("lost")>;
/// A pooled request handed back by a worker: it never ran (or was rolled
/// back), so the manager serves it again, first, without refusing it. A
/// query carries back whether it may pipeline.
using retry_atom = caf::atom_constant<caf::atom("retry")>;
/// Timer → manager: the waiter with this id reached its deadline.
/// Timer → supervisor: the connection with this id reached its lifetime.
using expire_atom = caf::atom_constant<caf::atom("expire")>;
/// Manager → supervisor: how many connections the pool wants now.
using want_atom = caf::atom_constant<caf::atom("want")>;
/// Supervisor → manager: this many connections are being opened, counted
/// when it had seen this many `ready`s (forwarded by the manager).
using connecting_atom = caf::atom_constant<caf::atom("connecting")>;
/// Supervisor → manager: a connect attempt failed with this error.
using connfail_atom = caf::atom_constant<caf::atom("connfail")>;
/// Supervisor → manager: close this connection when it is free (lifetime).
using retire_atom = caf::atom_constant<caf::atom("retire")>;
/// Worker → manager: the after_release hook's SQL (`reset_query`) asked to
/// discard this connection; its `done` follows.
using discard_atom = caf::atom_constant<caf::atom("discard")>;
/// Worker → manager: a statement failed with an error of this SQLSTATE
/// class (two characters), for `pool_stats::errors_by_class`.
using failed_atom = caf::atom_constant<caf::atom("failed")>;
/// Manager → supervisor → workers: the settings changed; here is the new
/// context (`reconfigure`).
using settings_atom = caf::atom_constant<caf::atom("settings")>;
/// Timer → manager: the deadline of the pause with this number.
using drain_atom = caf::atom_constant<caf::atom("drain")>;
/// Listener → manager: `(listener_atom, lease_id)` the lease that holds the
/// LISTEN connection now (0: none), pinned; `(listener_atom, listen_stats)`
/// its counters changed. Manager → listener: `(listener_atom)` its
/// connection is to be replaced (reset, max_lifetime).
using listener_atom = caf::atom_constant<caf::atom("listener")>;
/// Supervisor → breaker: may I open a connection now?
using permit_atom = caf::atom_constant<caf::atom("permit")>;
/// Supervisor → breaker: a connect attempt ended (error, or none = success).
using outcome_atom = caf::atom_constant<caf::atom("outcome")>;
/// Manager → supervisor → breaker: open now, for this reason (new
/// connections are unusable although they connect: the before_acquire hook
/// rejects them). Through the supervisor, so that the breaker hears it after
/// the success of the rejected connection's connect.
using trip_atom = caf::atom_constant<caf::atom("trip")>;

/// A connection worker: owns one `connection`, runs one operation at a time,
/// never blocks its thread. Exits (with the error as exit reason) when its
/// connection fails; the supervisor and the manager monitor it.
using worker_actor = lease_actor::extend<
  caf::replies_to<run_atom, statement, bool, bool>::with<query_result>,
  caf::replies_to<transaction_atom,
                  std::vector<statement>>::with<std::vector<query_result>>,
  caf::replies_to<ping_atom, bool>::with<bool>,
  caf::replies_to<listen_atom, uint64_t, caf::actor>::with<caf::ok_atom>,
  caf::reacts_to<lease_atom, uint64_t>, caf::reacts_to<unlease_atom, uint64_t>,
  caf::reacts_to<wake_atom>, caf::reacts_to<push_atom>,
  caf::reacts_to<tick_atom>, caf::reacts_to<close_atom>,
  caf::reacts_to<settings_atom, context_ptr>>;

/// The pool manager: the public interface plus what the supervisor, the
/// breaker, workers and its own timers send.
using manager_actor = pool_actor::extend<
  caf::replies_to<retry_atom, statement, bool>::with<query_result>,
  caf::replies_to<retry_atom,
                  std::vector<statement>>::with<std::vector<query_result>>,
  caf::reacts_to<ready_atom, uint32_t, worker_actor, uint32_t, std::string>,
  caf::reacts_to<done_atom, uint32_t, uint32_t>,
  caf::reacts_to<lost_atom, uint32_t, caf::error>, caf::reacts_to<expire_atom>,
  caf::reacts_to<connecting_atom, uint32_t, uint64_t>,
  caf::reacts_to<connfail_atom, caf::error>,
  caf::reacts_to<retire_atom, uint32_t>, caf::reacts_to<discard_atom, uint32_t>,
  caf::reacts_to<breaker_event>, caf::reacts_to<failed_atom, std::string>,
  caf::reacts_to<tick_atom>, caf::reacts_to<close_atom>,
  caf::reacts_to<drain_atom, uint64_t>, caf::reacts_to<listener_atom, uint64_t>,
  caf::reacts_to<listener_atom, listen_stats>>;

/// The LISTEN/NOTIFY hub (see `spawn_listener`): the manager delegates
/// `listen` and `unlisten` to it; its lease's worker sends it the
/// notifications, and `(lost_atom, lease_id, error)` when the connection
/// breaks; the manager sends it `listener_atom` (replace the
/// connection) and `close_atom` (shutdown).
using listener_actor = caf::typed_actor<
  caf::replies_to<listen_atom, std::string>::with<caf::ok_atom>,
  caf::replies_to<unlisten_atom, std::string>::with<caf::ok_atom>,
  caf::reacts_to<notification>, caf::reacts_to<lost_atom, uint64_t, caf::error>,
  caf::reacts_to<listener_atom>, caf::reacts_to<close_atom>,
  caf::reacts_to<tick_atom>>;

/// The circuit breaker: counts consecutive connect failures and gates
/// connect attempts; publishes every transition as a `breaker_event`.
using breaker_actor = caf::typed_actor<
  caf::replies_to<permit_atom>::with<bool>,
  caf::reacts_to<outcome_atom, caf::error>,
  caf::reacts_to<trip_atom, std::string>,
  caf::replies_to<subscribe_atom, caf::actor>::with<caf::ok_atom>,
  caf::reacts_to<tick_atom, uint64_t>>;

/// The supervisor: opens connections up to what the manager wants (within
/// max_size), replaces failed ones with backoff and jitter, asks the breaker
/// before each connect, and retires connections past their lifetime.
using supervisor_actor = caf::typed_actor<
  caf::reacts_to<want_atom, uint32_t>, caf::reacts_to<ready_atom, uint32_t>,
  caf::reacts_to<expire_atom, uint32_t>, caf::reacts_to<tick_atom>,
  caf::reacts_to<close_atom>, caf::reacts_to<settings_atom, context_ptr>,
  caf::reacts_to<trip_atom, std::string>,
  caf::replies_to<reset_atom>::with<std::vector<uint32_t>>>;

/// What the actors of a pool share (read-only after start).
struct pool_context {
  pool_config cfg;
  std::shared_ptr<backend> db;
  std::shared_ptr<spdlog::logger> log;
  /// Where trace events go (trace.hpp): `cfg.tracer`, behind the slow-query
  /// logger if `cfg.slow_query_threshold` is set; null: nowhere.
  std::shared_ptr<tracer> trace;
  /// The cap set with `limit_atom` (a cluster node's share); none: max_size.
  uint64_t limit = std::numeric_limits<uint64_t>::max();

  /// The most connections the pool may hold: max_size, or the limit if lower.
  size_t max_open() const {
    return static_cast<size_t>(std::min<uint64_t>(cfg.max_size, limit));
  }

  /// The connections the pool keeps open: min_size, up to max_open().
  size_t min_open() const { return std::min<size_t>(cfg.min_size, max_open()); }
};

/// Spawns the manager (which spawns its supervisor and breaker) for a
/// validated configuration.
manager_actor spawn_manager(caf::actor_system& sys,
                            std::shared_ptr<const pool_context> ctx);

/// Spawns (as a child of `parent`, the supervisor) the worker `id`; it starts
/// connecting at once, sends `(ready_atom, id, itself, capacity, endpoint)` to
/// `manager` when connected, or exits with the connect error.
worker_actor spawn_worker(caf::local_actor* parent, uint32_t id,
                          manager_actor manager,
                          std::shared_ptr<const pool_context> ctx);

/// Spawns the supervisor of `manager`'s connections; it exits with the
/// manager. `breaker` may be invalid (no breaker configured).
supervisor_actor spawn_supervisor(caf::local_actor* parent,
                                  manager_actor manager, breaker_actor breaker,
                                  std::shared_ptr<const pool_context> ctx);

/// Spawns the LISTEN/NOTIFY hub of `manager` (listener.cpp): it keeps one
/// leased connection listening to every channel someone listens to and
/// fans the notifications out; the manager delegates `listen` and
/// `unlisten` to it. It exits with the manager, or after the manager's
/// `close_atom` (shutdown).
listener_actor spawn_listener(caf::local_actor* parent, manager_actor manager,
                              std::shared_ptr<const pool_context> ctx);

/// Spawns the circuit breaker; it exits with `owner`.
breaker_actor spawn_breaker(caf::local_actor* parent, caf::actor owner,
                            std::shared_ptr<const pool_context> ctx);

} // namespace pool
