#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE pipeline
#include <algorithm>

#include "fixture.hpp"
#include "worker.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct pipeline_fixture : fixture {
  pipeline_fixture() { script->pipelining = true; }

  /// A pool of exactly `size` connections with the given pipeline depth.
  /// No validation pings, so the fake's log holds the clients' statements
  /// only.
  pool_config make_pipeline_config(size_t size, size_t depth) {
    auto cfg = make_config(size, size);
    cfg.pipeline_depth = depth;
    cfg.validate_after_idle = caf::timespan{0};
    return cfg;
  }

  /// "SELECT <n>" takes `latency` and returns one row with the cell "<n>".
  std::string select(int n, caf::timespan latency = 10ms) {
    auto sql = "SELECT " + std::to_string(n);
    auto& rule = script->rules[sql];
    rule.latency = latency;
    rule.result.columns.push_back(column{"n", 23});
    rule.result.cells.emplace_back(std::to_string(n));
    rule.result.command_tag = "SELECT 1";
    return sql;
  }

  outcome_ptr<query_result> query(const pool_actor& pool, std::string sql) {
    return ask<query_result>(pool, query_atom::value,
                             statement{std::move(sql)});
  }

  /// After "SELECT slow" was cancelled (late): lets it finish, so that the
  /// cancel hits "SELECT 2" (`next`), and checks that `next` ran again and
  /// got its row, once.
  void check_late_cancel_rerun(const outcome_ptr<query_result>& next) {
    advance(1s, 10ms);
    advance(100ms, 10ms);
    CAF_CHECK(got(next, 2));
    CAF_CHECK_EQUAL(next->answers, 1);
    auto log = script->log_of(1);
    CAF_CHECK_EQUAL(std::count(log.begin(), log.end(), "SELECT 2"), 2);
    check_no_misuse();
  }

  /// Whether `q` was answered exactly once with the row of "SELECT <n>".
  static bool got(const outcome_ptr<query_result>& q, int n) {
    return q->ok() && q->value->rows() == 1 &&
           q->value->at(0, 0) == std::to_string(n);
  }

  /// Statements in flight on connection `n` now.
  size_t in_flight(int n) const {
    auto i = script->in_flight.find(n);
    return i == script->in_flight.end() ? 0 : i->second;
  }

  /// The worker never broke the backend's contract.
  void check_no_misuse() {
    CAF_CHECK_EQUAL(script->misuse, 0);
    for (auto& what : script->misuse_log)
      CAF_MESSAGE("misuse: " << what);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(pipeline_tests, pipeline_fixture)

// -- the fake backend's pipeline on its own -----------------------------------

namespace {

/// One fake connection, driven by the test instead of a worker; its waker
/// points at a dummy actor that counts wake-ups.
struct fake_driver {
  std::shared_ptr<int> wakes = std::make_shared<int>(0);
  caf::actor dummy;
  std::unique_ptr<connection> conn;

  fake_driver(pipeline_fixture& fix) {
    auto wakes = this->wakes;
    dummy = fix.sys.spawn([wakes](caf::event_based_actor*) -> caf::behavior {
      return {[wakes](caf::atom_value) { ++*wakes; }};
    });
    fix.clients.push_back(dummy);
    pool_config cfg;
    conn = fake_backend{fix.script}.create(cfg, waker{dummy.address()});
    conn->connect();
    caf::error err;
    if (conn->poll_connect(err) != poll_status::ready || err)
      CAF_FAIL("fake connect failed");
  }

  /// Polls the pipeline: returns how many are still in flight and appends
  /// "<tag>:<first cell or SQLSTATE>" per finished statement to `out`.
  size_t poll(std::vector<std::string>& out) {
    std::vector<connection::tagged_result> done;
    auto n = conn->poll_pipeline(done);
    for (auto& r : done)
      out.push_back(
        std::to_string(r.tag) + ":" +
        (r.result ? r.result->at(0, 0) : "E" + sqlstate(r.result.error())));
    return n;
  }
};

} // namespace

// Statements run one after another; each finishes with its own rule's result
// or error; the connection is active until the pipeline drained.
CAF_TEST(fake pipeline runs statements in order) {
  fake_driver d{*this};
  CAF_CHECK(d.conn->can_pipeline());
  auto s1 = select(1, 10ms);
  script->rules["SELECT 1/0"].latency = 20ms;
  script->rules["SELECT 1/0"].error =
    make_error(pool_errc::query_failed, "division by zero", "22012");
  auto s3 = select(3, 10ms);
  statement st1{s1}, st2{"SELECT 1/0"}, st3{s3};
  d.conn->submit(1, st1);
  d.conn->submit(2, st2);
  d.conn->submit(3, st3);
  CAF_CHECK_EQUAL(script->max_in_flight, 3u);
  CAF_CHECK_EQUAL(script->max_in_flight_of[1], 3u);
  CAF_CHECK(d.conn->transaction_status() == tx_status::active);
  std::vector<std::string> got;
  advance_time(9ms);
  CAF_CHECK_EQUAL(d.poll(got), 3u);
  advance_time(1ms);
  CAF_CHECK_EQUAL(d.poll(got), 2u);
  advance_time(19ms);
  CAF_CHECK_EQUAL(d.poll(got), 2u);
  advance_time(1ms);
  CAF_CHECK_EQUAL(d.poll(got), 1u);
  // The third started at 30 ms, when the second finished.
  advance_time(9ms);
  CAF_CHECK_EQUAL(d.poll(got), 1u);
  advance_time(1ms);
  CAF_CHECK_EQUAL(d.poll(got), 0u);
  std::vector<std::string> want{"1:1", "2:E22012", "3:3"};
  CAF_CHECK_EQUAL(got, want);
  CAF_CHECK(d.conn->transaction_status() == tx_status::idle);
  CAF_CHECK_EQUAL(script->in_flight.count(1), 0u);
  std::vector<std::string> log{"SELECT 1", "SELECT 1/0", "SELECT 3"};
  CAF_CHECK_EQUAL(script->log_of(1), log);
  sched.run();
  CAF_CHECK_GREATER_OR_EQUAL(*d.wakes, 3);
  CAF_CHECK_EQUAL(script->misuse, 0);
  // A statement submitted into an empty pipeline starts at once.
  d.conn->submit(4, st3);
  advance_time(10ms);
  CAF_CHECK_EQUAL(d.poll(got), 0u);
  CAF_CHECK_EQUAL(got.back(), "4:3");
}

// A hang blocks everything behind it until a cancel fails it with 57014;
// the rest then runs. A broken connection fails everything in flight.
CAF_TEST(fake pipeline cancel and connection loss) {
  fake_driver d{*this};
  script->rules["SELECT pg_sleep(10)"].hang = true;
  auto s2 = select(2, 10ms);
  statement slow{"SELECT pg_sleep(10)"}, st2{s2};
  d.conn->submit(1, slow);
  d.conn->submit(2, st2);
  std::vector<std::string> got;
  advance_time(1s);
  CAF_CHECK_EQUAL(d.poll(got), 2u);
  d.conn->cancel();
  CAF_CHECK_EQUAL(script->cancels, 1);
  CAF_CHECK_EQUAL(d.poll(got), 1u);
  advance_time(10ms);
  CAF_CHECK_EQUAL(d.poll(got), 0u);
  std::vector<std::string> want{"1:E57014", "2:2"};
  CAF_CHECK_EQUAL(got, want);
  // A cancel with nothing running hits nothing.
  d.conn->submit(3, st2);
  advance_time(10ms);
  d.conn->cancel();
  CAF_CHECK_EQUAL(d.poll(got), 0u);
  CAF_CHECK_EQUAL(got.back(), "3:2");
  // Loss.
  got.clear();
  d.conn->submit(4, st2);
  d.conn->submit(5, slow);
  d.conn->submit(6, st2);
  script->break_connection(1);
  CAF_CHECK_EQUAL(d.poll(got), 0u);
  std::vector<std::string> lost{"4:E57P01", "5:E57P01", "6:E57P01"};
  CAF_CHECK_EQUAL(got, lost);
  CAF_CHECK(d.conn->check_idle());
  CAF_CHECK_EQUAL(script->misuse, 0);
}

// execute() while statements are in flight, and submit() of a statement that
// may not be pipelined, are contract violations: answered with
// invalid_request and counted.
CAF_TEST(fake pipeline counts misuse) {
  fake_driver d{*this};
  auto s1 = select(1, 10ms);
  statement st1{s1}, set{"SET x = 1"};
  d.conn->submit(1, st1);
  d.conn->execute(set);
  CAF_CHECK_EQUAL(script->misuse, 1);
  caf::expected<query_result> res{query_result{}};
  CAF_CHECK(d.conn->poll_result(res) == poll_status::ready);
  CAF_CHECK(!res && is(res.error(), pool_errc::invalid_request));
  std::vector<std::string> got;
  advance_time(10ms);
  CAF_CHECK_EQUAL(d.poll(got), 0u);
  d.conn->submit(2, set);
  CAF_CHECK_EQUAL(script->misuse, 2);
  CAF_CHECK_EQUAL(d.poll(got), 0u);
  CAF_CHECK_EQUAL(got.back(), "2:E");
  CAF_CHECK_EQUAL(script->misuse_log.size(), 2u);
  script->misuse = 0; // expected here
  script->misuse_log.clear();
}

// -- the pool on a pipelining backend -----------------------------------------

// With one connection busy, concurrent pooled queries from different clients
// are pipelined on it up to pipeline_depth; the next one waits until one
// finishes. Every client gets its own statement's result.
CAF_TEST(concurrent queries share one connection up to pipeline_depth) {
  auto pool = start(make_pipeline_config(1, 4));
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 4; ++i)
    qs.push_back(query(pool, select(i)));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 4u);
  CAF_CHECK_EQUAL(script->max_in_flight, 4u);
  CAF_CHECK_EQUAL(script->submitted, 4);
  auto fifth = query(pool, select(5));
  sched.run();
  CAF_CHECK_EQUAL(fifth->answers, 0);
  CAF_CHECK_EQUAL(stats(pool).waiting, 1u);
  CAF_CHECK_EQUAL(script->max_in_flight, 4u);
  // The first finishes at 10 ms, the fifth takes its place.
  advance(10ms, 1ms);
  CAF_CHECK(got(qs[0], 1));
  for (int i = 1; i < 4; ++i)
    CAF_CHECK_EQUAL(qs[i]->answers, 0);
  CAF_CHECK_EQUAL(in_flight(1), 4u);
  CAF_CHECK_EQUAL(script->max_in_flight, 4u);
  advance(100ms);
  for (int i = 0; i < 4; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  CAF_CHECK(got(fifth, 5));
  CAF_CHECK_EQUAL(script->max_in_flight, 4u);
  CAF_CHECK_EQUAL(script->max_in_flight_of[1], 4u);
  CAF_CHECK_EQUAL(in_flight(1), 0u);
  CAF_CHECK_EQUAL(script->created, 1);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(st.waiting, 0u);
  CAF_CHECK_EQUAL(st.acquired, 5u);
  // The second to fifth joined the busy connection's pipeline.
  CAF_CHECK_EQUAL(st.pipelined, 4u);
  check_no_misuse();
}

// While another connection is busy (here: leased), queries that reach a
// worker one behind the other are held back by the connection until the
// worker has submitted the last of them (one transmission, one server
// wake-up); a query that arrives alone is sent at once. The fake starts a
// held statement only at the release, so a missing release would leave the
// queries unanswered.
CAF_TEST(queries that reach a worker together are sent together) {
  auto pool = start(make_pipeline_config(2, 4));
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{10s});
  sched.run();
  CAF_REQUIRE(l->ok());
  auto lone = query(pool, select(0));
  sched.run();
  CAF_CHECK_EQUAL(script->holds, 0);
  advance(100ms);
  CAF_CHECK(got(lone, 0));
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 3; ++i)
    qs.push_back(query(pool, select(i)));
  sched.run();
  CAF_CHECK_EQUAL(script->holds, 1);
  CAF_CHECK_EQUAL(script->releases, 1);
  CAF_CHECK_EQUAL(script->submitted_held, 3);
  advance(100ms);
  for (int i = 0; i < 3; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  check_no_misuse();
}

// While a connection of the pool is idle, nothing is held: the server has
// no other work, and a held query would only wait.
CAF_TEST(queries are not held while a connection is idle) {
  auto pool = start(make_pipeline_config(2, 4));
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 3; ++i)
    qs.push_back(query(pool, select(i)));
  sched.run();
  // All three joined one connection's pipeline (fill_pipelines); the other
  // stayed idle.
  CAF_CHECK_EQUAL(script->max_in_flight, 3u);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  CAF_CHECK_EQUAL(script->holds, 0);
  CAF_CHECK_EQUAL(script->submitted_held, 0);
  advance(100ms);
  for (int i = 0; i < 3; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  check_no_misuse();
}

// With fill_pipelines off, pipelined queries take idle connections first,
// then go to the least loaded busy connection: with two connections, four
// concurrent queries run two on each (not three on the first); with 2 x
// pipeline_depth, both connections carry a full pipeline at once. Every
// client gets its own result.
CAF_TEST(pipelining spreads over several connections) {
  auto cfg = make_pipeline_config(2, 4);
  cfg.fill_pipelines = false;
  auto pool = start(cfg);
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 4; ++i)
    qs.push_back(query(pool, select(i, 50ms)));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 2u);
  CAF_CHECK_EQUAL(in_flight(2), 2u);
  for (int i = 5; i <= 8; ++i)
    qs.push_back(query(pool, select(i, 50ms)));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 4u);
  CAF_CHECK_EQUAL(in_flight(2), 4u);
  CAF_CHECK_EQUAL(stats(pool).waiting, 0u);
  advance(500ms);
  for (int i = 0; i < 8; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  CAF_CHECK_EQUAL(script->max_in_flight_of[1], 4u);
  CAF_CHECK_EQUAL(script->max_in_flight_of[2], 4u);
  CAF_CHECK_EQUAL(script->log_of(1).size(), 4u);
  CAF_CHECK_EQUAL(script->log_of(2).size(), 4u);
  CAF_CHECK_EQUAL(script->created, 2);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.pipelined, 6u);
  CAF_CHECK_EQUAL(st.idle, 2u);
  check_no_misuse();
}

// With fill_pipelines (the default), concurrent queries fill one
// connection's pipeline before they take the idle one: four on two
// connections all run on the first, the fifth and sixth on the second. The
// second connection stays idle until the first is full.
CAF_TEST(pipelines fill before an idle connection is taken) {
  auto cfg = make_pipeline_config(2, 4);
  CAF_REQUIRE(cfg.fill_pipelines);
  auto pool = start(cfg);
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 4; ++i)
    qs.push_back(query(pool, select(i, 50ms)));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1) + in_flight(2), 4u);
  CAF_CHECK(in_flight(1) == 4u || in_flight(2) == 4u);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  for (int i = 5; i <= 6; ++i)
    qs.push_back(query(pool, select(i, 50ms)));
  sched.run();
  size_t a = in_flight(1);
  size_t b = in_flight(2);
  CAF_CHECK_EQUAL(a + b, 6u);
  CAF_CHECK_EQUAL(std::min(a, b), 2u);
  CAF_CHECK_EQUAL(stats(pool).waiting, 0u);
  advance(500ms);
  for (int i = 0; i < 6; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  CAF_CHECK_EQUAL(script->created, 2);
  auto st = stats(pool);
  // All but the first on each connection joined a busy pipeline.
  CAF_CHECK_EQUAL(st.pipelined, 4u);
  CAF_CHECK_EQUAL(st.idle, 2u);
  check_no_misuse();
}

// One failing statement among four pipelined ones fails only its own
// request, with its SQLSTATE; the others get their results and the
// connection stays.
CAF_TEST(a failing pipelined statement fails only its request) {
  script->rules["SELECT 1/0"].latency = 10ms;
  script->rules["SELECT 1/0"].error =
    make_error(pool_errc::query_failed, "division by zero", "22012");
  auto pool = start(make_pipeline_config(1, 4));
  auto q1 = query(pool, select(1));
  auto bad = query(pool, "SELECT 1/0");
  auto q3 = query(pool, select(3));
  auto q4 = query(pool, select(4));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 4u);
  CAF_CHECK_EQUAL(stats(pool).pipelined, 3u);
  advance(100ms);
  CAF_CHECK_EQUAL(script->max_in_flight, 4u);
  CAF_CHECK(got(q1, 1));
  CAF_CHECK(bad->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(bad->err), "22012");
  CAF_CHECK(got(q3, 3));
  CAF_CHECK(got(q4, 4));
  CAF_CHECK_EQUAL(script->created, 1);
  auto next = query(pool, select(5));
  sched.run();
  advance(20ms);
  CAF_CHECK(got(next, 5));
  CAF_CHECK_EQUAL(script->created, 1);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  check_no_misuse();
}

// A statement that is not plain DML runs alone: only after the pipeline
// drained, and nothing is pipelined while it runs. Requests behind it stay
// in FIFO order.
CAF_TEST(a SET statement never shares the pipeline) {
  script->rules["SET x = 1"].latency = 50ms;
  auto pool = start(make_pipeline_config(1, 4));
  auto q1 = query(pool, select(1));
  auto q2 = query(pool, select(2));
  auto set = query(pool, "SET x = 1");
  auto q3 = query(pool, select(3));
  auto q4 = query(pool, select(4));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 2u);
  CAF_CHECK_GREATER(stats(pool).pipelined, 0u);
  CAF_CHECK_EQUAL(script->max_in_flight, 2u);
  std::vector<std::string> first_two{"SELECT 1", "SELECT 2"};
  CAF_CHECK_EQUAL(script->log_of(1), first_two);
  // SELECT 1 and 2 end at 20 ms; SET then runs alone for 50 ms.
  advance(40ms, 1ms);
  CAF_CHECK(got(q1, 1));
  CAF_CHECK(got(q2, 2));
  CAF_CHECK_EQUAL(set->answers, 0);
  CAF_CHECK_EQUAL(last_statement(1), "SET x = 1");
  CAF_CHECK_EQUAL(in_flight(1), 0u);
  CAF_CHECK_EQUAL(q3->answers, 0);
  CAF_CHECK_EQUAL(q4->answers, 0);
  advance(200ms);
  CAF_CHECK(set->ok());
  CAF_CHECK(got(q3, 3));
  CAF_CHECK(got(q4, 4));
  std::vector<std::string> want{"SELECT 1", "SELECT 2", "SET x = 1", "SELECT 3",
                                "SELECT 4"};
  CAF_CHECK_EQUAL(script->log_of(1), want);
  CAF_CHECK_EQUAL(script->max_in_flight, 2u);
  check_no_misuse();
}

// pipeline_depth = 1 turns pipelining off: concurrent queries run one after
// another.
CAF_TEST(pipeline depth 1 runs one statement at a time) {
  auto pool = start(make_pipeline_config(1, 1));
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 4; ++i)
    qs.push_back(query(pool, select(i)));
  sched.run();
  CAF_CHECK_LESS_OR_EQUAL(in_flight(1), 1u);
  CAF_CHECK_EQUAL(stats(pool).waiting, 3u);
  advance(15ms, 1ms);
  CAF_CHECK(got(qs[0], 1));
  for (int i = 1; i < 4; ++i)
    CAF_CHECK_EQUAL(qs[i]->answers, 0);
  advance(100ms);
  for (int i = 0; i < 4; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  CAF_CHECK_LESS_OR_EQUAL(script->max_in_flight, 1u);
  check_no_misuse();
}

// A worker whose connection cannot pipeline announces capacity 1: with
// pipeline_depth 4, concurrent queries still run one at a time on it, never
// through the backend's pipeline, and none counts as pipelined.
CAF_TEST(a connection that cannot pipeline takes one statement at a time) {
  script->pipelining = false;
  auto pool = start(make_pipeline_config(1, 4));
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 3; ++i)
    qs.push_back(query(pool, select(i)));
  sched.run();
  CAF_CHECK_EQUAL(stats(pool).waiting, 2u);
  advance(100ms);
  for (int i = 0; i < 3; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  CAF_CHECK_EQUAL(script->submitted, 0);
  CAF_CHECK_EQUAL(stats(pool).pipelined, 0u);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  check_no_misuse();
}

// What the pool counts as demand when it decides to grow: every pipelined
// query (they share one connection, but each could use one of its own), and
// a transaction once (it takes the worker's whole capacity, but is one
// operation).
CAF_TEST(pipelined queries count as demand and a transaction counts once) {
  script->default_latency = 50ms;
  auto cfg = make_pipeline_config(1, 4);
  cfg.max_size = 4;
  auto pool = start(cfg);
  CAF_REQUIRE_EQUAL(script->created, 1);
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value,
                                          std::vector<statement>{"INSERT 1"});
  sched.run();
  advance(20ms);
  CAF_CHECK_EQUAL(script->created, 1); // one operation: no growth
  advance(200ms);
  CAF_REQUIRE(t->ok());
  // Three pipelined queries on the one connection: demand 3.
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 3; ++i)
    qs.push_back(query(pool, select(i, 500ms)));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 3u);
  advance(20ms);
  CAF_CHECK_EQUAL(script->created, 3);
  advance(2s); // the pipeline runs them one after another
  for (int i = 0; i < 3; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  check_no_misuse();
}

// No timer event per statement: the worker's watchdog is one timer armed
// for the earliest deadline (query_timeout, 30 s here), not a tick per
// statement. Counts every timer that fires in 10 s of sparse queries (one
// a second, each 10 ms: the fake backend's own wake-up fires once per
// statement) against 10 s of the same pool doing nothing (housekeeping).
CAF_TEST(statements cost no watchdog timer of their own) {
  auto cfg = make_pipeline_config(1, 4);
  cfg.health_check_interval = caf::timespan{0};
  auto pool = start(cfg);
  auto timers_fired = [&](caf::timespan total) {
    size_t n = 0;
    for (caf::timespan t{0}; t < total; t += 10ms) {
      n += sched.clock().advance_time(10ms);
      sched.run();
    }
    return n;
  };
  timers_fired(1s); // settle
  auto idle = timers_fired(10s);
  size_t busy = 0;
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 10; ++i) {
    qs.push_back(query(pool, select(i)));
    sched.run();
    busy += timers_fired(1s);
  }
  for (int i = 0; i < 10; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  CAF_MESSAGE("timers fired: idle " << idle << ", with 10 queries " << busy);
  // At most the fake's 10 wake-ups; housekeeping may differ by one tick
  // between the windows.
  CAF_CHECK_LESS_OR_EQUAL(busy, idle + 10 + 1);
  // Four pipelined at once: one wake-up each, still no watchdog timer.
  busy = 0;
  qs.clear();
  for (int i = 1; i <= 4; ++i)
    qs.push_back(query(pool, select(i)));
  sched.run();
  busy += timers_fired(10s);
  for (int i = 0; i < 4; ++i)
    CAF_CHECK(got(qs[i], i + 1));
  CAF_CHECK_LESS_OR_EQUAL(busy, idle + 4 + 1);
  CAF_CHECK_GREATER(stats(pool).pipelined, 0u);
  check_no_misuse();
}

// A lease is never shared: while it is held, pooled queries wait instead of
// being pipelined on the leased connection, and run after the release.
CAF_TEST(a leased connection takes no pipelined queries) {
  auto pool = start(make_pipeline_config(1, 4));
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{10s});
  sched.run();
  CAF_REQUIRE(l->ok());
  auto q1 = query(pool, select(1));
  auto q2 = query(pool, select(2));
  sched.run();
  CAF_CHECK_EQUAL(stats(pool).waiting, 2u);
  CAF_CHECK_EQUAL(in_flight(1), 0u);
  CAF_CHECK(script->log.empty());
  auto on_lease = ask<query_result>(l->value->worker, query_atom::value,
                                    l->value->id, statement{select(7)});
  sched.run();
  advance(20ms);
  CAF_CHECK(got(on_lease, 7));
  CAF_CHECK_EQUAL(q1->answers, 0);
  CAF_CHECK_EQUAL(q2->answers, 0);
  std::vector<std::string> leased{"SELECT 7"};
  CAF_CHECK_EQUAL(script->log_of(1), leased);
  auto r = ask<caf::ok_atom>(pool, release_atom::value, l->value->id);
  sched.run();
  CAF_CHECK(r->ok());
  advance(50ms);
  CAF_CHECK(got(q1, 1));
  CAF_CHECK(got(q2, 2));
  check_no_misuse();
}

// A transaction is never pipelined: queries sent while it runs wait for its
// COMMIT, and a transaction sent while queries are in flight waits until
// they drained.
CAF_TEST(transactions do not share the pipeline) {
  script->default_latency = 10ms;
  auto pool = start(make_pipeline_config(1, 4));
  std::vector<statement> sts{"INSERT 1", "INSERT 2"};
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  auto q1 = query(pool, select(1));
  auto q2 = query(pool, select(2));
  sched.run();
  // BEGIN, INSERT 1, INSERT 2, COMMIT take 10 ms each.
  advance(25ms, 1ms);
  CAF_CHECK_EQUAL(in_flight(1), 0u);
  CAF_CHECK_EQUAL(script->submitted, 0);
  CAF_CHECK_EQUAL(q1->answers, 0);
  advance(100ms);
  CAF_REQUIRE(t->ok());
  CAF_CHECK_EQUAL(t->value->size(), 2u);
  CAF_CHECK(got(q1, 1));
  CAF_CHECK(got(q2, 2));
  std::vector<std::string> want{"BEGIN",  "INSERT 1", "INSERT 2",
                                "COMMIT", "SELECT 1", "SELECT 2"};
  CAF_CHECK_EQUAL(script->log_of(1), want);
  // The other way round: queries in flight, then a transaction.
  auto q3 = query(pool, select(3));
  auto q4 = query(pool, select(4));
  sched.run();
  auto t2 = ask<std::vector<query_result>>(pool, transaction_atom::value,
                                           std::vector<statement>{"INSERT 3"});
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 2u);
  CAF_CHECK_GREATER(stats(pool).pipelined, 0u);
  advance(100ms);
  CAF_CHECK(got(q3, 3));
  CAF_CHECK(got(q4, 4));
  CAF_CHECK(t2->ok());
  auto log = script->log_of(1);
  std::vector<std::string> tail(log.size() >= 5 ? log.end() - 5 : log.begin(),
                                log.end());
  std::vector<std::string> want_tail{"SELECT 3", "SELECT 4", "BEGIN",
                                     "INSERT 3", "COMMIT"};
  CAF_CHECK_EQUAL(tail, want_tail);
  CAF_CHECK_EQUAL(script->max_in_flight, 2u);
  check_no_misuse();
}

// A pipelined statement that hangs past query_timeout is cancelled and its
// requester gets query_timeout; the statements queued behind it in the
// pipeline still run and are answered, each exactly once.
CAF_TEST(a hung pipelined statement times out alone) {
  script->rules["SELECT pg_sleep(10)"].hang = true;
  auto cfg = make_pipeline_config(1, 4);
  cfg.query_timeout = 1s;
  auto pool = start(cfg);
  auto slow = query(pool, "SELECT pg_sleep(10)");
  sched.run();
  // Behind the hung one, with deadlines well after its own.
  advance(500ms);
  auto q2 = query(pool, select(2));
  auto q3 = query(pool, select(3));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 3u);
  CAF_CHECK_GREATER(stats(pool).pipelined, 0u);
  advance(400ms);
  CAF_CHECK_EQUAL(slow->answers, 0);
  CAF_CHECK_EQUAL(q2->answers, 0);
  CAF_CHECK_EQUAL(q3->answers, 0);
  advance(400ms);
  CAF_CHECK(slow->failed_with(pool_errc::query_timeout));
  CAF_CHECK_EQUAL(script->cancels, 1);
  CAF_CHECK(got(q2, 2));
  CAF_CHECK(got(q3, 3));
  advance(5s, 100ms);
  CAF_CHECK_EQUAL(slow->answers, 1);
  CAF_CHECK_EQUAL(q2->answers, 1);
  CAF_CHECK_EQUAL(q3->answers, 1);
  CAF_CHECK_EQUAL(in_flight(1), 0u);
  auto next = query(pool, select(4));
  sched.run();
  advance(20ms);
  CAF_CHECK(got(next, 4));
  CAF_CHECK_EQUAL(script->created, 1);
  check_no_misuse();
}

// A connection that breaks with three statements in flight answers each of
// their requesters with connection_lost, once; the pool replaces the
// connection.
CAF_TEST(a broken connection fails every pipelined statement) {
  auto pool = start(make_pipeline_config(1, 4));
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 1; i <= 3; ++i)
    qs.push_back(query(pool, select(i, 100ms)));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 3u);
  CAF_CHECK_GREATER(stats(pool).pipelined, 0u);
  advance(10ms);
  script->break_connection(1);
  sched.run();
  for (auto& q : qs)
    CAF_CHECK(q->failed_with(pool_errc::connection_lost));
  advance(2s);
  for (auto& q : qs)
    CAF_CHECK_EQUAL(q->answers, 1);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_closed, 1u);
  CAF_CHECK_EQUAL(st.total, 1u);
  CAF_CHECK_EQUAL(script->created, 2);
  auto next = query(pool, select(4));
  sched.run();
  advance(20ms);
  CAF_CHECK(got(next, 4));
  CAF_CHECK_EQUAL(script->log_of(2).size(), 1u);
  check_no_misuse();
}

// The server ends the session on the first statement (57P01 arrives with
// its answer): the two behind it never started, so they run on the new
// connection instead of failing.
CAF_TEST(statements the server never started run elsewhere) {
  auto pool = start(make_pipeline_config(1, 4));
  auto fatal = select(1, 10ms);
  script->rules[fatal].error =
    make_error(pool_errc::connection_lost,
               "terminating connection due to administrator command", "57P01");
  std::vector<outcome_ptr<query_result>> qs;
  qs.push_back(query(pool, fatal));
  for (int i = 2; i <= 3; ++i)
    qs.push_back(query(pool, select(i, 10ms)));
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 3u);
  CAF_CHECK_GREATER(stats(pool).pipelined, 0u);
  advance(10ms);
  CAF_CHECK(qs[0]->failed_with(pool_errc::connection_lost));
  advance(2s);
  CAF_CHECK(got(qs[1], 2));
  CAF_CHECK(got(qs[2], 3));
  for (auto& q : qs)
    CAF_CHECK_EQUAL(q->answers, 1);
  CAF_CHECK_EQUAL(script->log_of(2).size(), 2u);
  check_no_misuse();
}

// A cancel that reaches the server after its statement finished hits the
// next one. That statement, an autocommit query of another client, was
// rolled back by the cancel: it runs again instead of failing with 57014 —
// and it is not shed, although the requests served meanwhile waited longer
// than queue_target (it was admitted before).
CAF_TEST(a late cancel does not fail the next client - request response) {
  script->pipelining = false;
  script->late_cancels = true;
  script->rules["SELECT slow"].latency = 2s;
  auto cfg = make_pipeline_config(1, 1);
  cfg.query_timeout = 1s;
  auto pool = start(cfg);
  auto slow = query(pool, "SELECT slow");
  sched.run();
  advance(100ms);
  auto next = query(pool, select(2)); // waits for the connection
  sched.run();
  advance(1s);
  CAF_CHECK(slow->failed_with(pool_errc::query_timeout));
  CAF_CHECK_EQUAL(script->cancels, 1);
  check_late_cancel_rerun(next);
}

CAF_TEST(a late cancel does not fail the next client - pipelined) {
  script->late_cancels = true;
  script->rules["SELECT slow"].latency = 4s;
  auto cfg = make_pipeline_config(1, 4);
  cfg.query_timeout = 3s;
  auto pool = start(cfg);
  auto slow = query(pool, "SELECT slow");
  sched.run();
  advance(2s);
  auto next = query(pool, select(2)); // in the pipeline behind it
  sched.run();
  CAF_CHECK_EQUAL(in_flight(1), 2u);
  CAF_CHECK_GREATER(stats(pool).pipelined, 0u);
  advance(1s, 10ms);
  CAF_CHECK(slow->failed_with(pool_errc::query_timeout));
  CAF_CHECK_EQUAL(script->cancels, 1);
  check_late_cancel_rerun(next);
}

CAF_TEST_FIXTURE_SCOPE_END()

// The worker's list of pipelined queries: entries stay at one address while
// in flight (the backend reads their statements) and are reused.
CAF_TEST(piped_list keeps entries in place and reuses their storage) {
  piped_list l;
  auto& a = l.push();
  a.tag = 1;
  a.op.stmt = statement{"SELECT 1"};
  auto& b = l.push();
  b.tag = 2;
  auto& c = l.push();
  c.tag = 3;
  const statement* stmt_a = &a.op.stmt;
  l.erase(l.find(2)); // from the middle
  CAF_REQUIRE_EQUAL(l.size(), 2u);
  CAF_CHECK_EQUAL(&(*l.begin())->op.stmt, stmt_a);
  CAF_CHECK_EQUAL(a.op.stmt.sql, "SELECT 1");
  CAF_CHECK_EQUAL((*(l.begin() + 1))->tag, 3u);
  CAF_CHECK(l.find(2) == l.end());
  auto& d = l.push(); // the storage of the erased entry, reset
  CAF_CHECK_EQUAL(&d, &b);
  CAF_CHECK_EQUAL(d.tag, 0u);
  CAF_CHECK(d.op.stmt.sql.empty());
  l.clear();
  CAF_CHECK(l.empty());
  auto& e = l.push();
  CAF_CHECK(&e == &a || &e == &c || &e == &d);
}
