#pragma once

// The manager's load shedding decision (CoDel-style, like the queue_target /
// queue_interval of pgx and HikariCP's peers): a plain class, unit-tested
// without actors.

#include <cstdint>
#include <optional>

#include "caf/timespan.hpp"

namespace pool {

/// Decides, once per window of `interval`, whether the pool is overloaded:
/// every request served in the window waited longer than `target` (or, when
/// nothing was served, the oldest waiter has waited longer than `target`).
/// While overloaded, new requests that would have to wait are refused.
/// A `target` of 0 turns shedding off.
class load_shedder {
 public:
  load_shedder() = default;

  /// Sets the target and window length and starts the first window at
  /// `now`; the pool is not overloaded.
  void start(caf::timespan target, caf::timespan interval, caf::timespan now);

  /// Records that a request was served at `now` after waiting `wait`.
  void served(caf::timespan now, caf::timespan wait);

  /// Whether the window is over at `now` (`roll` then decides anew).
  bool due(caf::timespan now) const {
    return target_.count() != 0 && now >= window_start_ + interval_;
  }

  /// Ends the window if it is over at `now` and decides anew; `oldest` is
  /// when the oldest request still waiting started, if any. Returns whether
  /// the decision changed.
  bool roll(caf::timespan now, std::optional<caf::timespan> oldest);

  /// Whether new requests that would have to wait are refused.
  bool overloaded() const { return overloaded_; }

 private:
  caf::timespan target_{0};
  caf::timespan interval_{0};
  caf::timespan window_start_{0};
  caf::timespan min_wait_{0};
  uint64_t served_ = 0;
  bool overloaded_ = false;
};

} // namespace pool
