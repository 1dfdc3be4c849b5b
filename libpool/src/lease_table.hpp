#pragma once

// The manager's lease table: live leases (id → connection, holder, since
// when), how many leases each holder has (so that each holder is monitored
// once) and the leak bookkeeping. A plain class (no actor), unit-tested on
// its own; the manager monitors and demonitors holders as it says.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "caf/actor_addr.hpp"
#include "caf/timespan.hpp"

namespace pool {

/// Live leases and their holders.
class lease_table {
 public:
  /// One live lease.
  struct entry {
    /// The leased connection.
    uint32_t conn = 0;
    caf::actor_addr holder;
    /// When it was leased.
    caf::timespan since{0};
    /// Whether it was reported as a possible leak already.
    bool leak_reported = false;
    /// Whether the pool itself holds it for good (the LISTEN connection):
    /// never a leak, never overdue, not waited for by a pause.
    bool pinned = false;
  };

  /// A new lease.
  struct opened {
    uint64_t id;
    /// Whether the holder held no lease before: monitor it.
    bool new_holder;
  };

  /// What ending a lease left.
  struct closed {
    uint32_t conn;
    caf::actor_addr holder;
    /// Whether the holder holds no lease any more: stop monitoring it.
    bool last_of_holder;
  };

  /// Leases the connection `conn` to `holder` at `now` with a new, unique
  /// id (ids are never reused). Returns nothing if `conn` is leased already.
  std::optional<opened> open(uint32_t conn, const caf::actor_addr& holder,
                             caf::timespan now);

  /// Ends the lease `id`; nothing if it is not live (released already, or
  /// never issued).
  std::optional<closed> close(uint64_t id);

  /// Ends the lease on `conn`, if any (its connection is gone).
  std::optional<closed> close_conn(uint32_t conn);

  /// The live lease `id`, or null.
  const entry* find(uint64_t id) const;

  /// The id of the lease on `conn`, if any.
  std::optional<uint64_t> lease_on(uint32_t conn) const;

  /// The leases `holder` holds, oldest first.
  std::vector<uint64_t> held_by(const caf::actor_addr& holder) const;

  /// Whether `holder` holds a lease.
  bool holds(const caf::actor_addr& holder) const {
    return holders_.count(holder) > 0;
  }

  /// The number of live leases.
  size_t size() const { return leases_.size(); }

  /// Marks the live lease `id` as the pool's own (`entry::pinned`).
  /// Returns whether it is live.
  bool pin(uint64_t id);

  /// The number of live leases that are not pinned.
  size_t unpinned() const { return leases_.size() - pinned_; }

  /// The number of distinct holders.
  size_t holder_count() const { return holders_.size(); }

  /// Leases held for at least `threshold` at `now` and not reported yet,
  /// oldest first, pinned ones aside; each is marked reported (reported
  /// once per lease).
  std::vector<uint64_t> take_leaks(caf::timespan now, caf::timespan threshold);

  /// Leases held for at least `timeout` at `now`, oldest first, pinned ones
  /// aside.
  std::vector<uint64_t> overdue(caf::timespan now, caf::timespan timeout) const;

 private:
  std::optional<closed> erase(uint64_t id);
  std::vector<uint64_t> sorted_ids() const;

  uint64_t next_id_ = 1;
  size_t pinned_ = 0;
  std::unordered_map<uint64_t, entry> leases_;
  /// Connection → its lease.
  std::unordered_map<uint32_t, uint64_t> by_conn_;
  /// Holder → number of leases held.
  std::unordered_map<caf::actor_addr, size_t> holders_;
};

} // namespace pool
