#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "caf/actor_addr.hpp"
#include "caf/response_promise.hpp"
#include "caf/stateful_actor.hpp"

#include "actors.hpp"

namespace pool {

/// The state of one connection, as the manager sees it.
enum class conn_state : uint8_t {
  /// The slot holds no worker.
  free,
  /// The worker is opening its connection.
  connecting,
  /// Connected, clean, in the idle set.
  idle,
  /// Running a pooled query or transaction.
  busy,
  /// Leased to a holder.
  leased,
  /// Cleaning up after a lease, or closing.
  cleaning,
};

/// One connection slot; the slot's index is its worker's id.
struct conn_slot {
  worker_actor worker;
  conn_state state = conn_state::free;
  /// The lease on this connection (state leased), else 0.
  uint64_t lease_id = 0;
  /// The holder of that lease.
  caf::actor_addr holder;
};

/// A request waiting for a connection.
struct waiter {
  enum kind_t : uint8_t { query, txn, acquire } kind = query;
  caf::response_promise rp;
  /// The statement (query) or statements (txn).
  std::vector<statement> stmts;
  /// The requester of an acquire, who will hold the lease.
  caf::actor_addr holder;
  /// When it started waiting (actor clock).
  caf::timespan since{0};
};

/// All pool state, owned by the manager actor alone.
struct manager_state {
  static const char* name;
  std::shared_ptr<const pool_context> ctx;
  std::vector<conn_slot> slots;
  /// Indexes of free slots, reused before the vector grows.
  std::vector<uint32_t> free_slots;
  /// Idle connections, used as a stack: the most recently used goes first.
  std::vector<uint32_t> idle;
  /// Connections being opened (they count toward max_size).
  size_t connecting = 0;
  /// Live lease id → slot index.
  std::unordered_map<uint64_t, uint32_t> leases;
  /// Lease holders → number of leases they hold (each monitored once).
  std::unordered_map<caf::actor_addr, size_t> holders;
  /// Waiting requests by id; ids grow, so iteration order is FIFO order.
  std::map<uint64_t, waiter> waiters;
  uint64_t next_lease_id = 1;
  uint64_t next_waiter_id = 1;
  /// Delay before the next connect attempt after failures (0: none failed).
  caf::timespan backoff{0};
  /// Whether a connect retry is scheduled.
  bool retry_pending = false;
  /// The most recent connect error.
  caf::error last_connect_error;
  /// Counters (the gauges are computed from `slots` on demand).
  pool_stats counters;
  /// Promises of shutdown requests, answered when every connection closed.
  std::vector<caf::response_promise> shutdown_rps;
};

} // namespace pool
