#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE lease_safety
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

CAF_TEST_FIXTURE_SCOPE(lease_safety_tests, fixture)

// A lease held past leak_threshold is counted (and logged) once.
CAF_TEST(leaks are detected once) {
  auto cfg = make_config(1, 1);
  cfg.leak_threshold = 5s;
  auto pool = start(cfg);
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  advance(4s, 100ms);
  CAF_CHECK_EQUAL(stats(pool).leaks, 0u);
  advance(2s, 100ms);
  CAF_CHECK_EQUAL(stats(pool).leaks, 1u);
  advance(10s, 1s);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.leaks, 1u);
  CAF_CHECK_EQUAL(st.leased, 1u); // detection only: the lease stays
}

// lease_timeout reclaims a lease by force: rolled back, the holder's later
// use gets invalid_lease, and the connection serves others.
CAF_TEST(lease timeout reclaims by force) {
  auto cfg = make_config(1, 1);
  cfg.lease_timeout = 10s;
  auto pool = start(cfg);
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  auto begin = ask<query_result>(l->value->worker, query_atom::value,
                                 l->value->id, statement{"BEGIN"});
  sched.run();
  CAF_CHECK(begin->ok());
  advance(11s, 100ms);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.leases_timed_out, 1u);
  CAF_CHECK_EQUAL(st.leased, 0u);
  CAF_CHECK_EQUAL(last_statement(1), "ROLLBACK");
  auto late = ask<query_result>(l->value->worker, query_atom::value,
                                l->value->id, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(late->failed_with(pool_errc::invalid_lease));
  auto other =
    ask<query_result>(pool, query_atom::value, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK(other->ok());
}

// The reset query runs after the rollback when a lease ends.
CAF_TEST(the reset query runs on release) {
  auto cfg = make_config(1, 1);
  cfg.reset_query = "DISCARD ALL";
  auto pool = start(cfg);
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  auto q = ask<query_result>(l->value->worker, query_atom::value, l->value->id,
                             statement{"BEGIN"});
  sched.run();
  auto r = ask<caf::ok_atom>(pool, release_atom::value, l->value->id);
  sched.run();
  CAF_CHECK(r->ok());
  std::vector<std::string> want{"BEGIN", "ROLLBACK", "DISCARD ALL"};
  CAF_CHECK_EQUAL(script->log_of(1), want);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
}

// A failing reset query means unknown session state: the connection is
// discarded and replaced.
CAF_TEST(a failing reset query discards the connection) {
  script->rules["DISCARD ALL"].error =
    make_error(pool_errc::query_failed, "nope", "XX000");
  auto cfg = make_config(1, 1);
  cfg.reset_query = "DISCARD ALL";
  auto pool = start(cfg);
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  auto r = ask<caf::ok_atom>(pool, release_atom::value, l->value->id);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK_EQUAL(script->closed, 1);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  CAF_CHECK_EQUAL(script->created, 2);
}

CAF_TEST_FIXTURE_SCOPE_END()
