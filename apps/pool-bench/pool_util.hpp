#pragma once

// Starting and stopping the pools of the benchmark's phases.

#include <chrono>
#include <string>

#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/config.hpp"
#include "pool/protocol.hpp"

#include "phases.hpp"

namespace bench {

/// The pool configuration of the benchmark: min = max = `size`, all other
/// settings at their defaults.
pool::pool_config pool_settings(const std::string& conninfo, size_t size);

/// Spawns a pool and waits (at most `wait`) until `cfg.min_size`
/// connections are idle. The error says what went wrong.
caf::expected<pool::pool_actor>
start_pool(caf::actor_system& sys, pool::pool_config cfg,
           caf::timespan wait = std::chrono::seconds(30));

/// Connects to the pool `ref` names on its node (its only pool when
/// `ref.name` is empty), bounded by `wait`, and prints a line with its name
/// and its connections (`total` of its stats: pool_stats has no max_size),
/// plus a WARNING when they differ from `connections`, the configuration's
/// pool size. Sets `total` to them. The error names the node and what
/// failed.
caf::expected<pool::pool_actor>
connect_remote_pool(caf::actor_system& sys, const remote_ref& ref,
                    size_t connections, int64_t& total,
                    caf::timespan wait = std::chrono::seconds(10));

/// Prints the pool's stats in one line (prefixed by `label`).
void print_pool_stats(caf::actor_system& sys, const pool::pool_actor& pool,
                      const char* label);

/// Shuts the pool down (deadline 5 s); returns the error, if any.
caf::error stop_pool(caf::actor_system& sys, const pool::pool_actor& pool);

} // namespace bench
