#define CAF_SUITE shutdown
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

CAF_TEST_FIXTURE_SCOPE(shutdown_tests, fixture)

// Shutdown answers every waiter with shutting_down, refuses new work, waits
// for the lease until it is released, closes every connection, and replies.
CAF_TEST(shutdown answers every waiter) {
  auto pool = start(make_config(2, 2));
  auto l1 = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  auto l2 = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l1->ok() && l2->ok());
  std::vector<outcome_ptr<query_result>> waiters;
  for (int i = 0; i < 3; ++i)
    waiters.push_back(
      ask<query_result>(pool, query_atom::value, statement{"SELECT 1"}));
  sched.run();
  auto down = ask<caf::ok_atom>(pool, shutdown_atom::value, caf::timespan{10s});
  sched.run();
  for (auto& w : waiters)
    CAF_CHECK(w->failed_with(pool_errc::shutting_down));
  CAF_CHECK_EQUAL(down->answers, 0);
  auto late = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(late->failed_with(pool_errc::shutting_down));
  // Leased work goes on until released.
  auto q = ask<query_result>(l1->value->worker, query_atom::value,
                             l1->value->id, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK(q->ok());
  auto r1 = ask<caf::ok_atom>(pool, release_atom::value, l1->value->id);
  auto r2 = ask<caf::ok_atom>(pool, release_atom::value, l2->value->id);
  sched.run();
  CAF_CHECK(r1->ok() && r2->ok());
  CAF_CHECK(down->ok());
  CAF_CHECK_EQUAL(script->open, 0);
  CAF_CHECK_EQUAL(script->closed, 2);
}

// At the deadline, connections still leased are closed anyway; queries on
// them get shutting_down, and the shutdown request is answered.
CAF_TEST(shutdown closes leased connections at the deadline) {
  auto pool = start(make_config(1, 1));
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  auto down = ask<caf::ok_atom>(pool, shutdown_atom::value, caf::timespan{2s});
  sched.run();
  advance_time(2s - 1ms);
  sched.run();
  CAF_CHECK_EQUAL(down->answers, 0);
  advance_time(1ms);
  sched.run();
  CAF_CHECK(down->ok());
  CAF_CHECK_EQUAL(script->open, 0);
  auto q = ask<query_result>(l->value->worker, query_atom::value, l->value->id,
                             statement{"SELECT 1"});
  sched.run();
  CAF_CHECK_EQUAL(q->answers, 1);
  CAF_CHECK(!q->value);
}

CAF_TEST_FIXTURE_SCOPE_END()
