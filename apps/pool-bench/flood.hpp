#pragma once

// The scale checks' load: one actor that sends many `SELECT $1::int`
// requests at once and reports when every one is answered.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

namespace bench {

/// What a flood actor saw.
struct flood_report {
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::string first_error;
  /// From sending the first request to the last answer.
  double seconds = 0;
};

/// Spawns an actor that sends `n` queries (each with `timeout`) to `target`
/// at once, and sends a `flood_report` to `report_to` once all are answered.
caf::actor spawn_flood(caf::actor_system& sys, caf::actor target, size_t n,
                       caf::timespan timeout, caf::actor report_to);

/// Spawns an actor that accepts queries and never answers them; it counts
/// them in `received`. It measures the requesting side's memory.
caf::actor spawn_black_hole(caf::actor_system& sys,
                            std::shared_ptr<std::atomic<uint64_t>> received);

} // namespace bench

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bench::flood_report)
