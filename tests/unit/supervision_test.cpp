#define CAF_SUITE supervision
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct supervision_fixture : fixture {
  /// A config whose connects fail (breaker off) with backoff 100 ms .. 1 s.
  pool_config failing_config() {
    script->connect_error =
      make_error(pool_errc::connect_failed, "connection refused");
    auto cfg = make_config(1, 2);
    cfg.breaker_threshold = 0;
    cfg.backoff_min = 100ms;
    cfg.backoff_max = 1s;
    return cfg;
  }

  /// Records at which virtual times (ms since `t0`) connects were attempted.
  std::vector<int64_t> attempts(caf::timespan total) {
    std::vector<int64_t> result;
    int seen = script->created;
    for (caf::timespan t{0}; t < total; t += 5ms) {
      advance(5ms, 5ms);
      if (script->created > seen) {
        seen = script->created;
        result.push_back(
          std::chrono::duration_cast<std::chrono::milliseconds>(t + 5ms)
            .count());
      }
    }
    return result;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(supervision_tests, supervision_fixture)

// Reconnects back off exponentially with jitter: each delay lies between half
// and all of min(backoff_min * 2^(n-1), backoff_max); one attempt at a time.
CAF_TEST(reconnects back off exponentially with jitter) {
  auto pool = start(failing_config());
  CAF_CHECK_EQUAL(script->created, 1);
  auto at = attempts(6s);
  CAF_REQUIRE_GREATER_OR_EQUAL(at.size(), 5u);
  int64_t prev = 0;
  int64_t cap = 100;
  for (size_t i = 0; i < at.size(); ++i) {
    auto gap = at[i] - prev;
    CAF_MESSAGE("attempt " << i + 2 << " after " << gap << " ms (cap " << cap
                           << " ms)");
    CAF_CHECK_GREATER_OR_EQUAL(gap, cap / 2);
    CAF_CHECK_LESS_OR_EQUAL(gap, cap + 5); // +5: the sampling step
    prev = at[i];
    cap = std::min<int64_t>(cap * 2, 1000);
  }
  CAF_CHECK_EQUAL(script->open, 0);
  CAF_CHECK_GREATER_OR_EQUAL(stats(pool).connect_failures, at.size());
}

// A success resets the backoff; the pool then fills up to min_size.
CAF_TEST(a successful connect resets the backoff) {
  auto cfg = failing_config();
  cfg.min_size = 2;
  auto pool = start(cfg);
  advance(2s);
  script->connect_error = caf::error{};
  advance(1s + 10ms);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 2u);
  CAF_CHECK_EQUAL(st.idle, 2u);
  CAF_CHECK_EQUAL(st.last_connect_error, "");
}

// A connection the server closes while idle is noticed at once (the backend
// wakes the worker) and replaced.
CAF_TEST(an idle connection closed by the server is replaced) {
  auto pool = start(make_config(2, 2));
  script->break_connection(1);
  sched.run();
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_closed, 1u);
  CAF_CHECK_EQUAL(st.idle, 2u);
  CAF_CHECK_EQUAL(script->created, 3);
}

// Periodic health checks find a silently dead idle connection and replace
// it; healthy ones stay.
CAF_TEST(health checks replace dead idle connections) {
  auto cfg = make_config(2, 2);
  cfg.health_check_interval = 5s;
  cfg.validate_after_idle = caf::timespan{0};
  auto pool = start(cfg);
  script->broken.insert(1); // dead, but nobody told the worker
  advance(7s, 100ms);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.health_check_failures, 1u);
  CAF_CHECK_EQUAL(st.idle, 2u);
  CAF_CHECK_EQUAL(script->created, 3);
  auto pings = 0;
  for (auto& line : script->log)
    if (line.find("SELECT 1") != std::string::npos)
      ++pings;
  CAF_CHECK_GREATER_OR_EQUAL(pings, 2);
}

// A connection idle longer than validate_after_idle is pinged before it is
// handed out; if it is dead, the request goes to another connection instead
// of failing.
CAF_TEST(validation before handout reroutes the request) {
  auto cfg = make_config(1, 2);
  cfg.health_check_interval = caf::timespan{0};
  cfg.validate_after_idle = 1s;
  auto pool = start(cfg);
  script->broken.insert(1);
  advance(2s, 100ms);
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 42"});
  sched.run();
  CAF_CHECK(q->ok());
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.health_check_failures, 1u);
  auto log = script->log_of(2);
  CAF_REQUIRE(!log.empty());
  CAF_CHECK_EQUAL(log.back(), "SELECT 42");
}

// Connections past max_lifetime are closed once free and replaced; a leased
// one is closed only after its release.
CAF_TEST(connections are recycled after max_lifetime) {
  auto cfg = make_config(2, 2);
  cfg.max_lifetime = 10s;
  cfg.health_check_interval = caf::timespan{0};
  auto pool = start(cfg);
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  advance(11s, 100ms);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_recycled, 1u);
  CAF_CHECK_EQUAL(st.leased, 1u);
  CAF_CHECK_EQUAL(st.total, 2u);
  auto r = ask<caf::ok_atom>(pool, release_atom::value, l->value->id);
  sched.run();
  CAF_CHECK(r->ok());
  st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_recycled, 2u);
  CAF_CHECK_EQUAL(st.total, 2u);
  CAF_CHECK_EQUAL(st.idle, 2u);
  CAF_CHECK_EQUAL(script->created, 4);
}

// Lifetimes are jittered: connections opened together do not all expire at
// the same instant.
CAF_TEST(lifetimes are jittered) {
  auto cfg = make_config(8, 8);
  cfg.max_lifetime = 100s;
  cfg.health_check_interval = caf::timespan{0};
  auto pool = start(cfg);
  advance(89s, 1s);
  CAF_CHECK_EQUAL(stats(pool).connections_recycled, 0u);
  std::vector<uint64_t> seen;
  for (int i = 0; i < 12; ++i) {
    advance(1s, 100ms);
    seen.push_back(stats(pool).connections_recycled);
  }
  CAF_CHECK_EQUAL(seen.back(), 8u);
  // Spread over the window rather than all at one instant.
  auto distinct = std::set<uint64_t>(seen.begin(), seen.end()).size();
  CAF_CHECK_GREATER(distinct, 2u);
}

// Idle connections above min_size close after idle_timeout; min_size stay.
CAF_TEST(idle connections above min_size are closed) {
  script->default_latency = 100ms;
  auto cfg = make_config(1, 4);
  cfg.idle_timeout = 30s;
  cfg.health_check_interval = caf::timespan{0};
  auto pool = start(cfg);
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 0; i < 4; ++i)
    qs.push_back(
      ask<query_result>(pool, query_atom::value, statement{"SELECT 1"}));
  sched.run();
  advance(200ms);
  CAF_CHECK_EQUAL(stats(pool).idle, 4u);
  advance(29s, 1s);
  CAF_CHECK_EQUAL(stats(pool).idle, 4u);
  advance(2s, 100ms);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 1u);
  CAF_CHECK_EQUAL(st.connections_recycled, 3u);
}

// A fatal server error (57P01, admin shutdown) evicts the connection; the
// caller learns the connection was lost.
CAF_TEST(fatal server errors evict the connection) {
  script->rules["SELECT fatal"].error =
    make_error(pool_errc::query_failed,
               "terminating connection due to administrator "
               "command",
               "57P01");
  auto pool = start(make_config(1, 1));
  auto q =
    ask<query_result>(pool, query_atom::value, statement{"SELECT fatal"});
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::connection_lost));
  CAF_CHECK_EQUAL(sqlstate(q->err), "57P01");
  CAF_CHECK_EQUAL(script->closed, 1);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(supervision_race_tests, fixture)

// A request routed to a connection that broke a moment earlier (before the
// manager heard of it) is served by another connection, not failed.
CAF_TEST(a request racing a connection loss is rerouted) {
  auto pool = start(make_config(2, 2));
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 7"});
  sched.run_once();            // the client sends its request to the manager
  script->break_connection(2); // the worker of the most recently idle slot
  sched.run();
  CAF_CHECK(q->ok());
  if (!q->ok())
    CAF_MESSAGE("answer: " << describe(q->err));
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 2u);
  CAF_CHECK_EQUAL(st.idle, 2u);
}

CAF_TEST_FIXTURE_SCOPE_END()
