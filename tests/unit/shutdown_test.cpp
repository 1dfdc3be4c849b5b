#undef CAF_SUITE // several suites share a unity build unit
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

// At the deadline, connections still leased are closed anyway: a query
// running on the lease then is answered with shutting_down (exactly that
// code), and the shutdown request is answered. A query sent to the lease's
// worker after that reaches no actor: a `request` gets CAF's own
// `request_receiver_down` (mapping it to the pool's shutting_down is the job
// of the client-side helper, issue 9 point 6).
CAF_TEST(shutdown closes leased connections at the deadline) {
  script->rules["SELECT pg_sleep(60)"].hang = true;
  auto pool = start(make_config(1, 1));
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  auto down = ask<caf::ok_atom>(pool, shutdown_atom::value, caf::timespan{2s});
  sched.run();
  auto running =
    ask<query_result>(l->value->worker, query_atom::value, l->value->id,
                      statement{"SELECT pg_sleep(60)"});
  sched.run();
  CAF_REQUIRE_EQUAL(last_statement(1), "SELECT pg_sleep(60)");
  advance_time(2s - 1ms);
  sched.run();
  CAF_CHECK_EQUAL(down->answers, 0);
  CAF_CHECK_EQUAL(running->answers, 0);
  advance_time(1ms);
  sched.run();
  CAF_CHECK(down->ok());
  CAF_CHECK_EQUAL(script->open, 0);
  CAF_CHECK(running->failed_with(pool_errc::shutting_down));
  auto late = ask_request<query_result>(l->value->worker, query_atom::value,
                                        l->value->id, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK_EQUAL(late->answers, 1);
  CAF_CHECK(late->err == caf::sec::request_receiver_down);
  CAF_CHECK_EQUAL(script->log_of(1).size(), 1u);
}

// Shutdown while pooled queries run: a query that finishes before the
// deadline is answered with its result; one still running at the deadline
// gets shutting_down; then the shutdown request is answered, every
// connection is closed and the pool actor exits.
CAF_TEST(shutdown while queries run) {
  script->rules["SELECT fast"].latency = 1s;
  script->rules["SELECT fast"].result.command_tag = "SELECT 1";
  script->rules["SELECT slow"].latency = 10s;
  auto pool = start(make_config(2, 2));
  auto exited = std::make_shared<caf::error>();
  auto seen_down = std::make_shared<int>(0);
  clients.push_back(sys.spawn([=](caf::event_based_actor* self) {
    self->monitor(pool);
    self->set_down_handler([=](caf::down_msg& dm) {
      ++*seen_down;
      *exited = dm.reason;
    });
    return caf::behavior{[](caf::ok_atom) {}};
  }));
  auto fast =
    ask<query_result>(pool, query_atom::value, statement{"SELECT fast"});
  auto slow =
    ask<query_result>(pool, query_atom::value, statement{"SELECT slow"});
  sched.run();
  CAF_REQUIRE_EQUAL(stats(pool).busy, 2u);
  auto down = ask<caf::ok_atom>(pool, shutdown_atom::value, caf::timespan{3s});
  sched.run();
  advance(1s);
  CAF_REQUIRE(fast->ok());
  CAF_CHECK_EQUAL(fast->value->command_tag, "SELECT 1");
  CAF_CHECK_EQUAL(script->closed, 1); // its connection closed once free
  advance(1990ms);
  CAF_CHECK_EQUAL(slow->answers, 0);
  CAF_CHECK_EQUAL(down->answers, 0);
  CAF_CHECK_EQUAL(*seen_down, 0);
  CAF_CHECK_EQUAL(script->open, 1);
  advance(10ms);
  CAF_CHECK(slow->failed_with(pool_errc::shutting_down));
  CAF_CHECK(down->ok());
  CAF_CHECK_EQUAL(script->open, 0);
  CAF_CHECK_EQUAL(script->closed, 2);
  CAF_CHECK_EQUAL(*seen_down, 1);
  CAF_CHECK(!*exited); // a normal exit
}

CAF_TEST_FIXTURE_SCOPE_END()
