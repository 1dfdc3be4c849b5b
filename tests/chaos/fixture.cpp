#include "fixture.hpp"

#include <cstdlib>
#include <iostream>
#include <sstream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace chaos {

pg_env required_env() {
  pg_env env;
  auto err = env.load();
  if (!err.empty()) {
    std::cerr << "\n*** " << err << "\n" << std::endl;
    CAF_FAIL(err);
  }
  return env;
}

fixture::fixture() : pg(required_env()), sys(cfg), self(sys) {
  // A scenario that aborted (CAF_FAIL) may have left the server stopped.
  if (!pg.ensure_running())
    CAF_FAIL("the PostgreSQL server in " << pg.env().data
                                         << " is down and does not start");
}

fixture::~fixture() {
  // Every pool must stop so that ~actor_system can return.
  for (auto& p : pools) {
    auto res = call<caf::ok_atom>(p, caf::timespan{20s}, pool::shutdown_atom_v,
                                  caf::timespan{5s});
    if (!res) {
      CAF_ERROR("pool shutdown failed: " << pool::describe(res.error()));
      caf::anon_send_exit(p, caf::exit_reason::kill);
    }
  }
  pools.clear();
  // Leave the server running for the next scenario.
  if (!pg.ensure_running())
    CAF_ERROR("the PostgreSQL server does not run after the scenario");
}

pool::pool_config fixture::make_config(std::string conninfo) {
  pool::pool_config pc;
  pc.conninfo = std::move(conninfo);
  pc.min_size = 4;
  pc.max_size = 8;
  pc.acquire_timeout = caf::timespan{3s};
  pc.query_timeout = caf::timespan{2s};
  pc.connect_timeout = caf::timespan{2s};
  pc.health_check_interval = caf::timespan{500ms};
  pc.health_check_timeout = caf::timespan{1s};
  pc.validate_after_idle = caf::timespan{200ms};
  pc.backoff_min = caf::timespan{50ms};
  pc.backoff_max = caf::timespan{1s};
  pc.breaker_threshold = 3;
  pc.breaker_cooldown = caf::timespan{1s};
  pc.breaker_fail_fast = true;
  // Load shedding off: 24 clients on 8 connections wait longer than the
  // default 50 ms target while the pool refills after a fault, and
  // `overloaded` answers would blur what the scenarios measure.
  pc.queue_target = caf::timespan{0};
  pc.logger = pool_logger();
  return pc;
}

std::shared_ptr<spdlog::logger> pool_logger() {
  // The pool warns once per lost connection; scenario 1 loses hundreds.
  // POOL_CHAOS_LOG=warn|info|debug shows them.
  auto level = spdlog::level::err;
  if (auto env = std::getenv("POOL_CHAOS_LOG"))
    level = spdlog::level::from_str(env);
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto log = std::make_shared<spdlog::logger>("pool", std::move(sink));
  log->set_level(level);
  return log;
}

pool::pool_actor fixture::spawn(pool::pool_config pc) {
  auto p = pool::spawn_pool(sys, std::move(pc));
  if (!p)
    CAF_FAIL("spawn_pool failed: " << pool::describe(p.error()));
  pools.push_back(*p);
  return *p;
}

pool::routed_pool_config fixture::make_routed_config(std::string primary,
                                                     std::string replica,
                                                     caf::timespan max_lag) {
  pool::routed_pool_config rc;
  rc.primary = make_config(std::move(primary));
  rc.primary.name = "primary";
  rc.replicas.push_back(make_config(std::move(replica)));
  rc.replicas[0].name = "replica";
  rc.reads_fall_back_to_primary = true;
  rc.max_replica_lag = max_lag;
  rc.lag_check_interval = caf::timespan{200ms};
  return rc;
}

pool::pool_actor fixture::spawn_routed(pool::routed_pool_config rc) {
  auto p = pool::spawn_routed_pool(sys, std::move(rc));
  if (!p)
    CAF_FAIL("spawn_routed_pool failed: " << pool::describe(p.error()));
  pools.push_back(*p);
  return *p;
}

void fixture::shutdown(const pool::pool_actor& p) {
  auto res = call<caf::ok_atom>(p, caf::timespan{20s}, pool::shutdown_atom_v,
                                caf::timespan{5s});
  if (!res) {
    CAF_ERROR("shutdown: " << pool::describe(res.error()));
    caf::anon_send_exit(p, caf::exit_reason::kill);
  }
  CAF_CHECK(res);
  for (auto i = pools.begin(); i != pools.end(); ++i)
    if (*i == p) {
      pools.erase(i);
      break;
    }
}

std::pair<pool::pool_stats, bool>
fixture::wait_for_stats(const pool::pool_actor& p,
                        std::function<bool(const pool::pool_stats&)> pred,
                        ms limit) {
  return pool_test::wait_for_stats(self, p, timeout, pred, limit);
}

void fixture::wait_warm(const pool::pool_actor& p, size_t n, ms limit) {
  auto res = wait_for_stats(
    p,
    [n](const pool::pool_stats& st) { return st.total - st.connecting >= n; },
    limit);
  if (!res.second)
    CAF_FAIL("the pool did not open " << n << " connections within "
                                      << limit.count()
                                      << " ms: " << describe(res.first));
}

std::string describe(const pool::pool_stats& st) {
  std::ostringstream out;
  out << "total " << st.total << " idle " << st.idle << " leased " << st.leased
      << " busy " << st.busy << " connecting " << st.connecting << " cleaning "
      << st.cleaning << " waiting " << st.waiting << " created "
      << st.connections_created << " closed " << st.connections_closed
      << " connect_failures " << st.connect_failures << " reclaimed "
      << st.leases_reclaimed << " hc_failures " << st.health_check_failures
      << " breaker " << pool::to_string(st.breaker) << " breaker_opened "
      << st.breaker_opened << " last_connect_error '" << st.last_connect_error
      << "'";
  return out.str();
}

} // namespace chaos
