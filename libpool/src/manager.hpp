#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_set>
#include <vector>

#include "caf/actor_addr.hpp"
#include "caf/response_promise.hpp"
#include "caf/stateful_actor.hpp"

#include "actors.hpp"
#include "connection_table.hpp"
#include "lease_table.hpp"
#include "load_shedder.hpp"
#include "query_timer.hpp"
#include "waiter_queue.hpp"

namespace pool {

/// All pool state, owned by the manager actor alone.
struct manager_state {
  static const char* name;
  /// The live settings: `reconfigure` replaces the context.
  std::shared_ptr<const pool_context> ctx;
  supervisor_actor supervisor;
  breaker_actor breaker;
  /// Every connection, its state and credit, the idle stack.
  connection_table conns;
  /// Connections being opened, as the supervisor last reported, and how
  /// many `ready`s it had seen then. The manager learns of a connection
  /// (`ready`, from its worker) before the supervisor does, so the readies
  /// forwarded since (`readies_sent - readies_seen`) are still counted in
  /// `connecting_reported`: see `connecting()`.
  uint32_t connecting_reported = 0;
  uint64_t readies_seen = 0;
  uint64_t readies_sent = 0;

  /// Connections being opened now (not counting those the manager has).
  uint32_t connecting() const {
    auto unseen = readies_sent - readies_seen;
    return unseen >= connecting_reported
             ? 0
             : connecting_reported - static_cast<uint32_t>(unseen);
  }

  /// The connection count last asked of the supervisor.
  uint32_t wanted = 0;
  /// Live leases and their holders (each monitored once).
  lease_table leases;
  /// Waiting requests, FIFO, with their deadlines; also those parked on a
  /// connection under validation.
  waiter_queue waiters;
  /// One timer serves every deadline: it is armed for the earliest one only
  /// (`timer_at`; max when none is armed), so a request that waits costs no
  /// timer of its own.
  caf::timespan timer_at = caf::timespan::max();
  /// The most recent connect error (none since the last success).
  caf::error last_connect_error;
  /// Decides whether new requests that would wait are shed.
  load_shedder shedder;
  /// Counters, the breaker state and the overload flag (the gauges are
  /// computed from `conns` on demand).
  pool_stats counters;
  /// Start times of the pooled operations in flight (for `query_time`).
  query_timer query_times;
  /// Promises of shutdown requests, answered when every connection closed.
  std::vector<caf::response_promise> shutdown_rps;
  /// Pause requests still draining, by number (their deadline timers carry
  /// it); answered when drained, at their deadline, or by a resume.
  std::map<uint64_t, caf::response_promise> pauses;
  uint64_t next_pause = 0;
  /// Whether a shrink (resize) may still have more connections open than
  /// max_size: until a returning connection finds the pool within it, those
  /// that come back are closed. (Not asked otherwise: a connect the
  /// supervisor reported before the manager saw the down message of the
  /// connection it replaces may count one too many for a moment.)
  bool shrinking = false;
  /// When the last pause ended: time held by a pause is no overload.
  caf::timespan resumed_at{0};
  /// Connections a `reset` marked: closed when they come back, counted in
  /// `connections_reset`.
  std::unordered_set<uint32_t> resetting;
  /// Connections whose after_release SQL (`reset_query`) asked to discard
  /// them: closed (close reason `hook`) when their `done` arrives.
  std::unordered_set<uint32_t> discarding;
  /// New connections (never handed out) the before_acquire hook rejected
  /// in a row; `breaker_threshold` of them open the breaker (see
  /// `reject_by_hook`).
  size_t fresh_rejections = 0;
  /// Connects that were under way at a `reset` and are not ready yet: each
  /// is replaced (as by `reset`) when it is. (A connect that fails instead
  /// leaves its id here; ids are never reused, so it does no harm.)
  std::unordered_set<uint32_t> reset_on_ready;
  /// The LISTEN/NOTIFY hub, spawned at the first `listen` (invalid before),
  /// and the lease it holds (0: none).
  listener_actor listener;
  uint64_t listener_lease = 0;
};

} // namespace pool
