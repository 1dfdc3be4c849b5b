#pragma once

// When the pooled queries and transactions in flight on each connection were
// handed out, so that the manager observes how long each held its
// connection when the worker gives the credit back (`done`). A plain class
// (no actor), owned by the manager: metrics only, no pool decision reads it.

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "caf/timespan.hpp"

#include "pool/types.hpp"

namespace pool {

/// Start times of the pooled operations in flight, per connection, in
/// hand-out order: a pipeline answers in the order it was fed, so the `n`
/// credits of a `done` belong to the `n` oldest. The storage per connection
/// is kept while the connection lives: no allocation per query once warm.
class query_timer {
 public:
  /// A pooled query or transaction went to connection `id` at `t`.
  void start(uint32_t id, caf::timespan t);

  /// Connection `id` gave `n` credits back at `t`: observes the time of up
  /// to `n` of its oldest operations in `out` (fewer if fewer were started,
  /// e.g. none after a lease, one for an exclusive operation).
  void finish(uint32_t id, uint32_t n, caf::timespan t,
              duration_histogram& out);

  /// Connection `id` is gone: drops what it had in flight.
  void forget(uint32_t id);

  /// Operations in flight on connection `id`.
  size_t in_flight(uint32_t id) const;

 private:
  /// A ring buffer of start times.
  struct ring {
    std::vector<caf::timespan> xs;
    size_t head = 0;
    size_t size = 0;
  };

  std::unordered_map<uint32_t, ring> rings_;
};

} // namespace pool
