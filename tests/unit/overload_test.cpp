#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE overload
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

// A pool of `min`..`max` connections that sheds load after a window of 1 s
// in which every served request waited longer than 50 ms.
pool_config shedding_config(fixture& f, size_t min, size_t max) {
  auto cfg = f.make_config(min, max);
  cfg.queue_target = 50ms;
  cfg.queue_interval = 1s;
  cfg.acquire_timeout = 60s;
  cfg.validate_after_idle = caf::timespan{0};
  return cfg;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(overload_tests, fixture)

// When every request served in a whole queue_interval waited longer than
// queue_target, new requests that would have to wait are shed at once with
// `overloaded`; once waits drop, normal service resumes.
CAF_TEST(load is shed while waits stay above the target) {
  script->default_latency = 100ms;
  auto cfg = shedding_config(*this, 1, 1);
  auto pool = start(cfg);
  std::vector<outcome_ptr<query_result>> backlog;
  for (int i = 0; i < 30; ++i)
    backlog.push_back(
      ask<query_result>(pool, query_atom::value, statement{"SELECT 1"}));
  sched.run();
  // Window [0, 1s) served the first request at once: no shedding yet.
  advance(1050ms);
  auto early =
    ask<query_result>(pool, query_atom::value, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK_EQUAL(early->answers, 0); // queued, not shed
  // Window [1s, 2s) served only requests that waited ~1 s: shed from now.
  advance(1000ms);
  auto shed = ask<query_result>(pool, query_atom::value, statement{"SELECT 3"});
  sched.run();
  CAF_CHECK(shed->failed_with(pool_errc::overloaded));
  auto st = stats(pool);
  CAF_CHECK(st.overloaded);
  CAF_CHECK_EQUAL(st.shed, 1u);
  // The backlog drains (31 requests at 100 ms each).
  advance(2000ms);
  for (auto& q : backlog)
    CAF_CHECK(q->ok());
  CAF_CHECK(early->ok());
  // Requests served at once in a whole window end the shedding.
  for (int i = 0; i < 12; ++i) {
    auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 4"});
    sched.run();
    advance(150ms);
    CAF_CHECK(q->ok());
  }
  st = stats(pool);
  CAF_CHECK(!st.overloaded);
  auto later1 =
    ask<query_result>(pool, query_atom::value, statement{"SELECT 5"});
  auto later2 =
    ask<query_result>(pool, query_atom::value, statement{"SELECT 6"});
  sched.run();
  advance(300ms);
  CAF_CHECK(later1->ok());
  CAF_CHECK(later2->ok()); // had to wait, and was not shed
  CAF_CHECK_EQUAL(stats(pool).shed, 1u);
}

// A cold pool (min_size 0) whose first requests wait for slow connects is
// growing, not overloaded: requests that must wait right after are queued.
CAF_TEST(waiting for new connections is not overload) {
  script->connect_latency = 200ms;
  script->default_latency = 10ms;
  auto cfg = shedding_config(*this, 0, 4);
  auto pool = start(cfg);
  std::vector<outcome_ptr<query_result>> burst;
  for (int i = 0; i < 4; ++i)
    burst.push_back(
      ask<query_result>(pool, query_atom::value, statement{"SELECT 1"}));
  sched.run();
  advance(300ms);
  for (auto& q : burst)
    CAF_CHECK(q->ok()); // each waited ~200 ms for its new connection
  advance(800ms);       // the window [0, 1s) is over
  // 8 requests on 4 connections: 4 must wait; they are queued, not shed.
  std::vector<outcome_ptr<query_result>> next;
  for (int i = 0; i < 8; ++i)
    next.push_back(
      ask<query_result>(pool, query_atom::value, statement{"SELECT 2"}));
  sched.run();
  advance(100ms);
  for (auto& q : next)
    CAF_CHECK(q->ok());
  auto st = stats(pool);
  CAF_CHECK(!st.overloaded);
  CAF_CHECK_EQUAL(st.shed, 0u);
}

// A connect slower than a whole window: nothing is served in it while the
// first requests wait for it, and that is no overload either.
CAF_TEST(a connect slower than the window is not overload) {
  script->connect_latency = 1500ms;
  auto cfg = shedding_config(*this, 0, 2);
  auto pool = start(cfg);
  auto first =
    ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  advance(1050ms); // the window is over; the connect still runs
  auto second =
    ask<query_result>(pool, query_atom::value, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK_EQUAL(second->answers, 0); // queued, not shed
  advance(1000ms);
  CAF_CHECK(first->ok());
  CAF_CHECK(second->ok());
  CAF_CHECK_EQUAL(stats(pool).shed, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
