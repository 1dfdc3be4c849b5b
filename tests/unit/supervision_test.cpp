#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE supervision
#include <algorithm>

#include "fixture.hpp"
#include "manager.hpp"

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

  /// The delays between the end of each failed connect in `s` and the start
  /// of the next attempt, exact (record them with `advance_exact`).
  static std::vector<caf::timespan> delays(const fake_script& s) {
    std::vector<caf::timespan> result;
    for (size_t i = 1; i < s.connects.size(); ++i) {
      auto& prev = s.connects[i - 1];
      if (!prev.finished || prev.ok)
        CAF_FAIL("connect " << i << " did not fail before the next began");
      result.push_back(s.connects[i].started - prev.ended);
    }
    return result;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(supervision_tests, supervision_fixture)

// Reconnects back off exponentially with jitter: the n-th delay lies between
// half and all of min(backoff_min * 2^(n-1), backoff_max). Jitter means the
// delays are drawn, not fixed: they are not all the un-jittered bound, and a
// second pool failing the same way (its own fake server) waits different
// delays, so pools that lost the same server do not reconnect in lockstep.
// Times are exact (advance_exact).
CAF_TEST(reconnects back off exponentially with jitter) {
  auto pool = start(failing_config());
  auto script2 = std::make_shared<fake_script>();
  script2->connect_error = script->connect_error;
  auto cfg2 = failing_config();
  cfg2.connection_backend = std::make_shared<fake_backend>(script2);
  auto pool2 = start(cfg2);
  advance_exact(8s);
  auto d1 = delays(*script);
  auto d2 = delays(*script2);
  CAF_REQUIRE_GREATER_OR_EQUAL(d1.size(), 6u);
  CAF_REQUIRE_GREATER_OR_EQUAL(d2.size(), 6u);
  auto check_bounds = [](const std::vector<caf::timespan>& ds) {
    caf::timespan cap = 100ms;
    int at_cap = 0;
    for (size_t i = 0; i < ds.size(); ++i) {
      CAF_MESSAGE(
        "attempt "
        << i + 2 << " after "
        << std::chrono::duration_cast<std::chrono::microseconds>(ds[i]).count()
        << " us (cap " << cap.count() / 1000000 << " ms)");
      CAF_CHECK_GREATER_OR_EQUAL(ds[i], cap / 2);
      CAF_CHECK_LESS_OR_EQUAL(ds[i], cap);
      if (ds[i] == cap)
        ++at_cap;
      cap = std::min<caf::timespan>(cap * 2, 1s);
    }
    return at_cap;
  };
  CAF_CHECK_LESS(check_bounds(d1), static_cast<int>(d1.size()));
  CAF_CHECK_LESS(check_bounds(d2), static_cast<int>(d2.size()));
  auto n = std::min(d1.size(), d2.size());
  CAF_CHECK(!std::equal(d1.begin(), d1.begin() + n, d2.begin()));
  CAF_CHECK_EQUAL(script->open, 0);
  CAF_CHECK_EQUAL(stats(pool).connect_failures, script->connects.size());
  CAF_CHECK_EQUAL(stats(pool2).connect_failures, script2->connects.size());
}

// After a failure, reconnects go one at a time even while the pool wants
// more connections: the fake counts the connects under way, and the test
// sends requests (raising the pool's demand, which makes the supervisor
// reconsider) while each attempt is under way. Before the first failure
// the same demand opens connections in parallel, which shows that the count
// does see concurrency when there is some.
CAF_TEST(reconnects make one attempt at a time) {
  script->connect_latency = 50ms;
  auto cfg = failing_config();
  cfg.min_size = 1;
  cfg.max_size = 3;
  auto pool = start(cfg);
  std::vector<outcome_ptr<query_result>> qs;
  auto demand = [&] {
    for (int i = 0; i < 3; ++i)
      qs.push_back(
        ask<query_result>(pool, query_atom::value, statement{"SELECT 1"}));
    sched.run();
  };
  demand();
  CAF_CHECK_EQUAL(script->connecting, 3);
  advance_exact(50ms);
  CAF_REQUIRE_EQUAL(script->connects.size(), 3u);
  CAF_CHECK_EQUAL(script->max_connecting, 3);
  CAF_CHECK_EQUAL(script->connecting, 0);
  script->max_connecting = 0;
  size_t pressed = 0; // attempts during which requests arrived
  size_t seen = script->connects.size();
  for (int step = 0; step < 600; ++step) {
    advance_exact(10ms);
    if (script->connecting > 0 && script->connects.size() > seen) {
      seen = script->connects.size();
      ++pressed;
      demand();
    }
  }
  // The loop may end while the attempt that the last requests pressed on is
  // still under way: let it finish (and fail) before judging the waiters.
  for (int step = 0; script->connecting > 0 && step < 100; ++step)
    advance_exact(10ms);
  CAF_REQUIRE_EQUAL(script->connecting, 0);
  CAF_CHECK_GREATER_OR_EQUAL(pressed, 4u);
  CAF_CHECK_EQUAL(script->max_connecting, 1);
  for (size_t i = 3; i < script->connects.size(); ++i) {
    auto& prev = script->connects[i - 1];
    CAF_CHECK(prev.finished);
    CAF_CHECK_GREATER_OR_EQUAL(script->connects[i].started, prev.ended);
  }
  // Each waiter got the connect error of the attempt that failed (none
  // waited for its deadline).
  for (auto& q : qs)
    CAF_CHECK(q->failed_with(pool_errc::connect_failed));
  // Once the server is back, the pool fills up again.
  script->connect_error = caf::error{};
  advance_exact(3s);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(st.connect_failures, script->connect_errors.size());
}

// A connect that never completes is abandoned after connect_timeout (not
// before), counted as a failed connect with the error "no connection within
// connect_timeout" (which waiters then get), and retried after the backoff.
CAF_TEST(connect_timeout abandons a hung connect and retries) {
  script->connect_hang = true;
  auto cfg = make_config(1, 1);
  cfg.connect_timeout = 2s;
  cfg.breaker_threshold = 0;
  cfg.backoff_min = 100ms;
  cfg.backoff_max = 100ms;
  auto pool = start(cfg);
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_REQUIRE_EQUAL(script->connects.size(), 1u);
  advance(1900ms, 100ms);
  CAF_CHECK_EQUAL(q->answers, 0);
  CAF_CHECK_EQUAL(script->connects.size(), 1u);
  CAF_CHECK_EQUAL(stats(pool).connect_failures, 0u);
  advance(100ms, 100ms);
  CAF_CHECK(q->failed_with(pool_errc::connect_failed));
  CAF_CHECK_EQUAL(error_message(q->err),
                  "no connection within connect_timeout");
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connect_failures, 1u);
  CAF_CHECK_NOT_EQUAL(
    st.last_connect_error.find("no connection within connect_timeout"),
    std::string::npos);
  CAF_REQUIRE(script->connects[0].finished);
  CAF_CHECK(!script->connects[0].ok);
  CAF_CHECK_EQUAL(script->connects[0].ended - script->connects[0].started,
                  caf::timespan{2s});
  CAF_CHECK_EQUAL(script->closed, 1); // the hung attempt was closed
  // Retried after the backoff (50..100 ms); this time the server answers.
  script->connect_hang = false;
  advance_exact(200ms);
  CAF_REQUIRE_EQUAL(script->connects.size(), 2u);
  auto delay = script->connects[1].started - script->connects[0].ended;
  CAF_CHECK_GREATER_OR_EQUAL(delay, caf::timespan{50ms});
  CAF_CHECK_LESS_OR_EQUAL(delay, caf::timespan{100ms});
  CAF_CHECK(script->connects[1].ok);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  CAF_CHECK_EQUAL(script->connected, 1);
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

// A ping that never answers (the server froze) fails the health check after
// health_check_timeout, not before: the connection is replaced and
// health_check_failures counts it.
CAF_TEST(a health check that never answers times out) {
  auto cfg = make_config(2, 2);
  cfg.health_check_interval = 5s;
  cfg.health_check_timeout = 1s;
  cfg.validate_after_idle = caf::timespan{0};
  auto pool = start(cfg);
  script->stalled.insert(1);
  advance(5500ms, 100ms);
  // The ping was sent and hangs.
  CAF_REQUIRE_EQUAL(last_statement(1), "SELECT 1");
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.health_check_failures, 0u);
  CAF_CHECK_EQUAL(script->closed, 0);
  advance(1s, 100ms);
  st = stats(pool);
  CAF_CHECK_EQUAL(st.health_check_failures, 1u);
  CAF_CHECK_EQUAL(script->closed, 1);
  CAF_CHECK_EQUAL(script->wakers.count(1), 0u); // connection 1 is gone
  CAF_CHECK_EQUAL(script->created, 3);
  CAF_CHECK_EQUAL(st.idle, 2u);
  // The replacement serves queries.
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 5"});
  sched.run();
  CAF_CHECK(q->ok());
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

// idle_timeout closes only idle connections: leased ones held longer than
// idle_timeout stay open and keep working; the one idle connection above
// min_size in the same pool is closed (so the timer did run).
CAF_TEST(idle_timeout spares leased connections) {
  auto cfg = make_config(1, 3);
  cfg.idle_timeout = 10s;
  cfg.health_check_interval = caf::timespan{0};
  cfg.validate_after_idle = caf::timespan{0};
  auto pool = start(cfg);
  std::vector<outcome_ptr<lease>> ls;
  for (int i = 0; i < 3; ++i)
    ls.push_back(ask<lease>(pool, acquire_atom::value, caf::timespan{1s}));
  sched.run();
  for (auto& l : ls)
    CAF_REQUIRE(l->ok());
  auto r = ask<caf::ok_atom>(pool, release_atom::value, ls[2]->value->id);
  sched.run();
  CAF_REQUIRE(r->ok());
  advance(25s, 500ms);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_recycled, 1u);
  CAF_CHECK_EQUAL(st.leased, 2u);
  CAF_CHECK_EQUAL(st.total, 2u);
  CAF_CHECK_EQUAL(script->closed, 1);
  for (int i = 0; i < 2; ++i) {
    auto& l = *ls[i]->value;
    auto q = ask<query_result>(l.worker, query_atom::value, l.id,
                               statement{"SELECT " + std::to_string(i)});
    sched.run();
    CAF_CHECK(q->ok());
  }
}

// Eviction on the other fatal SQLSTATEs: class 08 (connection exception) and
// 57P02/57P03 (crash shutdown, cannot connect now) evict like 57P01; the
// caller gets connection_lost with the server's SQLSTATE, and the connection
// is replaced. 08P01 (a protocol violation by one statement) is the
// documented exception: query_failed, and the connection stays.
CAF_TEST(class 08 and 57P02 57P03 evict the connection) {
  auto pool = start(make_config(1, 1));
  int closed = 0;
  for (auto code : {"08000", "08003", "08006", "57P02", "57P03"}) {
    auto sql = std::string{"SELECT fatal_"} + code;
    script->rules[sql].error =
      make_error(pool_errc::query_failed, "fatal server error", code);
    auto q = ask<query_result>(pool, query_atom::value, statement{sql});
    sched.run();
    CAF_CHECK(q->failed_with(pool_errc::connection_lost));
    CAF_CHECK_EQUAL(sqlstate(q->err), code);
    CAF_CHECK_EQUAL(script->closed, ++closed);
    auto st = stats(pool);
    CAF_CHECK_EQUAL(st.idle, 1u);
    CAF_CHECK_EQUAL(st.connections_closed, static_cast<uint64_t>(closed));
  }
  script->rules["SELECT proto"].error =
    make_error(pool_errc::query_failed, "protocol violation", "08P01");
  auto q =
    ask<query_result>(pool, query_atom::value, statement{"SELECT proto"});
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(q->err), "08P01");
  CAF_CHECK_EQUAL(script->closed, closed);
  CAF_CHECK_EQUAL(script->created, closed + 1);
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

// Connections open and being opened never exceed max_size, at any step of
// the message flow: a worker tells the manager it is ready before the
// supervisor (told by the manager) stops counting it as connecting. The
// test steps the scheduler one message at a time and reads the manager's
// count after each, while the pool fills, loses a connection and refills.
CAF_TEST(open and connecting connections never exceed max_size) {
  script->connect_latency = 5ms;
  auto res = spawn_pool(sys, make_config(3, 3));
  CAF_REQUIRE(res);
  pools.push_back(*res);
  using manager_type = caf::stateful_actor<manager_state, manager_actor::base>;
  auto& st = deref<manager_type>(*res).state;
  size_t most = 0;
  size_t steps = 0;
  auto step_all = [&] {
    while (sched.try_run_once()) {
      ++steps;
      most = std::max(most, st.conns.size() + st.connecting());
    }
  };
  auto run_for = [&](caf::timespan total) {
    for (caf::timespan t{0}; t < total; t += 1ms) {
      advance_time(1ms);
      step_all();
    }
  };
  step_all();
  run_for(20ms);
  CAF_CHECK_EQUAL(st.conns.size(), 3u);
  CAF_CHECK_EQUAL(st.connecting(), 0u);
  CAF_CHECK_EQUAL(stats(*res).total, 3u);
  script->break_connection(2); // the server ends one session
  step_all();
  run_for(20ms);
  CAF_CHECK_EQUAL(script->created, 4); // replaced
  CAF_CHECK_EQUAL(st.conns.size(), 3u);
  CAF_CHECK_EQUAL(st.connecting(), 0u);
  CAF_CHECK_GREATER(steps, 20u);
  CAF_CHECK_EQUAL(most, 3u);
}

// A request routed to a connection that broke a moment earlier (before the
// manager heard of it) is served by another connection, not failed. The
// test proves the race happened: the request is seen in the mailbox of the
// broken connection's worker, behind the wake-up that tells the worker its
// connection broke, and the broken connection never ran it.
CAF_TEST(a request racing a connection loss is rerouted) {
  auto pool = start(make_config(2, 2));
  // Find the worker the pool hands out next (the idle set is a stack) and
  // its connection: lease it, ask it, release it (back on top).
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  auto who = ask<query_result>(l->value->worker, query_atom::value,
                               l->value->id, statement{"SELECT whoami"});
  sched.run();
  CAF_REQUIRE(who->ok());
  int victim = 0;
  for (int n = 1; n <= 2; ++n)
    if (last_statement(n) == "SELECT whoami")
      victim = n;
  CAF_REQUIRE_NOT_EQUAL(victim, 0);
  auto other = 3 - victim;
  auto worker = l->value->worker;
  auto r = ask<caf::ok_atom>(pool, release_atom::value, l->value->id);
  sched.run();
  CAF_REQUIRE(r->ok());
  // The race: the client's request is on its way to the manager when the
  // server closes the victim's connection.
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 7"});
  sched.run_once(); // the client sends its request
  script->break_connection(victim);
  CAF_REQUIRE(sched.prioritize(pool));
  sched.run_once(); // the manager routes the request
  // The victim's worker has the wake-up first, then the request.
  CAF_REQUIRE(sched.prioritize(worker));
  auto& w = sched.next_job<caf::abstract_actor>();
  auto head = w.peek_at_next_mailbox_element();
  CAF_REQUIRE(head != nullptr);
  CAF_CHECK(head->sender != caf::actor_cast<caf::strong_actor_ptr>(q->client));
  sched.run_once();
  CAF_REQUIRE(sched.prioritize(worker));
  head = w.peek_at_next_mailbox_element();
  CAF_REQUIRE(head != nullptr);
  // Delegated by the manager: the sender is the client, the content holds
  // its statement.
  CAF_CHECK(head->sender == caf::actor_cast<caf::strong_actor_ptr>(q->client));
  auto& content = head->content();
  bool has_statement = false;
  for (size_t i = 0; i < content.size(); ++i) {
    auto rtti = content.type(i);
    if (rtti.second != nullptr && *rtti.second == typeid(statement))
      has_statement =
        static_cast<const statement*>(content.get(i))->sql == "SELECT 7";
  }
  CAF_CHECK(has_statement);
  sched.run();
  CAF_CHECK(q->ok());
  if (!q->ok())
    CAF_MESSAGE("answer: " << describe(q->err));
  auto victim_log = script->log_of(victim);
  CAF_CHECK_EQUAL(std::count(victim_log.begin(), victim_log.end(), "SELECT 7"),
                  0);
  CAF_CHECK_EQUAL(last_statement(other), "SELECT 7");
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 2u);
  CAF_CHECK_EQUAL(st.idle, 2u);
  CAF_CHECK_EQUAL(st.connections_closed, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
