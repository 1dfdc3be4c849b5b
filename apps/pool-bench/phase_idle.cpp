// The idle phase: what a pool with nothing to do costs this process (and
// the server: health checks) over a window.

#include <chrono>
#include <cmath>
#include <thread>

#include "caf/all.hpp"

#include "pool/error.hpp"

#include "phases.hpp"
#include "pool_util.hpp"

namespace bench {

idle_result run_idle_phase(caf::actor_system& sys, const std::string& conninfo,
                           size_t pool_size, double seconds,
                           const server_cpu_probe& server) {
  using namespace std::chrono_literals;
  idle_result res;
  res.pool = pool_size;
  auto pool = start_pool(sys, pool_settings(conninfo, pool_size));
  if (!pool) {
    res.failure = pool::describe(pool.error());
    return res;
  }
  // Let the start-up's last messages settle before the window opens.
  std::this_thread::sleep_for(200ms);
  auto first = snapshot_begin(server);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  auto u = usage_between(first, snapshot_end(server));
  if (auto err = stop_pool(sys, *pool))
    res.failure = "shutdown failed: " + pool::describe(err);
  res.seconds = u.seconds;
  if (u.seconds <= 0)
    return res;
  res.cpu_percent = 100 * u.cpu_seconds / u.seconds;
  res.ctx_per_second = static_cast<double>(u.ctx_switches) / u.seconds;
  res.server_cpu_percent = u.server_cpu_us >= 0
                             ? 100 * u.server_cpu_us / 1e6 / u.seconds
                             : std::nan("");
  return res;
}

} // namespace bench
