#pragma once

// Subscribes to a pool's circuit breaker (`subscribe_atom`) and records every
// `breaker_event` with its arrival time, for the test thread to read.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/fwd.hpp"

#include "pool/protocol.hpp"

namespace chaos {

struct breaker_record {
  std::chrono::steady_clock::time_point at;
  pool::breaker_event event;
};

class breaker_watch {
 public:
  /// Spawns the subscriber; `subscribed()` tells whether the pool said ok.
  breaker_watch(caf::actor_system& sys, pool::pool_actor pool);

  /// Stops the subscriber.
  ~breaker_watch();

  breaker_watch(const breaker_watch&) = delete;
  breaker_watch& operator=(const breaker_watch&) = delete;

  /// Waits (at most `limit`) for the pool's answer to the subscription;
  /// returns "" on ok, else the error.
  std::string wait_subscribed(std::chrono::milliseconds limit);

  /// The events so far, in arrival order.
  std::vector<breaker_record> events() const;

  /// "open (reason) @1200ms -> half_open @2300ms -> ..." relative to `t0`.
  std::string summary(std::chrono::steady_clock::time_point t0) const;

  struct shared;

 private:
  std::shared_ptr<shared> shared_;
  caf::actor subscriber_;
};

} // namespace chaos
