#pragma once

// The frame the closed-loop phases share (pool and TPC-B): start a pool,
// spawn the clients, release them together at the start of the window,
// watch the window, collect every client's samples, stop the pool.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/config.hpp"
#include "pool/protocol.hpp"

#include "measure.hpp"
#include "phases.hpp"
#include "window.hpp"

namespace bench {

/// Collector → client: the window begins, start sending.
using go_atom = caf::atom_constant<caf::atom("go")>;

/// What one client measured; it sends this to its collector at the end of
/// the window and quits.
struct client_samples {
  /// Latencies of the requests completed inside the window.
  histogram hist;
  /// Errors and wrong answers (warm-up and window).
  uint64_t errors = 0;
  /// Errors a real application retries (TPC-B: 40001, 40P01).
  uint64_t retryable = 0;
  std::string first_error;

  /// Counts an error; keeps the first one's text.
  void error(std::string what) {
    if (errors++ == 0)
      first_error = std::move(what);
  }
};

/// Everything a client needs: the pool, whom to report to, the window, the
/// shared completion counter (progress lines), and its index.
struct client_args {
  pool::pool_actor pool;
  caf::actor collector;
  phase_times times;
  std::shared_ptr<std::atomic<uint64_t>> done;
  size_t index = 0;
};

/// Spawns one client; it starts on `go_atom`.
using client_spawner =
  std::function<caf::actor(caf::actor_system&, client_args)>;

/// Runs `spec.clients` clients made by `spawn` against a pool started with
/// `settings`; a client that has not reported `reply_timeout` after the
/// window makes the phase fail. Fills in everything `load_result` holds.
load_result run_client_phase(caf::actor_system& sys, const run_spec& spec,
                             pool::pool_config settings,
                             const std::string& label,
                             caf::timespan reply_timeout,
                             const client_spawner& spawn);

} // namespace bench

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bench::client_samples)
