#pragma once

// The pool's internal actors and the messages they exchange. Clients never see
// these; they talk to `pool_actor` (manager) and `lease_actor` (worker).

#include <cstdint>
#include <memory>

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

/// Manager → worker: run one autocommit statement for the original sender
/// (delegated), then report `done` to the manager.
using run_atom = caf::atom_constant<caf::atom("run")>;
/// Manager → worker: a lease with this id begins.
using lease_atom = caf::atom_constant<caf::atom("lease")>;
/// Manager → worker: the lease with this id ends; clean the connection, then
/// report `done`.
using unlease_atom = caf::atom_constant<caf::atom("unlease")>;
/// Backend → worker: the connection can make progress.
using wake_atom = caf::atom_constant<caf::atom("wake")>;
/// Timer → worker: check the running statement's deadline.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Manager → worker: close the connection and exit.
using close_atom = caf::atom_constant<caf::atom("close")>;
/// Worker → manager: connected, ready for work.
using ready_atom = caf::atom_constant<caf::atom("ready")>;
/// Worker → manager: finished its work; the connection is clean and idle.
using done_atom = caf::atom_constant<caf::atom("done")>;
/// Timer → manager: the waiter with this id reached its deadline.
using expire_atom = caf::atom_constant<caf::atom("expire")>;

/// A connection worker: owns one `connection`, runs one operation at a time,
/// never blocks its thread. Exits (with the error as exit reason) when its
/// connection fails; the manager monitors it.
using worker_actor = lease_actor::extend<
  caf::replies_to<run_atom, statement>::with<query_result>,
  caf::replies_to<transaction_atom,
                  std::vector<statement>>::with<std::vector<query_result>>,
  caf::reacts_to<lease_atom, uint64_t>, caf::reacts_to<unlease_atom, uint64_t>,
  caf::reacts_to<wake_atom>, caf::reacts_to<tick_atom>,
  caf::reacts_to<close_atom>>;

/// The pool manager: the public interface plus what workers and timers send.
/// Internal messages: `ready`/`done` from workers; `expire` (a waiter's
/// deadline), `tick` (time to retry a failed connect) and `close` (the
/// shutdown deadline) from the manager's own timers.
using manager_actor =
  pool_actor::extend<caf::reacts_to<ready_atom, uint32_t>,
                     caf::reacts_to<done_atom, uint32_t>,
                     caf::reacts_to<expire_atom, uint64_t>,
                     caf::reacts_to<tick_atom>, caf::reacts_to<close_atom>>;

/// What every worker of a pool shares (read-only after start).
struct pool_context {
  pool_config cfg;
  std::shared_ptr<backend> db;
  std::shared_ptr<spdlog::logger> log;
};

/// Spawns the manager for a validated configuration.
manager_actor spawn_manager(caf::actor_system& sys,
                            std::shared_ptr<const pool_context> ctx);

/// Spawns (as a child of `parent`, the manager) the worker with slot number
/// `id`; it starts connecting at once and sends `(ready_atom, id)` to
/// `manager` when connected, or exits with the connect error.
worker_actor spawn_worker(caf::local_actor* parent, uint32_t id,
                          manager_actor manager,
                          std::shared_ptr<const pool_context> ctx);

} // namespace pool
