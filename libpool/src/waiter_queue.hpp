#pragma once

// The manager's queue of requests waiting for a connection: priority
// classes with aging, FIFO within a class, deadlines, requests parked on a
// connection under validation. A plain class
// (no actor), so that its rules are unit-tested on their own; the manager
// actor feeds it and answers what it returns.

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include "caf/actor_addr.hpp"
#include "caf/response_promise.hpp"
#include "caf/timespan.hpp"

#include "pool/types.hpp"

namespace pool {

/// A request waiting for a connection.
struct waiter {
  enum kind_t : uint8_t { query, txn, acquire } kind = query;
  /// The waiter's id (set by `waiter_queue::push`); ids give the FIFO order.
  uint64_t id = 0;
  caf::response_promise rp;
  /// The statement (query).
  statement stmt;
  /// The statements (txn).
  std::vector<statement> stmts;
  /// Whether it is a query that may share a busy connection's pipeline.
  bool piped = false;
  /// Its priority class.
  priority prio = priority::normal;
  /// The requester of an acquire, who will hold the lease.
  caf::actor_addr holder;
  /// When it started waiting (actor clock).
  caf::timespan since{0};
  /// How long it may wait in all.
  caf::timespan timeout{0};
};

/// Waiting requests in FIFO order per priority class, with their deadlines.
/// A request handed back by a worker (a retry) goes before every new one.
/// The next to be served is the front of the class with the best effective
/// class: its class minus one per `aging` it has waited (not below 0); on a
/// tie, the one that arrived first. With one class waiting (the usual case)
/// that is simply the oldest waiter. Costs: push O(log n) (O(1) amortized at
/// the back), front O(classes · log n) with several classes waiting, O(1)
/// with one. A waiter can be
/// parked on a connection that is being validated for it: it keeps its
/// place and its deadline, but is not served to anyone else until unparked.
class waiter_queue {
 public:
  /// No connection: the waiter is not parked.
  static constexpr uint32_t no_conn = std::numeric_limits<uint32_t>::max();

  /// Gives `w` its id and enters it (deadline `w.since + w.timeout`),
  /// parked on `conn` unless `conn` is `no_conn`. A `retry` goes before
  /// every request pushed as new. Returns the id.
  uint64_t push(waiter w, bool retry, uint32_t conn = no_conn);

  /// Whether no waiter is ready to be served (parked ones do not count).
  bool empty() const { return waiters_.size() == parked_; }

  /// The number of waiters ready to be served.
  size_t size() const { return waiters_.size() - parked_; }

  /// Sets the aging interval (0: strict classes).
  void aging(caf::timespan x) { aging_ = x; }

  /// The next waiter to be served at time `t` (see the class comment), or
  /// null.
  const waiter* front(caf::timespan t = caf::timespan{0}) const;

  /// Removes and returns the next waiter to be served at time `t`.
  /// Precondition: `!empty()`.
  waiter pop_front(caf::timespan t = caf::timespan{0});

  /// Parks the next waiter to be served at time `t` on `conn` and returns
  /// its id. Precondition: `!empty()`.
  uint64_t park_front(uint32_t conn, caf::timespan t = caf::timespan{0});

  /// The number of waiters of class `c`, parked ones included.
  size_t count(priority c) const { return by_class_[static_cast<size_t>(c)]; }

  /// Removes and returns the waiter parked on `conn`, if any.
  std::optional<waiter> take_parked(uint32_t conn);

  /// Puts the waiter parked on `conn` (if any) back among those ready to be
  /// served, at its original place.
  void unpark(uint32_t conn);

  /// Removes and returns every waiter whose deadline is at or before `t`,
  /// parked or not, oldest deadline first.
  std::vector<waiter> take_expired(caf::timespan t);

  /// Removes and returns every waiter, parked or not, in FIFO order.
  std::vector<waiter> take_all();

  /// The earliest deadline, or `caf::timespan::max()` when nobody waits.
  caf::timespan next_deadline() const;

  /// When the oldest waiter ready to be served started waiting, if any.
  std::optional<caf::timespan> oldest_since() const;

 private:
  using deadline_map = std::multimap<caf::timespan, uint64_t>;

  struct entry {
    waiter w;
    deadline_map::iterator deadline;
    uint32_t parked_on = no_conn;
  };

  using entry_map = std::map<uint64_t, entry>;

  waiter take(entry_map::iterator i);

  /// Ids are keys: the region (0 for retries, 1 + class for new requests)
  /// in the top byte, then the arrival number.
  static constexpr int region_shift = 56;
  static constexpr uint64_t seq_mask = (uint64_t{1} << region_shift) - 1;
  static constexpr size_t regions = priority_classes + 1;
  static size_t region_of(uint64_t id) { return id >> region_shift; }

  /// The first waiter ready to be served in region `r`, or end.
  entry_map::const_iterator first_ready(size_t r) const;
  /// The next waiter to be served at `t`, or end.
  entry_map::const_iterator pick(caf::timespan t) const;
  /// Whether `a` goes before `b` at `t`.
  bool before(const entry& a, const entry& b, caf::timespan t) const;
  entry_map::iterator mutable_pick(caf::timespan t);
  void set_parked(entry& e, uint32_t conn);

  /// New requests count up from 2^40; retries count down from just below.
  uint64_t next_id_ = uint64_t{1} << 40;
  uint64_t next_retry_id_ = (uint64_t{1} << 40) - 1;
  caf::timespan aging_{0};
  /// Waiters ready to be served, per region.
  size_t ready_[regions] = {};
  /// Waiters per class, parked ones included.
  size_t by_class_[priority_classes] = {};
  /// By id: iteration order is FIFO order.
  entry_map waiters_;
  deadline_map deadlines_;
  /// The tree nodes of waiters taken out, reused by the next pushes, so that
  /// a request that waits costs no allocation here; at most `max_spare`.
  std::vector<entry_map::node_type> spare_entries_;
  std::vector<deadline_map::node_type> spare_deadlines_;
  static constexpr size_t max_spare = 256;
  /// Parked waiters by connection.
  std::map<uint32_t, uint64_t> parked_by_conn_;
  size_t parked_ = 0;
};

} // namespace pool
