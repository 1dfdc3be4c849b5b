#pragma once

// Shared fixture of the chaos scenarios (adapted from tests/integration): a
// real actor system with two scheduler threads, the pool's types, a handle on
// the test's PostgreSQL server (pg_control), and chaos pools with short timers
// that are always shut down at the end (so that ~actor_system returns).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "caf/all.hpp"
#include "caf/test/unit_test.hpp"

#include "pool/all.hpp"

#include "live_support.hpp"
#include "pg_control.hpp"

namespace spdlog {
class logger;
} // namespace spdlog

namespace chaos {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

/// The actor system's configuration: the pool's types and two scheduler
/// threads.
using config = pool_test::live_config;

/// Milliseconds from `a` to `b`.
inline long long ms_between(std::chrono::steady_clock::time_point a,
                            std::chrono::steady_clock::time_point b) {
  return std::chrono::duration_cast<ms>(b - a).count();
}

/// Milliseconds since `t`.
inline long long ms_since(std::chrono::steady_clock::time_point t) {
  return ms_between(t, std::chrono::steady_clock::now());
}

/// The chaos pools' logger: stderr, level error unless POOL_CHAOS_LOG names
/// another (warn, info, debug).
std::shared_ptr<spdlog::logger> pool_logger();

/// Reads the POOL_TEST_* variables or fails the test (before touching
/// anything) with a message telling the reader how to run it.
pg_env required_env();

struct fixture {
  pg_control pg;
  config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  /// Pools spawned by this test and not yet shut down.
  std::vector<pool::pool_actor> pools;

  /// Time a single request of the test itself may take.
  caf::timespan timeout = caf::timespan{10s};

  fixture();
  ~fixture();

  /// The chaos pool configuration: min 4, max 8, short timers (see the
  /// definition), conninfo `conninfo`.
  pool::pool_config make_config(std::string conninfo);

  /// A routed pool configuration: a primary "primary" and one replica
  /// "replica", each `make_config` of its conninfo; reads fall back to the
  /// primary; lag bound `max_lag`, checked every 200 ms.
  pool::routed_pool_config make_routed_config(std::string primary,
                                              std::string replica,
                                              caf::timespan max_lag);

  /// Spawns a routed pool (the test aborts if that fails); the fixture
  /// shuts it down at the end.
  pool::pool_actor spawn_routed(pool::routed_pool_config rc);

  /// Spawns a pool (the test aborts if that fails); the fixture shuts it
  /// down at the end.
  pool::pool_actor spawn(pool::pool_config pc);

  /// Shuts `p` down now (deadline 5 s) and checks the reply.
  void shutdown(const pool::pool_actor& p);

  /// Sends a request from the scoped actor and waits at most `t` for the
  /// reply of type `T` (or the error).
  template <class T, class Handle, class... Ts>
  caf::expected<T> call(const Handle& h, caf::timespan t, Ts&&... xs) {
    return pool_test::call<T>(self, h, t, std::forward<Ts>(xs)...);
  }

  caf::expected<pool::pool_stats> stats(const pool::pool_actor& p) {
    return call<pool::pool_stats>(p, timeout, pool::stats_atom_v);
  }

  caf::expected<pool::query_result> query(const pool::pool_actor& p,
                                          pool::statement st) {
    return call<pool::query_result>(p, timeout, pool::query_atom_v,
                                    std::move(st));
  }

  caf::expected<pool::query_result> query(const pool::lease& l,
                                          pool::statement st) {
    return call<pool::query_result>(l.worker, timeout, pool::query_atom_v, l.id,
                                    std::move(st));
  }

  caf::expected<pool::lease> acquire(const pool::pool_actor& p,
                                     caf::timespan wait) {
    return call<pool::lease>(p, wait + timeout, pool::acquire_atom_v, wait);
  }

  caf::expected<caf::ok_atom> release(const pool::pool_actor& p,
                                      uint64_t lease_id) {
    return call<caf::ok_atom>(p, timeout, pool::release_atom_v, lease_id);
  }

  /// Polls the pool's stats every 20 ms until `pred` holds or `limit`
  /// passed; returns the last snapshot and whether `pred` held.
  std::pair<pool::pool_stats, bool>
  wait_for_stats(const pool::pool_actor& p,
                 std::function<bool(const pool::pool_stats&)> pred, ms limit);

  /// Waits until the pool has at least `n` open (not connecting)
  /// connections, at most `limit`; fails the test if it does not.
  void wait_warm(const pool::pool_actor& p, size_t n, ms limit = 10000ms);
};

/// Renders an expected's error (or "ok") for test messages.
using pool_test::describe;

/// The only replica's stats of a routed pool's `st`, or a default (not
/// serving) one.
inline pool::replica_stats replica_of(const pool::pool_stats& st) {
  return st.replicas.size() == 1 ? st.replicas[0] : pool::replica_stats{};
}

/// Renders the stats fields the scenarios look at on one line.
std::string describe(const pool::pool_stats& st);

} // namespace chaos
