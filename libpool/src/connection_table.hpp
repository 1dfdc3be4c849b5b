#pragma once

// The manager's connection table: every connection the manager knows, its
// state, the idle stack and the connections with credit left for more
// pipelined queries. A plain class (no actor), so that its rules are
// unit-tested on their own; the manager actor feeds it and sends what it
// decides.
//
// Credit: a worker announces its capacity when it is ready (how many
// statements it takes at once: 1, or pipeline_depth when its connection can
// pipeline). The table keeps per connection only the credit left. An idle
// connection has all of it; a pipelined query takes one credit; any other
// use (an exclusive query, a transaction, a lease, a validation) takes all
// of it. The worker's `done(id, n)` gives n credits back; with all of them
// back, the connection is free.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "caf/timespan.hpp"

#include "actors.hpp"

namespace pool {

/// The state of one connection, as the manager sees it.
enum class conn_state : uint8_t {
  /// Connected, clean, in the idle stack; all credit left.
  idle,
  /// Running an exclusive operation (a query that may not share the
  /// pipeline, or a transaction): no credit left. Also the state of a
  /// connection just added or whose credit all came back, until the
  /// manager places it.
  busy,
  /// Running pipelined queries; more may join while credit is left.
  piping,
  /// Leased to a holder.
  leased,
  /// Cleaning up after a lease (rollback, reset query).
  cleaning,
  /// Being pinged: a health check, or a validation before handing it out.
  validating,
  /// Told to close; gone once its worker's down message arrives.
  closing,
};

/// Returns the state's name (for logs and failed checks).
std::string to_string(conn_state x);

/// The connections of a pool and their states (see the file comment).
class connection_table {
 public:
  /// One connection; keyed by its worker's id.
  struct entry {
    worker_actor worker;
    conn_state state = conn_state::busy;
    /// How many statements the worker takes at once (announced by it).
    uint32_t capacity = 1;
    /// How many more it takes now.
    uint32_t credit = 0;
    /// When the connection last became idle, and was last pinged.
    caf::timespan idle_since{0};
    caf::timespan last_checked{0};
    /// Whether it is to be closed when free (max_lifetime).
    bool retiring = false;
    /// When it was added (connected).
    caf::timespan opened_at{0};
    /// How often it was handed out whole (not joined in its pipeline).
    uint64_t uses = 0;
    /// Why it is closing (valid in state closing).
    close_reason close_why = close_reason::other;
    /// Where it is connected ("host:port", see `connection::endpoint`).
    std::string endpoint;
  };

  /// No connection.
  static constexpr uint32_t none = std::numeric_limits<uint32_t>::max();

  /// Enters the connection `id` of `worker`, which announced `capacity`
  /// (at least 1) and is connected to `endpoint`, as free: state busy with
  /// all its credit, until the manager places it. Returns false (and changes
  /// nothing) if `id` is known.
  bool add(uint32_t id, worker_actor worker, uint32_t capacity,
           caf::timespan now, std::string endpoint = {});

  /// Removes the connection `id` (its worker is gone), from the idle stack
  /// and the connections with credit too. Returns false if unknown.
  bool remove(uint32_t id);

  /// The connection `id`, or null.
  const entry* find(uint32_t id) const;

  /// The number of connections (closing ones included).
  size_t size() const { return entries_.size(); }

  bool empty() const { return entries_.empty(); }

  /// Connections in state closing.
  size_t closing() const { return closing_; }

  /// The number of idle connections.
  size_t idle_count() const { return idle_.size(); }

  /// The idle connections, least recently used first (the stack's bottom).
  const std::vector<uint32_t>& idle() const { return idle_; }

  /// The most recently idle connection (served first), or `none`.
  uint32_t top_idle() const { return idle_.empty() ? none : idle_.back(); }

  /// The connection with credit left for a pipelined query and the most
  /// credit (the fewest queries in flight), or `none`.
  uint32_t pick_with_credit() const;

  /// What the pool counts as demand when it decides to grow: one per
  /// exclusive use (busy, leased, cleaning, validating), one per pipelined
  /// query in flight. Kept as a sum by the transitions: asked on every
  /// request, it costs no walk over the connections.
  size_t demand() const { return demand_; }

  /// Every connection id, for a caller that changes the table while it
  /// iterates.
  std::vector<uint32_t> ids() const;

  /// Every connection, by id, for reading.
  const std::unordered_map<uint32_t, entry>& entries() const {
    return entries_;
  }

  // -- transitions ------------------------------------------------------------
  // Each returns false and changes nothing if the connection is unknown or
  // the transition is not allowed from its state.

  /// Gives the connection to one operation: a pipelined query (`piped`: one
  /// credit; from idle, busy-and-free or piping with credit left) or an
  /// exclusive operation (all credit; from idle or free). It leaves the idle
  /// stack. From idle or free it counts a hand-out (`entry::uses`); joining
  /// a pipeline does not.
  bool run(uint32_t id, bool piped);

  /// Leases the connection (all credit; from idle or free) and counts a
  /// hand-out.
  bool lease(uint32_t id);

  /// The lease ended: the worker cleans the connection (from leased).
  bool clean(uint32_t id);

  /// Pings the connection (all credit; from idle or free).
  bool validate(uint32_t id);

  /// The worker finished operations worth `n` credits. Returns false (and
  /// changes nothing) if that would give back more than was taken; sets
  /// `freed` to whether all credit is back (the connection is free: the
  /// manager places it).
  bool give_back(uint32_t id, uint32_t n, bool& freed);

  /// A validation succeeded: the connection is free (state busy, all
  /// credit).
  bool validated(uint32_t id, caf::timespan now);

  /// Parks a free connection in the idle stack (on top). With
  /// `keep_idle_since` (after a health check) it keeps its idle time.
  bool park(uint32_t id, caf::timespan now, bool keep_idle_since = false);

  /// Marks the connection to be closed when free; no pipelined query joins
  /// it any more.
  bool retire(uint32_t id);

  /// Marks the connection closing (from any state but closing), for reason
  /// `why`: it leaves the idle stack; its worker is told to close.
  bool close(uint32_t id, close_reason why = close_reason::other);

  /// Whether every invariant holds; else `why` says which broke. Invariants:
  /// idle ⇔ in the idle stack (once); credit ≤ capacity; idle ⇒ all credit;
  /// piping ⇒ credit < capacity; leased/cleaning/validating ⇒ no credit;
  /// with credit ⇔ piping with credit left and not retiring; `closing()`
  /// counts the closing ones; `demand()` is the sum of the weights.
  bool check(std::string& why) const;

 private:
  entry* get(uint32_t id);
  /// Whether the connection is free (not idle, all credit back).
  static bool is_free(const entry& e);
  void leave_idle(uint32_t id);
  /// Moves an idle or free connection to `to` with no credit left (a lease
  /// or a ping takes all of it); returns it, or null if it cannot.
  entry* take_whole(uint32_t id, conn_state to);
  /// Lists or unlists `id` among those with credit after a change.
  void update_credit(uint32_t id, entry& e);
  /// What `e` adds to `demand()`.
  static size_t weight(const entry& e);
  class reweigh;

  std::unordered_map<uint32_t, entry> entries_;
  /// Idle connections, a stack: the most recently used goes first.
  std::vector<uint32_t> idle_;
  /// Piping connections with credit left, not retiring.
  std::vector<uint32_t> with_credit_;
  size_t closing_ = 0;
  /// The sum of every entry's `weight`.
  size_t demand_ = 0;
};

} // namespace pool
