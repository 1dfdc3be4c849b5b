// Scenario 3: PostgreSQL is down for 5 s under load; the circuit breaker
// opens, requests fail fast, and the pool refills by itself afterwards.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE chaos_outage
#include "caf/test/unit_test.hpp"

#include <algorithm>
#include <thread>

#include "breaker_watch.hpp"
#include "fixture.hpp"
#include "invariants.hpp"
#include "load.hpp"

using namespace chaos;

CAF_TEST_FIXTURE_SCOPE(chaos_outage_tests, fixture)

/// Proves (under pooled queries, leases and transactions, every request
/// answered exactly once by its deadline): while the server is down the
/// breaker opens (a subscriber sees
/// closed=>open, stats say so), requests fail fast with circuit_open or
/// connect_failed (median time-to-error far below acquire_timeout) instead
/// of waiting for their deadline, and once the server is back the breaker
/// closes (via half_open) and the pool refills to min_size and serves
/// again without help.
CAF_TEST(server down for five seconds under load) {
  auto pc = make_config(pg.pool_conninfo());
  auto p = spawn(pc);
  wait_warm(p, pc.min_size);
  breaker_watch watch{sys, p};
  auto sub = watch.wait_subscribed(5000ms);
  if (!sub.empty())
    CAF_ERROR("subscribe_atom: " << sub);
  stats_monitor mon{sys, p};
  load_generator load{sys, p};
  auto t0 = clock_type::now();
  load.start();
  CAF_CHECK(load.wait_for_ok(50, 5000ms));
  auto stopping = clock_type::now();
  CAF_CHECK(pg.stop());
  auto down = clock_type::now();
  CAF_MESSAGE("server stopped (pg_ctl stop took "
              << std::chrono::duration_cast<ms>(down - stopping).count()
              << " ms)");
  std::this_thread::sleep_for(2500ms);
  auto mid = stats(p);
  if (!mid)
    CAF_FAIL("stats during the outage: " << pool::describe(mid.error()));
  CAF_MESSAGE("stats 2.5 s into the outage: " << describe(*mid));
  std::this_thread::sleep_for(2500ms);
  auto starting = clock_type::now();
  auto started = pg.start();
  auto up = clock_type::now();
  CAF_CHECK(started);
  CAF_MESSAGE("server down for "
              << std::chrono::duration_cast<ms>(up - down).count()
              << " ms (pg_ctl start took "
              << std::chrono::duration_cast<ms>(up - starting).count()
              << " ms)");
  // Refill without help: at least min_size open connections again.
  auto took =
    check_size_in_range(*this, p, pc.min_size, pc.max_size, 10000ms, up);
  CAF_MESSAGE("refilled to min_size " << took << " ms after the server was "
                                      << "back");
  CAF_CHECK(load.wait_for_ok(100, 5000ms)); // serving again
  CAF_CHECK(load.stop(12000ms));
  auto rep = load.report();
  CAF_MESSAGE("server stopped at +" << rep.at(stopping) << " ms, down at +"
                                    << rep.at(down) << " ms, back at +"
                                    << rep.at(up)
                                    << " ms (from the load's start)");
  check_answers("outage", rep,
                {"connection_lost", "connect_failed", "circuit_open",
                 "acquire_timeout", "invalid_lease", receiver_down_kind});
  // Errors during the outage: mostly circuit_open / connect_failed, fast.
  // Requests that need a (new) connection: pooled queries, transactions and
  // acquires. (A release needs no server, and a query on a lease held since
  // before the outage fails with its connection.)
  auto outage = rep.sent_between(down, starting);
  size_t fast_kinds = 0, errors = 0;
  std::vector<answer_record> failed;
  std::map<std::string, size_t> kinds;
  for (auto& r : outage) {
    if (r.op == op_release || r.op == op_lease_query)
      continue;
    ++kinds[r.kind];
    if (r.kind == ok_kind)
      continue;
    ++errors;
    failed.push_back(r);
    if (r.kind == "circuit_open" || r.kind == "connect_failed")
      ++fast_kinds;
  }
  std::string text;
  for (auto& kv : kinds)
    text += " " + kv.first + "=" + std::to_string(kv.second);
  auto median = median_latency(failed);
  auto acquire_ms = std::chrono::duration_cast<ms>(pc.acquire_timeout).count();
  CAF_MESSAGE("requests sent during the outage:"
              << text << "; median time-to-error " << median
              << " ms (acquire_timeout " << acquire_ms << " ms)");
  CAF_CHECK_GREATER(errors, 0u);
  CAF_CHECK_EQUAL(kinds[ok_kind], 0u); // the server was down
  CAF_CHECK_GREATER_OR_EQUAL(fast_kinds * 10, errors * 8); // >= 80 %
  CAF_CHECK_LESS(median, acquire_ms / 3);
  if (rep.example.count("circuit_open"))
    CAF_CHECK_NOT_EQUAL(rep.example.at("circuit_open"), "circuit_open");
  // The breaker: open during the outage, closed again at the end.
  CAF_CHECK_NOT_EQUAL(pool::to_string(mid->breaker), "closed");
  auto evs = watch.events();
  CAF_MESSAGE("breaker events: " << watch.summary(t0));
  CAF_CHECK(!evs.empty());
  if (!evs.empty()) {
    CAF_CHECK_EQUAL(pool::to_string(evs.front().event.state), "open");
    CAF_CHECK_EQUAL(pool::to_string(evs.back().event.state), "closed");
    auto saw_half_open =
      std::any_of(evs.begin(), evs.end(), [&](const breaker_record& r) {
        return r.event.state == pool::breaker_state::half_open;
      });
    CAF_CHECK(saw_half_open);
    CAF_CHECK(evs.front().at >= stopping);
  }
  auto fin = stats(p);
  if (!fin)
    CAF_FAIL("final stats: " << pool::describe(fin.error()));
  CAF_MESSAGE("final stats: " << describe(*fin));
  CAF_CHECK_EQUAL(pool::to_string(fin->breaker), "closed");
  CAF_CHECK_GREATER_OR_EQUAL(fin->breaker_opened, 1u);
  CAF_CHECK_EQUAL(fin->last_connect_error, "");
  mon.check(pc.max_size);
  check_at_rest(*this, p, pc.min_size, pc.max_size);
}

CAF_TEST_FIXTURE_SCOPE_END()
