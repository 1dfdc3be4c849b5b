#pragma once

// Starting and stopping the pools of the benchmark's phases.

#include <string>

#include "caf/expected.hpp"
#include "caf/fwd.hpp"

#include "pool/protocol.hpp"

namespace bench {

/// Spawns a pool with min = max = `size` and waits (at most 30 s) until all
/// its connections are idle. The error says what went wrong.
caf::expected<pool::pool_actor>
start_pool(caf::actor_system& sys, const std::string& conninfo, size_t size);

/// Prints the pool's stats in one line (prefixed by `label`).
void print_pool_stats(caf::actor_system& sys, const pool::pool_actor& pool,
                      const char* label);

/// Shuts the pool down (deadline 5 s); returns the error, if any.
caf::error stop_pool(caf::actor_system& sys, const pool::pool_actor& pool);

} // namespace bench
