#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "caf/actor_addr.hpp"
#include "caf/response_promise.hpp"
#include "caf/stateful_actor.hpp"

#include "actors.hpp"
#include "load_shedder.hpp"
#include "waiter_queue.hpp"

namespace pool {

/// The state of one connection, as the manager sees it.
enum class conn_state : uint8_t {
  /// Connected, clean, in the idle set.
  idle,
  /// Running a pooled query or transaction.
  busy,
  /// Leased to a holder.
  leased,
  /// Cleaning up after a lease (rollback, reset query).
  cleaning,
  /// Being pinged: a health check, or a validation before handing it out.
  validating,
  /// Told to close; gone once its worker's down message arrives.
  closing,
};

/// One open connection; keyed by its worker's id.
struct conn_slot {
  worker_actor worker;
  conn_state state = conn_state::idle;
  /// The lease on this connection (state leased), else 0.
  uint64_t lease_id = 0;
  /// The holder of that lease.
  caf::actor_addr holder;
  /// When the connection last became idle, was last pinged, was leased.
  caf::timespan idle_since{0};
  caf::timespan last_checked{0};
  caf::timespan leased_at{0};
  /// Whether the current lease was reported as a leak already.
  bool leak_reported = false;
  /// Whether the connection is to be closed when free (max_lifetime).
  bool retiring = false;
  /// Busy with pipelinable queries only: more may join, up to
  /// pipeline_depth in flight (`inflight`).
  bool shared = false;
  uint32_t inflight = 0;
  /// Whether it is listed in the manager's `open`.
  bool in_open = false;
};

/// All pool state, owned by the manager actor alone.
struct manager_state {
  static const char* name;
  std::shared_ptr<const pool_context> ctx;
  supervisor_actor supervisor;
  breaker_actor breaker;
  std::unordered_map<uint32_t, conn_slot> slots;
  /// Idle connections, used as a stack: the most recently used goes first.
  std::vector<uint32_t> idle;
  /// Shared connections with room in their pipeline.
  std::vector<uint32_t> open;
  /// Queries in flight on shared connections beyond the first of each:
  /// demand the pool counts like waiters when it decides to grow.
  size_t piped_extra = 0;
  /// Slots in state closing.
  size_t closing = 0;
  /// Connections being opened, as the supervisor reported.
  uint32_t connecting = 0;
  /// The connection count last asked of the supervisor.
  uint32_t wanted = 0;
  /// Workers that reported their connection lost before the supervisor's
  /// `ready` for them arrived (their own message took the shorter path).
  std::unordered_set<uint32_t> lost_early;
  /// Live lease id → worker id.
  std::unordered_map<uint64_t, uint32_t> leases;
  /// Lease holders → number of leases they hold (each monitored once).
  std::unordered_map<caf::actor_addr, size_t> holders;
  /// Waiting requests, FIFO, with their deadlines; also those parked on a
  /// connection under validation.
  waiter_queue waiters;
  /// One timer serves every deadline: it is armed for the earliest one only
  /// (`timer_at`; max when none is armed), so a request that waits costs no
  /// timer of its own.
  caf::timespan timer_at = caf::timespan::max();
  uint64_t next_lease_id = 1;
  /// The most recent connect error (none since the last success).
  caf::error last_connect_error;
  /// Decides whether new requests that would wait are shed.
  load_shedder shedder;
  /// Counters, the breaker state and the overload flag (the gauges are
  /// computed from `slots` on demand).
  pool_stats counters;
  /// Promises of shutdown requests, answered when every connection closed.
  std::vector<caf::response_promise> shutdown_rps;
};

} // namespace pool
