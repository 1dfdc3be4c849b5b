#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE metrics_stats
#include "fixture.hpp"

#include "pool/health.hpp"

#include "query_timer.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

// The fields of pool_stats that the Prometheus collector exports: errors by
// SQLSTATE class, connections closed by reason, breaker transitions and the
// three histograms. Virtual time makes every duration exact.

namespace {

// The index of the bucket `x` falls in.
size_t bucket_of(const duration_histogram& h, caf::timespan x) {
  size_t i = 0;
  while (i < h.bounds.size() && h.bounds[i] < x)
    ++i;
  return i;
}

uint64_t closed(const pool_stats& st, close_reason why) {
  return st.closed_by(why);
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(metrics_stats_tests, fixture)

// A failed statement counts under the first two characters of its SQLSTATE:
// a pooled query, a transaction, a query on a lease. Successes and errors
// without a SQLSTATE (a timeout of the pool) count nowhere.
CAF_TEST(errors count by sqlstate class) {
  script->rules["INSERT dup"].error =
    make_error(pool_errc::query_failed, "duplicate key value", "23505");
  script->rules["UPDATE x"].error =
    make_error(pool_errc::query_failed, "could not serialize", "40001");
  script->rules["SELEC 1"].error =
    make_error(pool_errc::query_failed, "syntax error", "42601");
  auto pool = start(make_config(1, 1));
  auto q1 = ask<query_result>(pool, query_atom::value, statement{"INSERT dup"});
  auto q2 = ask<query_result>(pool, query_atom::value, statement{"INSERT dup"});
  auto ok = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  std::vector<statement> sts{"INSERT 1", "UPDATE x"};
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  CAF_CHECK(q1->failed_with(pool_errc::query_failed));
  CAF_CHECK(q2->failed_with(pool_errc::query_failed));
  CAF_CHECK(ok->ok());
  CAF_CHECK(t->failed_with(pool_errc::query_failed));
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  auto lq = ask<query_result>(l->value->worker, query_atom::value, l->value->id,
                              statement{"SELEC 1"});
  sched.run();
  CAF_CHECK(lq->failed_with(pool_errc::query_failed));
  auto st = stats(pool);
  std::map<std::string, uint64_t> want{{"23", 2}, {"40", 1}, {"42", 1}};
  CAF_CHECK_EQUAL(st.errors_by_class, want);
  // A request the pool refuses itself carries no SQLSTATE.
  auto bad = ask<lease>(pool, acquire_atom::value, caf::timespan{100ms});
  advance(200ms);
  CAF_CHECK(bad->failed_with(pool_errc::acquire_timeout));
  CAF_CHECK_EQUAL(stats(pool).errors_by_class, want);
}

// acquire_wait observes every request that got a connection, with the time
// it waited; query_time observes pooled queries and transactions (not
// leases) from hand-out to done.
CAF_TEST(histograms observe waits and query times) {
  script->rules["SELECT slow"].latency = 30ms;
  auto pool = start(make_config(1, 1));
  auto q1 =
    ask<query_result>(pool, query_atom::value, statement{"SELECT slow"});
  auto q2 =
    ask<query_result>(pool, query_atom::value, statement{"SELECT slow"});
  advance_exact(100ms);
  CAF_REQUIRE(q1->ok());
  CAF_REQUIRE(q2->ok());
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.acquired, 2u);
  CAF_CHECK_EQUAL(st.acquire_wait.count, 2u);
  // The first was served at once, the second after the first's 30 ms.
  CAF_CHECK_EQUAL(st.acquire_wait.sum, caf::timespan{30ms});
  CAF_CHECK_EQUAL(st.acquire_wait.counts[0], 1u);
  CAF_CHECK_EQUAL(st.acquire_wait.counts[bucket_of(st.acquire_wait, 30ms)], 1u);
  CAF_CHECK_EQUAL(st.query_time.count, 2u);
  CAF_CHECK_EQUAL(st.query_time.sum, caf::timespan{60ms});
  CAF_CHECK_EQUAL(st.query_time.counts[bucket_of(st.query_time, 30ms)], 2u);
  CAF_CHECK_EQUAL(st.query_time.cumulative(st.query_time.bounds.size()), 2u);
  // A lease counts as acquired and waited, but is no query.
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  auto r = ask<caf::ok_atom>(pool, release_atom::value, l->value->id);
  sched.run();
  CAF_REQUIRE(r->ok());
  st = stats(pool);
  CAF_CHECK_EQUAL(st.acquire_wait.count, 3u);
  CAF_CHECK_EQUAL(st.query_time.count, 2u);
}

// Pipelined queries each get their own time: a done for n credits observes
// the n oldest.
CAF_TEST(query times of a pipeline) {
  script->pipelining = true;
  script->rules["INSERT a"].latency = 10ms;
  script->rules["INSERT b"].latency = 10ms;
  auto cfg = make_config(1, 1);
  cfg.pipeline_depth = 4;
  auto pool = start(cfg);
  auto q1 = ask<query_result>(pool, query_atom::value, statement{"INSERT a"});
  auto q2 = ask<query_result>(pool, query_atom::value, statement{"INSERT b"});
  advance_exact(100ms);
  CAF_REQUIRE(q1->ok());
  CAF_REQUIRE(q2->ok());
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.pipelined, 1u);
  CAF_CHECK_EQUAL(st.query_time.count, 2u);
  // In order: 10 ms, then 20 ms (it ran after the first).
  CAF_CHECK_EQUAL(st.query_time.sum, caf::timespan{30ms});
}

// The plain class behind query_time: a ring per connection, oldest first,
// growing past its first size, forgetting a connection that is gone.
CAF_TEST(query timer keeps order) {
  query_timer qt;
  duration_histogram h{duration_histogram::latency_bounds()};
  for (int i = 0; i < 6; ++i)
    qt.start(7, caf::timespan{std::chrono::milliseconds(i)});
  CAF_CHECK_EQUAL(qt.in_flight(7), 6u);
  qt.finish(7, 2, caf::timespan{10ms}, h); // 10 + 9 ms
  CAF_CHECK_EQUAL(h.count, 2u);
  CAF_CHECK_EQUAL(h.sum, caf::timespan{19ms});
  for (int i = 0; i < 5; ++i) // wraps around and grows
    qt.start(7, caf::timespan{20ms});
  qt.finish(7, 100, caf::timespan{30ms}, h); // 28+27+26+25 + 5*10
  CAF_CHECK_EQUAL(h.count, 11u);
  CAF_CHECK_EQUAL(h.sum, caf::timespan{19ms + 106ms + 50ms});
  CAF_CHECK_EQUAL(qt.in_flight(7), 0u);
  qt.start(8, caf::timespan{0});
  qt.forget(8);
  qt.finish(8, 1, caf::timespan{1s}, h);
  CAF_CHECK_EQUAL(h.count, 11u);
  qt.finish(9, 1, caf::timespan{1s}, h); // unknown connection
  CAF_CHECK_EQUAL(h.count, 11u);
}

// Closed connections count by reason and their lifetimes are observed: a
// connection the server closed (lost), one past idle_timeout, one that
// failed its health check, one past max_lifetime.
CAF_TEST(connections closed by reason) {
  auto cfg = make_config(1, 3);
  cfg.idle_timeout = 30s;
  cfg.health_check_interval = caf::timespan{0};
  cfg.validate_after_idle = caf::timespan{0};
  script->default_latency = 100ms;
  auto pool = start(cfg);
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 0; i < 3; ++i)
    qs.push_back(
      ask<query_result>(pool, query_atom::value, statement{"SELECT 1"}));
  advance(200ms);
  CAF_REQUIRE_EQUAL(stats(pool).idle, 3u);
  // Two above min_size close after idle_timeout.
  advance(31s, 1s);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 1u);
  CAF_CHECK_EQUAL(closed(st, close_reason::idle_timeout), 2u);
  // The server closes the last one: lost, replaced.
  auto survivor = script->wakers.begin()->first;
  script->break_connection(survivor);
  sched.run();
  advance(200ms);
  st = stats(pool);
  CAF_CHECK_EQUAL(closed(st, close_reason::lost), 1u);
  CAF_CHECK_EQUAL(st.connections_closed, 3u);
  uint64_t sum = 0;
  for (auto n : st.connections_closed_by)
    sum += n;
  CAF_CHECK_EQUAL(sum, st.connections_closed);
  CAF_CHECK_EQUAL(st.connection_lifetime.count, 3u);
  // Each lived at least 30 s: none in the buckets up to 5 s.
  CAF_CHECK_EQUAL(st.connection_lifetime.cumulative(1), 0u);
  CAF_CHECK_GREATER_OR_EQUAL(st.connection_lifetime.sum, caf::timespan{90s});
}

CAF_TEST(health checks and lifetimes close by reason) {
  auto cfg = make_config(2, 2);
  cfg.health_check_interval = 5s;
  cfg.validate_after_idle = caf::timespan{0};
  cfg.max_lifetime = 60s;
  auto pool = start(cfg);
  script->broken.insert(1); // dead, but nobody told the worker
  advance(7s, 100ms);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(closed(st, close_reason::health_check), 1u);
  CAF_CHECK_EQUAL(closed(st, close_reason::lifetime), 0u);
  advance(70s, 1s);
  st = stats(pool);
  CAF_CHECK_GREATER_OR_EQUAL(closed(st, close_reason::lifetime), 2u);
  CAF_CHECK_EQUAL(closed(st, close_reason::lost), 0u);
  CAF_CHECK_EQUAL(st.connections_recycled, closed(st, close_reason::lifetime));
}

// Breaker transitions count beside breaker_opened: open → half_open → open
// → half_open → closed.
CAF_TEST(breaker transitions count) {
  script->connect_error =
    make_error(pool_errc::connect_failed, "connection refused");
  auto cfg = make_config(1, 2);
  cfg.breaker_threshold = 3;
  cfg.breaker_cooldown = 2s;
  cfg.backoff_min = 10ms;
  cfg.backoff_max = 10ms;
  auto pool = start(cfg);
  advance(2100ms);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.breaker_opened, 2u);
  CAF_CHECK_EQUAL(st.breaker_half_opened, 1u);
  CAF_CHECK_EQUAL(st.breaker_closed, 0u);
  CAF_CHECK(!health(st).ok);
  CAF_CHECK_NOT_EQUAL(health(st).reason.find("circuit breaker open"),
                      std::string::npos);
  script->connect_error = caf::error{};
  advance(2100ms);
  st = stats(pool);
  CAF_CHECK_EQUAL(st.breaker_half_opened, 2u);
  CAF_CHECK_EQUAL(st.breaker_closed, 1u);
  CAF_CHECK(health(st).ok);
}

// pool_stats taken from a pool, with the new fields filled, survive CAF's
// binary serialization (what a remote node receives).
CAF_TEST(stats with metrics round trip) {
  script->rules["INSERT dup"].error =
    make_error(pool_errc::query_failed, "duplicate key value", "23505");
  auto pool = start(make_config(1, 1));
  auto q = ask<query_result>(pool, query_atom::value, statement{"INSERT dup"});
  sched.run();
  script->break_connection(1);
  sched.run();
  auto st = stats(pool);
  CAF_REQUIRE_EQUAL(st.errors_by_class.size(), 1u);
  CAF_REQUIRE_EQUAL(closed(st, close_reason::lost), 1u);
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  CAF_REQUIRE(!sink(st));
  pool_stats copy;
  caf::binary_deserializer source{sys, buf};
  CAF_REQUIRE(!source(copy));
  CAF_CHECK_EQUAL(copy.errors_by_class, st.errors_by_class);
  CAF_CHECK_EQUAL(copy.connections_closed_by, st.connections_closed_by);
  CAF_CHECK(copy.acquire_wait == st.acquire_wait);
  CAF_CHECK(copy.query_time == st.query_time);
  CAF_CHECK(copy.connection_lifetime == st.connection_lifetime);
  CAF_CHECK_EQUAL(copy.query_time.count, 1u);
  CAF_CHECK_EQUAL(to_string(copy), to_string(st));
}

// health(): ok for a working pool; not ok, with the reason, when the stats
// did not come, when shutting down, when the breaker is open, when no
// connection is open and connects fail.
CAF_TEST(health reasons) {
  pool_stats st;
  st.total = 2;
  st.idle = 2;
  CAF_CHECK(health(st).ok);
  CAF_CHECK_EQUAL(health(st).reason, "");
  auto no_stats = health(
    caf::expected<pool_stats>{caf::make_error(caf::sec::request_timeout)});
  CAF_CHECK(!no_stats.ok);
  CAF_CHECK_EQUAL(no_stats.reason.rfind("no stats: ", 0), 0u);
  auto s = st;
  s.shutting_down = true;
  CAF_CHECK_EQUAL(health(s).reason, "shutting down");
  s = st;
  s.paused = true;
  CAF_CHECK(!health(s).ok);
  CAF_CHECK_EQUAL(health(s).reason,
                  "paused: no connection is handed out until resume");
  s = st;
  s.breaker = breaker_state::open;
  s.last_connect_error = "connect_failed: refused";
  CAF_CHECK_EQUAL(health(s).reason, "circuit breaker open; last connect "
                                    "error: connect_failed: refused");
  s = st;
  s.total = 1;
  s.idle = 0;
  s.connecting = 1;
  s.last_connect_error = "auth_failed: \"bob\"";
  CAF_CHECK(!health(s).ok);
  CAF_CHECK_EQUAL(health(s).reason, "no open connection and connects fail: "
                                    "auth_failed: \"bob\"");
  // Connecting for the first time, no failure yet: healthy.
  s.last_connect_error.clear();
  CAF_CHECK(health(s).ok);
}

CAF_TEST_FIXTURE_SCOPE_END()
