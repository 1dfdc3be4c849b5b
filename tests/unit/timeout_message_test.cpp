#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE timeout_message
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

// Whether `text` contains `part`.
bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(timeout_message_tests, fixture)

// A request that times out is told why: how long it waited, the connections
// by state against max_size, the oldest lease's age and holder, the waiters.
CAF_TEST(acquire_timeout says the pool is leased out) {
  auto cfg = make_config(2, 2);
  cfg.acquire_timeout = 2s;
  auto pool = start(cfg);
  auto a = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  auto b = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(a->ok());
  CAF_REQUIRE(b->ok());
  advance_time(3s);
  sched.run();
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  auto w = ask<lease>(pool, acquire_atom::value, caf::timespan{4s});
  sched.run();
  advance_time(2s);
  sched.run();
  CAF_REQUIRE(q->failed_with(pool_errc::acquire_timeout));
  auto msg = error_message(q->err);
  CAF_MESSAGE("message: " << msg);
  CAF_CHECK(has(msg, "no connection within 2s"));
  CAF_CHECK(has(msg, "2 of max 2 connections leased"));
  CAF_CHECK(has(msg, "(oldest held 5.0 s by actor "));
  CAF_CHECK(has(msg, "0 busy, 0 idle, 0 connecting"));
  CAF_CHECK(has(msg, "2 requests waiting"));
  CAF_CHECK(!has(msg, "breaker"));
  // The acquire's own timeout is the one it names.
  advance_time(2s);
  sched.run();
  CAF_REQUIRE(w->failed_with(pool_errc::acquire_timeout));
  auto msg2 = error_message(w->err);
  CAF_MESSAGE("message: " << msg2);
  CAF_CHECK(has(msg2, "no connection within 4s"));
  CAF_CHECK(has(msg2, "(oldest held 7.0 s by actor "));
  CAF_CHECK(has(msg2, "1 request waiting"));
}

// With the circuit breaker open (and fail fast off) the waiter learns that
// too.
CAF_TEST(acquire_timeout names an open breaker) {
  script->connect_error = make_error(pool_errc::connect_failed, "refused");
  auto cfg = make_config(0, 1);
  cfg.breaker_threshold = 1;
  cfg.breaker_cooldown = 10s;
  cfg.breaker_fail_fast = false;
  cfg.acquire_timeout = 500ms;
  cfg.backoff_min = 10ms;
  cfg.backoff_max = 10ms;
  auto pool = start(cfg);
  auto q1 = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(q1->failed_with(pool_errc::connect_failed));
  CAF_REQUIRE_EQUAL(stats(pool).breaker, breaker_state::open);
  auto q2 = ask<query_result>(pool, query_atom::value, statement{"SELECT 2"});
  sched.run();
  advance_time(500ms);
  sched.run();
  CAF_REQUIRE(q2->failed_with(pool_errc::acquire_timeout));
  auto msg = error_message(q2->err);
  CAF_MESSAGE("message: " << msg);
  CAF_CHECK(has(msg, "no connection within 500ms"));
  CAF_CHECK(has(msg, "0 of max 1 connections leased"));
  CAF_CHECK(has(msg, "circuit breaker open"));
}

CAF_TEST_FIXTURE_SCOPE_END()
