#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE breaker
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct breaker_fixture : fixture {
  pool_actor pool;
  std::shared_ptr<std::vector<breaker_event>> events;

  breaker_fixture() {
    script->connect_error =
      make_error(pool_errc::connect_failed, "connection refused");
    auto cfg = make_config(1, 2);
    cfg.breaker_threshold = 3;
    cfg.breaker_cooldown = 2s;
    cfg.backoff_min = 10ms;
    cfg.backoff_max = 10ms;
    pool = start(cfg);
    events = record_events(pool);
  }

  std::vector<breaker_state> states() {
    std::vector<breaker_state> result;
    for (auto& ev : *events)
      result.push_back(ev.state);
    return result;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(breaker_tests, breaker_fixture)

// Closed → open after breaker_threshold consecutive failures; no connects
// while open; half-open after the cool-down lets one probe through; a failed
// probe opens it again; a successful one closes it. Every transition reaches
// subscribers and stats.
CAF_TEST(breaker transitions) {
  advance(100ms);
  CAF_CHECK_EQUAL(script->created, 3);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.breaker, breaker_state::open);
  CAF_CHECK_EQUAL(st.breaker_opened, 1u);
  // The last error the fake produced (each names its connection), not an
  // earlier one.
  CAF_REQUIRE_EQUAL(script->connect_errors.size(), 3u);
  CAF_CHECK_EQUAL(st.last_connect_error,
                  describe(script->connect_errors.back()));
  CAF_REQUIRE_EQUAL(events->size(), 1u);
  CAF_CHECK_NOT_EQUAL(events->front().reason.find("3 consecutive"),
                      std::string::npos);
  // Open: no connect attempts during the cool-down.
  advance(1900ms);
  CAF_CHECK_EQUAL(script->created, 3);
  // Half-open: exactly one probe, which fails → open again.
  advance(200ms);
  CAF_CHECK_EQUAL(script->created, 4);
  std::vector<breaker_state> want{breaker_state::open, breaker_state::half_open,
                                  breaker_state::open};
  CAF_CHECK_EQUAL(states(), want);
  // The server is back: the next probe succeeds → closed.
  script->connect_error = caf::error{};
  advance(2100ms);
  want.push_back(breaker_state::half_open);
  want.push_back(breaker_state::closed);
  CAF_CHECK_EQUAL(states(), want);
  st = stats(pool);
  CAF_CHECK_EQUAL(st.breaker, breaker_state::closed);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(script->created, 5);
}

// While the circuit is open and no connection exists, requests fail at once
// with circuit_open carrying the last connect error: the one the fake
// produced last (each names its connection), not an earlier one.
CAF_TEST(requests fail fast while the circuit is open) {
  advance(100ms);
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::circuit_open));
  CAF_REQUIRE_EQUAL(script->connect_errors.size(), 3u);
  auto last = describe(script->connect_errors.back());
  CAF_CHECK_EQUAL(last, "connect_failed: connection refused (fake connection "
                        "3)");
  auto msg = error_message(q->err);
  CAF_CHECK_EQUAL(msg, "connects are failing; last connect error: " + last);
}

CAF_TEST_FIXTURE_SCOPE_END()

#undef CAF_SUITE
#define CAF_SUITE breaker_wait

CAF_TEST_FIXTURE_SCOPE(breaker_wait_tests, fixture)

// With breaker_fail_fast off, requests wait for their deadline instead, and
// are served if the server comes back in time.
CAF_TEST(without fail fast requests wait for recovery) {
  script->connect_error = make_error(pool_errc::connect_failed, "refused");
  auto cfg = make_config(0, 1);
  cfg.breaker_threshold = 1;
  cfg.breaker_cooldown = 1s;
  cfg.breaker_fail_fast = false;
  cfg.acquire_timeout = 5s;
  cfg.backoff_min = 10ms;
  cfg.backoff_max = 10ms;
  auto pool = start(cfg);
  // The first connect fails; the waiter learns of it (no connection at all).
  auto q1 = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(q1->failed_with(pool_errc::connect_failed));
  CAF_REQUIRE_EQUAL(script->connect_errors.size(), 1u);
  CAF_CHECK_EQUAL(describe(q1->err), describe(script->connect_errors.back()));
  CAF_CHECK_EQUAL(stats(pool).breaker, breaker_state::open);
  auto q2 = ask<query_result>(pool, query_atom::value, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK_EQUAL(q2->answers, 0);
  script->connect_error = caf::error{};
  advance(1500ms);
  CAF_CHECK(q2->ok());
}

// Half-open, a pool with min_size 0 and no demand opens the probe
// connection anyway: requests fail fast meanwhile, so none would ever ask
// for it, and the pool would refuse everything once the server is back.
CAF_TEST(a pool with min_size 0 recovers through the half open probe) {
  script->connect_error = make_error(pool_errc::connect_failed, "refused");
  auto cfg = make_config(0, 1);
  cfg.breaker_threshold = 1;
  cfg.breaker_cooldown = 1s;
  auto p = start(cfg);
  auto q1 = ask<query_result>(p, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(q1->failed_with(pool_errc::connect_failed));
  CAF_CHECK_EQUAL(stats(p).breaker, breaker_state::open);
  auto q2 = ask<query_result>(p, query_atom::value, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK(q2->failed_with(pool_errc::circuit_open)); // open: at once
  script->connect_error = caf::error{};
  advance(1100ms);
  CAF_CHECK_EQUAL(script->created, 2); // the probe
  CAF_CHECK_EQUAL(stats(p).breaker, breaker_state::closed);
  auto q3 = ask<query_result>(p, query_atom::value, statement{"SELECT 3"});
  sched.run();
  advance(10ms);
  CAF_CHECK(q3->ok());
  CAF_CHECK_EQUAL(stats(p).breaker, breaker_state::closed);
}

CAF_TEST_FIXTURE_SCOPE_END()
