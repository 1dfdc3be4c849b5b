#include "pool_util.hpp"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "caf/all.hpp"

#include "pool/blocking.hpp"
#include "pool/config.hpp"
#include "pool/error.hpp"
#include "pool/pool.hpp"
#include "pool/remote.hpp"

namespace bench {

using namespace std::chrono_literals;

pool::pool_config pool_settings(const std::string& conninfo, size_t size) {
  pool::pool_config cfg;
  cfg.conninfo = conninfo;
  cfg.min_size = size;
  cfg.max_size = size;
  return cfg;
}

caf::expected<pool::pool_actor>
start_pool(caf::actor_system& sys, pool::pool_config cfg, caf::timespan wait) {
  auto size = cfg.min_size;
  auto spawned = pool::spawn_pool(sys, std::move(cfg));
  if (!spawned)
    return spawned;
  pool::blocking_pool db{sys, *spawned, 5s};
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    auto st = db.stats();
    if (st && st->idle == size)
      return spawned;
    if (!st || std::chrono::steady_clock::now() >= deadline) {
      auto why = st ? "only " + std::to_string(st->idle) + " of " +
                        std::to_string(size) + " connections idle after " +
                        caf::deep_to_string(wait) +
                        "; stats: " + pool::to_string(*st)
                    : "stats failed: " + pool::describe(st.error());
      db.shutdown(1s);
      return caf::make_error(caf::sec::runtime_error, why);
    }
    std::this_thread::sleep_for(5ms);
  }
}

caf::expected<pool::pool_actor>
connect_remote_pool(caf::actor_system& sys, const remote_ref& ref,
                    size_t connections, int64_t& total, caf::timespan wait) {
  auto fail = [&](const std::string& what) {
    return caf::make_error(caf::sec::runtime_error,
                           "remote pool at " + ref.node() + ": " + what);
  };
  auto name = ref.name;
  if (name.empty()) {
    auto names = pool::list_pools(sys, ref.host, ref.port, wait);
    if (!names)
      return fail(pool::describe(names.error()));
    if (names->size() != 1) {
      std::string all;
      for (auto& n : *names)
        all += (all.empty() ? "" : ", ") + n;
      return fail("the node serves " + std::to_string(names->size()) +
                  " pools (" + all + "): choose one with --remote-pool");
    }
    name = names->front();
  }
  auto p = pool::connect_pool(sys, ref.host, ref.port, name, wait);
  if (!p)
    return fail(pool::describe(p.error()));
  pool::blocking_pool db{sys, *p, wait};
  auto st = db.stats();
  if (!st)
    return fail("stats: " + pool::describe(st.error()));
  total = st->total;
  std::printf("  remote pool '%s' at %s: %u connections (total of its stats; "
              "pool_stats has no max_size), idle %u; its own pipeline_depth "
              "and settings apply\n",
              name.c_str(), ref.node().c_str(), st->total, st->idle);
  if (st->total != connections)
    std::printf("  WARNING: the remote pool has %u connections, the "
                "configuration asks for %zu: start poold with "
                "--pools.%s.min-size=%zu --pools.%s.max-size=%zu\n",
                st->total, connections, name.c_str(), connections, name.c_str(),
                connections);
  return p;
}

void print_pool_stats(caf::actor_system& sys, const pool::pool_actor& pool,
                      const char* label) {
  pool::blocking_pool db{sys, pool, 5s};
  auto st = db.stats();
  if (!st) {
    std::printf("  %s: stats failed: %s\n", label,
                pool::describe(st.error()).c_str());
    return;
  }
  // Not a field: the mean wait per acquisition.
  auto wait_us = std::chrono::duration<double, std::micro>(st->wait_time_total);
  std::printf("  %s: %s (mean wait %.1f us)\n", label,
              pool::to_string(*st).c_str(),
              st->acquired ? wait_us.count() / double(st->acquired) : 0.0);
}

caf::error stop_pool(caf::actor_system& sys, const pool::pool_actor& pool) {
  pool::blocking_pool db{sys, pool, 10s};
  auto err = db.shutdown(5s);
  if (err) // let the actor system terminate anyway
    caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
  return err;
}

} // namespace bench
