// Scenario 4: the network between pool and server stalls for 5 s (a TCP
// forwarder stops moving bytes without closing anything) under load.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE chaos_stall
#include "caf/test/unit_test.hpp"

#include <thread>

#include "fixture.hpp"
#include "invariants.hpp"
#include "load.hpp"
#include "tcp_forwarder.hpp"

using namespace chaos;

CAF_TEST_FIXTURE_SCOPE(chaos_stall_tests, fixture)

/// Proves: a stalled network is detected by the pool's own timeouts — every
/// request gets an answer (query_timeout, connection_lost, circuit_open,
/// connect_failed or acquire_timeout) by its deadline, none hangs — and the
/// pool recovers once bytes flow again.
CAF_TEST(network stalled for five seconds under load) {
  auto port = static_cast<uint16_t>(std::stoi(pg.env().port));
  tcp_forwarder fwd{port};
  if (!fwd.ok())
    CAF_FAIL("tcp_forwarder: " << fwd.error());
  loaded_pool lp{*this,
                 make_config(pg.tcp_conninfo(std::to_string(fwd.port())))};
  auto before = stats(lp.p);
  if (!before)
    CAF_FAIL("stats before the stall: " << pool::describe(before.error()));
  CAF_MESSAGE("before the stall: " << describe(*before) << "; forwarder "
                                   << fwd.open_connections() << " open, "
                                   << fwd.accepted() << " accepted");
  auto paused = clock_type::now();
  fwd.pause();
  std::this_thread::sleep_for(2500ms);
  auto mid = stats(lp.p);
  if (!mid)
    CAF_FAIL("stats during the stall: " << pool::describe(mid.error()));
  CAF_MESSAGE("2.5 s into the stall: " << describe(*mid));
  std::this_thread::sleep_for(2500ms);
  fwd.resume();
  auto resumed = clock_type::now();
  CAF_MESSAGE("stalled for " << ms_since(paused) << " ms; forwarder "
                             << fwd.open_connections() << " open, "
                             << fwd.accepted() << " accepted");
  check_size_in_range(*this, lp.p, lp.pc.min_size, lp.pc.max_size, 15000ms,
                      resumed);
  CAF_CHECK(lp.load.wait_for_ok(100, 10000ms)); // serving again
  auto rep = lp.stop_load();
  CAF_MESSAGE("stalled from +" << rep.at(paused) << " ms to +"
                               << rep.at(resumed)
                               << " ms (from the load's start)");
  check_answers("stall", rep,
                {"query_timeout", "connection_lost", "circuit_open",
                 "connect_failed", "acquire_timeout", "invalid_lease",
                 receiver_down_kind});
  // No answer later than the pool's own deadlines allow: waiting for a
  // connection (acquire_timeout) plus running (query_timeout), plus slack
  // for a loaded 2-core box.
  auto limit =
    std::chrono::duration_cast<ms>(lp.pc.acquire_timeout + lp.pc.query_timeout)
      .count() +
    1500;
  long long worst = 0;
  for (auto& r : rep.records)
    worst = std::max<long long>(worst, r.latency().count());
  CAF_MESSAGE("slowest answer " << worst << " ms (limit " << limit << " ms)");
  CAF_CHECK_LESS_OR_EQUAL(worst, limit);
  // The stall was real (nothing that needs the server and was sent during
  // it succeeded before it ended; an acquire may get a connection that was
  // idle, a release needs no server) and the pool noticed it by its own
  // timeouts (errors answered while it lasted, or just after).
  size_t ok_in_stall = 0, errors_in_stall = 0;
  for (auto& r : rep.records) {
    auto needs_server =
      r.op == op_query || r.op == op_transaction || r.op == op_lease_query;
    if (r.kind == ok_kind && needs_server && r.sent >= paused + 100ms &&
        r.answered < resumed)
      ++ok_in_stall;
    else if (r.kind != ok_kind && r.answered >= paused &&
             r.answered < resumed + 1s)
      ++errors_in_stall;
  }
  CAF_MESSAGE("during the stall: " << errors_in_stall << " errors answered, "
                                   << ok_in_stall
                                   << " requests sent and answered ok");
  CAF_CHECK_EQUAL(ok_in_stall, 0u);
  CAF_CHECK_GREATER(errors_in_stall, 0u);
  lp.check_final(*this);
  // Shut the pool down while the forwarder still runs.
  shutdown(lp.p);
}

/// Proves: health_check_timeout fires. With no load and the network stalled,
/// the periodic pings of the idle connections get no answer: each counts as
/// a health check failure and its connection is closed; once bytes flow
/// again the pool opens fresh connections, each a live backend of its own.
CAF_TEST(idle connections fail their health checks on a stalled network) {
  auto port = static_cast<uint16_t>(std::stoi(pg.env().port));
  tcp_forwarder fwd{port};
  if (!fwd.ok())
    CAF_FAIL("tcp_forwarder: " << fwd.error());
  auto pc = make_config(pg.tcp_conninfo(std::to_string(fwd.port())));
  pc.min_size = 2;
  pc.max_size = 2;
  auto p = spawn(pc);
  wait_warm(p, pc.min_size);
  auto before = stats(p);
  if (!before)
    CAF_FAIL("stats before the stall: " << pool::describe(before.error()));
  CAF_MESSAGE("before the stall: " << describe(*before));
  auto paused = clock_type::now();
  fwd.pause();
  // Each idle connection is pinged every 500 ms; a ping fails after 1 s.
  // A failure is counted when the ping's error reaches the manager, the
  // close when the worker's loss follows it (a message later): wait for
  // both rather than check the close in the snapshot that first shows the
  // failures.
  auto failed = wait_for_stats(
    p,
    [&](const pool::pool_stats& st) {
      return st.health_check_failures >= before->health_check_failures + 2 &&
             st.connections_closed >= before->connections_closed + 2;
    },
    5000ms);
  auto took = ms_since(paused);
  fwd.resume();
  auto resumed = clock_type::now();
  CAF_MESSAGE("two health check failures "
              << (failed.second ? "after " : "NOT within ")
              << (failed.second ? took : 5000)
              << " ms of stall (interval 500 ms, timeout 1000 ms): "
              << describe(failed.first));
  CAF_CHECK(failed.second);
  CAF_CHECK_GREATER_OR_EQUAL(failed.first.connections_closed,
                             before->connections_closed + 2);
  // Back: two fresh connections, opened after the stall.
  auto back = wait_for_stats(
    p,
    [&](const pool::pool_stats& st) {
      return st.idle == 2 && st.total == 2 &&
             st.connections_created >= before->connections_created + 2;
    },
    10000ms);
  CAF_MESSAGE("two fresh idle connections "
              << (back.second ? "after " : "NOT within ")
              << (back.second ? ms_since(resumed) : 10000)
              << " ms: " << describe(back.first));
  CAF_CHECK(back.second);
  check_idle_ping(*this, p);
  // Shut the pool down while the forwarder still runs.
  shutdown(p);
}

CAF_TEST_FIXTURE_SCOPE_END()
