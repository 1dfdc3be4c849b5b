#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE acquire
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

CAF_TEST_FIXTURE_SCOPE(acquire_tests, fixture)

// Waiting requests are served in the order they arrived, whatever their kind.
CAF_TEST(waiters are served in FIFO order) {
  auto pool = start(make_config(1, 1));
  auto first = ask<lease>(pool, acquire_atom::value, caf::timespan{10s});
  sched.run();
  CAF_REQUIRE(first->ok());
  std::vector<outcome_ptr<lease>> waiting;
  for (int i = 0; i < 5; ++i) {
    waiting.push_back(
      ask<lease>(pool, acquire_atom::value, caf::timespan{10s}));
    sched.run(); // each request reaches the pool before the next is sent
  }
  CAF_CHECK_EQUAL(stats(pool).waiting, 5u);
  auto release = [&](const lease& l) {
    auto r = ask<caf::ok_atom>(pool, release_atom::value, l.id);
    sched.run();
    CAF_CHECK(r->ok());
  };
  release(*first->value);
  for (size_t i = 0; i < waiting.size(); ++i) {
    for (size_t j = 0; j < waiting.size(); ++j)
      CAF_CHECK_EQUAL(waiting[j]->answers, j <= i ? 1 : 0);
    release(*waiting[i]->value);
  }
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.waiting, 0u);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(st.acquired, 6u);
}

// An acquire that cannot be served is answered with acquire_timeout exactly
// at its deadline, not before, and is counted.
CAF_TEST(acquire timeout is answered at the deadline) {
  auto pool = start(make_config(1, 1));
  auto holder = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(holder->ok());
  auto waiter = ask<lease>(pool, acquire_atom::value, caf::timespan{5s});
  sched.run();
  advance_time(5s - 1ms);
  sched.run();
  CAF_CHECK_EQUAL(waiter->answers, 0);
  advance_time(1ms);
  sched.run();
  CAF_CHECK(waiter->failed_with(pool_errc::acquire_timeout));
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.acquire_timeouts, 1u);
  CAF_CHECK_EQUAL(st.waiting, 0u);
  CAF_CHECK_EQUAL(st.leased, 1u);
}

// A query waits at most acquire_timeout from the config.
CAF_TEST(a query times out after acquire_timeout) {
  auto cfg = make_config(1, 1);
  cfg.acquire_timeout = 2s;
  auto pool = start(cfg);
  auto holder = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  advance_time(2s - 1ms);
  sched.run();
  CAF_CHECK_EQUAL(q->answers, 0);
  advance_time(1ms);
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::acquire_timeout));
}

// A burst of slow queries never opens more than max_size connections
// (connecting ones included), and every query is answered once.
CAF_TEST(max_size is never exceeded under a burst) {
  script->default_latency = 10ms;
  script->connect_latency = 5ms;
  auto pool = start(make_config(0, 4));
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 0; i < 50; ++i)
    qs.push_back(ask<query_result>(pool, query_atom::value,
                                   statement{"SELECT $1::int", {i}}));
  sched.run();
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connecting, 4u);
  CAF_CHECK_EQUAL(st.waiting, 50u);
  for (int round = 0; round < 200; ++round) {
    advance_time(1ms);
    sched.run();
    CAF_CHECK_LESS_OR_EQUAL(stats(pool).total, 4u);
  }
  CAF_CHECK_LESS_OR_EQUAL(script->max_open, 4);
  CAF_CHECK_EQUAL(script->created, 4);
  for (auto& q : qs)
    CAF_CHECK(q->ok());
  st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 4u);
  CAF_CHECK_EQUAL(st.acquired, 50u);
}

// The pool opens min_size connections at start and grows on demand only.
CAF_TEST(min_size at start and growth on demand) {
  auto pool = start(make_config(2, 5));
  CAF_CHECK_EQUAL(script->connected, 2);
  CAF_CHECK_EQUAL(stats(pool).idle, 2u);
  std::vector<outcome_ptr<lease>> ls;
  for (int i = 0; i < 3; ++i)
    ls.push_back(ask<lease>(pool, acquire_atom::value, caf::timespan{1s}));
  sched.run();
  for (auto& l : ls)
    CAF_CHECK(l->ok());
  CAF_CHECK_EQUAL(script->connected, 3);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 3u);
  CAF_CHECK_EQUAL(st.leased, 3u);
  CAF_CHECK_EQUAL(st.connections_created, 3u);
}

// When connects fail and no connection is open, waiters get the connect
// error at once (here: authentication), not a timeout at their deadline:
// the very error the connect produced (the fake's message names its
// connection), with no virtual time passing.
CAF_TEST(connect errors reach waiters quickly) {
  script->connect_error = make_error(pool_errc::auth_failed,
                                     "password authentication failed", "28P01");
  auto pool = start(make_config(0, 2));
  auto t0 = now();
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::auth_failed));
  CAF_CHECK_EQUAL(now(), t0);
  CAF_REQUIRE_EQUAL(script->connect_errors.size(), 1u);
  CAF_CHECK_EQUAL(describe(q->err), describe(script->connect_errors.back()));
  CAF_CHECK_EQUAL(sqlstate(q->err), "28P01");
  auto st = stats(pool);
  CAF_CHECK_GREATER_OR_EQUAL(st.connect_failures, 1u);
  CAF_CHECK_EQUAL(st.total, 0u);
}

// A bounded queue rejects the request beyond max_waiters at once.
CAF_TEST(queue full is rejected at once) {
  auto cfg = make_config(1, 1);
  cfg.max_waiters = 2;
  auto pool = start(cfg);
  auto holder = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  auto w1 = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  auto w2 = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  auto w3 = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_CHECK_EQUAL(w1->answers, 0);
  CAF_CHECK_EQUAL(w2->answers, 0);
  CAF_CHECK(w3->failed_with(pool_errc::queue_full));
  CAF_CHECK_EQUAL(stats(pool).rejected, 1u);
}

// wait_time_total sums the waits of the requests that got a connection, in
// virtual time: a lease served at once adds nothing, a query that waited 3 s
// for the release adds 3 s, an acquire that timed out adds nothing.
CAF_TEST(wait_time_total sums the waits of served requests) {
  auto cfg = make_config(1, 1);
  cfg.acquire_timeout = 10s;
  cfg.validate_after_idle = caf::timespan{0};
  auto pool = start(cfg);
  auto holder = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(holder->ok());
  CAF_CHECK_EQUAL(stats(pool).wait_time_total, caf::timespan{0});
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  auto gives_up = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  advance(3s);
  CAF_CHECK(gives_up->failed_with(pool_errc::acquire_timeout));
  CAF_CHECK_EQUAL(q->answers, 0);
  CAF_CHECK_EQUAL(stats(pool).wait_time_total, caf::timespan{0});
  auto r = ask<caf::ok_atom>(pool, release_atom::value, holder->value->id);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK(q->ok());
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.acquired, 2u);
  CAF_CHECK_EQUAL(st.wait_time_total, caf::timespan{3s});
  // One more, served at once, adds nothing.
  auto q2 = ask<query_result>(pool, query_atom::value, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK(q2->ok());
  st = stats(pool);
  CAF_CHECK_EQUAL(st.acquired, 3u);
  CAF_CHECK_EQUAL(st.wait_time_total, caf::timespan{3s});
}

CAF_TEST_FIXTURE_SCOPE_END()
