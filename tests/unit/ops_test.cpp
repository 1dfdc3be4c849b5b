// Operating a running pool: resize, pause/resume, reset, reconfigure.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE ops
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct ops_fixture : fixture {
  using ok = caf::ok_atom;

  outcome_ptr<lease> acquire(const pool_actor& pool) {
    auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{60s});
    sched.run();
    if (!l->ok())
      CAF_FAIL("acquire failed: " << describe(l->err));
    return l;
  }

  void release(const pool_actor& pool, const lease& l) {
    auto r = ask<ok>(pool, release_atom::value, l.id);
    sched.run();
    CAF_CHECK(r->ok());
  }

  outcome_ptr<query_result> query_on(const lease& l) {
    auto q = ask<query_result>(l.worker, query_atom::value, l.id,
                               statement{"SELECT 1"});
    sched.run();
    return q;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(ops_tests, ops_fixture)

// Growing opens connections up to the new min_size at once.
CAF_TEST(resize up opens connections to the new min) {
  auto pool = start(make_config(1, 2));
  CAF_CHECK_EQUAL(script->connected, 1);
  auto r = ask<ok>(pool, resize_atom::value, uint64_t{3}, uint64_t{6});
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK_EQUAL(script->connected, 3);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 3u);
  CAF_CHECK_EQUAL(st.total, 3u);
  // The new max applies: six leases, no more connections.
  std::vector<outcome_ptr<lease>> ls;
  for (int i = 0; i < 6; ++i)
    ls.push_back(acquire(pool));
  CAF_CHECK_EQUAL(stats(pool).leased, 6u);
  auto waiting = ask<lease>(pool, acquire_atom::value, caf::timespan{60s});
  sched.run();
  CAF_CHECK_EQUAL(waiting->answers, 0);
  CAF_CHECK_EQUAL(stats(pool).total, 6u);
  release(pool, *ls[0]->value);
  CAF_CHECK(waiting->ok());
}

// Shrinking closes idle connections at once, never a leased one; leased
// ones keep working and close when released until total <= max.
CAF_TEST(resize down closes idle first and leased ones on release) {
  auto pool = start(make_config(4, 4));
  auto a = acquire(pool);
  auto b = acquire(pool);
  auto c = acquire(pool);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  auto r = ask<ok>(pool, resize_atom::value, uint64_t{1}, uint64_t{2});
  sched.run();
  CAF_CHECK(r->ok());
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 0u);
  CAF_CHECK_EQUAL(st.leased, 3u);
  CAF_CHECK_EQUAL(st.total, 3u);
  CAF_CHECK_EQUAL(script->closed, 1);
  // The leases survive the shrink.
  for (auto& l : {a, b, c})
    CAF_CHECK(query_on(*l->value)->ok());
  release(pool, *a->value); // 3 open > max 2: closed
  st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 2u);
  CAF_CHECK_EQUAL(script->closed, 2);
  release(pool, *b->value); // 2 open: kept
  st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 2u);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(st.leased, 1u);
  CAF_CHECK_EQUAL(script->closed, 2);
  CAF_CHECK_EQUAL(script->open, 2);
}

CAF_TEST(bad resize arguments are refused naming the values) {
  auto pool = start(make_config(1, 4));
  auto r1 = ask<ok>(pool, resize_atom::value, uint64_t{5}, uint64_t{3});
  auto r2 = ask<ok>(pool, resize_atom::value, uint64_t{0}, uint64_t{0});
  sched.run();
  CAF_REQUIRE(r1->failed_with(pool_errc::invalid_request));
  CAF_CHECK_EQUAL(error_message(r1->err),
                  "resize: min_size: must not exceed max_size (3), is 5");
  CAF_REQUIRE(r2->failed_with(pool_errc::invalid_request));
  CAF_CHECK_EQUAL(error_message(r2->err),
                  "resize: max_size: must be at least 1, is 0");
  CAF_CHECK_EQUAL(stats(pool).total, 1u); // unchanged
  auto down = ask<ok>(pool, shutdown_atom::value, caf::timespan{1s});
  auto late = ask<ok>(pool, resize_atom::value, uint64_t{1}, uint64_t{2});
  sched.run();
  CAF_CHECK(down->ok());
  CAF_CHECK(late->failed_with(pool_errc::shutting_down));
}

// A limit (a cluster node's share) caps the pool below max_size like a
// shrink: idle connections close at once, a leased one when it comes back;
// min_size counts only up to the limit; stats show it; raising it opens
// connections again.
CAF_TEST(limit caps the pool below max_size and lifts again) {
  auto pool = start(make_config(3, 4));
  CAF_CHECK_EQUAL(stats(pool).total, 3u);
  auto a = acquire(pool);
  auto r = ask<ok>(pool, limit_atom::value, uint64_t{1});
  sched.run();
  CAF_CHECK(r->ok());
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.max_open, 1u);
  CAF_CHECK(st.limited);
  CAF_CHECK_EQUAL(st.total, 1u); // both idle ones closed, the lease kept
  CAF_CHECK_EQUAL(st.leased, 1u);
  CAF_CHECK(query_on(*a->value)->ok());
  release(pool, *a->value);
  st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 1u); // min_size 3, but only 1 allowed
  CAF_CHECK_EQUAL(st.idle, 1u);
  // A resize keeps the limit.
  auto rs = ask<ok>(pool, resize_atom::value, uint64_t{2}, uint64_t{5});
  sched.run();
  CAF_CHECK(rs->ok());
  CAF_CHECK_EQUAL(stats(pool).max_open, 1u);
  CAF_CHECK_EQUAL(stats(pool).total, 1u);
  // A limit at or above max_size caps nothing: min_size 2 is opened.
  auto up = ask<ok>(pool, limit_atom::value, uint64_t{9});
  sched.run();
  CAF_CHECK(up->ok());
  st = stats(pool);
  CAF_CHECK_EQUAL(st.max_open, 5u);
  CAF_CHECK(!st.limited);
  CAF_CHECK_EQUAL(st.total, 2u);
}

// A limit of 0 closes every connection; requests wait for a higher limit
// (up to their own deadlines) and are served when it comes.
CAF_TEST(limit zero holds requests until the limit rises) {
  auto cfg = make_config(1, 2);
  cfg.acquire_timeout = 5s;
  auto pool = start(cfg);
  auto r = ask<ok>(pool, limit_atom::value, uint64_t{0});
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK_EQUAL(stats(pool).total, 0u);
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  auto t = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  advance_exact(1s);
  CAF_CHECK(t->failed_with(pool_errc::acquire_timeout));
  CAF_CHECK_NOT_EQUAL(error_message(t->err).find("of max 0"),
                      std::string::npos);
  CAF_CHECK_EQUAL(q->answers, 0);
  CAF_CHECK_EQUAL(stats(pool).total, 0u);
  auto up = ask<ok>(pool, limit_atom::value, uint64_t{1});
  sched.run();
  CAF_CHECK(up->ok());
  CAF_CHECK(q->ok());
  CAF_CHECK_EQUAL(stats(pool).total, 1u);
  auto down = ask<ok>(pool, shutdown_atom::value, caf::timespan{1s});
  auto late = ask<ok>(pool, limit_atom::value, uint64_t{2});
  sched.run();
  CAF_CHECK(down->ok());
  CAF_CHECK(late->failed_with(pool_errc::shutting_down));
}

// A pause waits for the lease to come back, then holds new requests until
// resume.
CAF_TEST(pause drains then holds until resume) {
  auto pool = start(make_config(1, 2));
  auto l = acquire(pool);
  auto p = ask<ok>(pool, pause_atom::value, caf::timespan{10s});
  sched.run();
  CAF_CHECK_EQUAL(p->answers, 0);
  CAF_CHECK(stats(pool).paused);
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK_EQUAL(q->answers, 0);       // held, although a connection is idle
  CAF_CHECK(query_on(*l->value)->ok()); // the lease keeps working
  release(pool, *l->value);
  CAF_CHECK(p->ok());
  advance(1s);
  CAF_CHECK_EQUAL(q->answers, 0);
  auto st = stats(pool);
  CAF_CHECK(st.paused);
  CAF_CHECK_EQUAL(st.waiting, 1u);
  auto r = ask<ok>(pool, resume_atom::value);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK(q->ok());
  CAF_CHECK(!stats(pool).paused);
  // The second the query was held is no overload: nothing is shed after.
  advance(2s);
  auto q2 = ask<query_result>(pool, query_atom::value, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK(q2->ok());
  st = stats(pool);
  CAF_CHECK(!st.overloaded);
  CAF_CHECK_EQUAL(st.shed, 0u);
}

// The pause's deadline passes with a lease still held: pause_timeout naming
// it; the pool stays paused.
CAF_TEST(pause deadline answers pause_timeout and stays paused) {
  auto pool = start(make_config(1, 2));
  auto l = acquire(pool);
  auto p = ask<ok>(pool, pause_atom::value, caf::timespan{2s});
  sched.run();
  advance_exact(2s - 1ms);
  CAF_CHECK_EQUAL(p->answers, 0);
  advance_exact(1ms);
  CAF_REQUIRE(p->failed_with(pool_errc::pause_timeout));
  CAF_CHECK_NOT_EQUAL(error_message(p->err).find("1 connections leased"),
                      std::string::npos);
  CAF_CHECK(stats(pool).paused);
  release(pool, *l->value);
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK_EQUAL(q->answers, 0);
  auto r = ask<ok>(pool, resume_atom::value);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK(q->ok());
}

// PgBouncer #715: a resume while a pause drains cancels it; the pool serves.
CAF_TEST(resume while a pause drains cancels the pause) {
  auto pool = start(make_config(1, 2));
  auto l = acquire(pool);
  auto p = ask<ok>(pool, pause_atom::value, caf::timespan{10s});
  sched.run();
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK_EQUAL(q->answers, 0);
  auto r = ask<ok>(pool, resume_atom::value);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_REQUIRE(p->failed_with(pool_errc::pause_cancelled));
  CAF_CHECK(q->ok());
  CAF_CHECK(!stats(pool).paused);
  release(pool, *l->value);
  advance(11s); // the pause's deadline passes: nothing more is answered
  auto q2 = ask<query_result>(pool, query_atom::value, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK(q2->ok());
}

// The other order: a resume that arrives before the pause does nothing; the
// pause then takes effect, and a second resume serves again.
CAF_TEST(resume before pause leaves the pool paused until the next resume) {
  auto pool = start(make_config(1, 2));
  auto r = ask<ok>(pool, resume_atom::value);
  sched.run();
  auto p = ask<ok>(pool, pause_atom::value, caf::timespan{10s});
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK(p->ok()); // nothing ran: drained at once
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK_EQUAL(q->answers, 0);
  auto r2 = ask<ok>(pool, resume_atom::value);
  sched.run();
  CAF_CHECK(r2->ok());
  CAF_CHECK(q->ok());
}

// Requests held by a pause keep their own deadlines; the timeout says why.
CAF_TEST(held requests time out at their deadline saying paused) {
  auto cfg = make_config(1, 1);
  cfg.acquire_timeout = 2s;
  auto pool = start(cfg);
  auto p = ask<ok>(pool, pause_atom::value, caf::timespan{1s});
  sched.run();
  CAF_CHECK(p->ok());
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  auto a = ask<lease>(pool, acquire_atom::value, caf::timespan{500ms});
  sched.run();
  advance_exact(500ms);
  CAF_CHECK(a->failed_with(pool_errc::acquire_timeout));
  CAF_CHECK_EQUAL(q->answers, 0);
  advance_exact(1500ms);
  CAF_REQUIRE(q->failed_with(pool_errc::acquire_timeout));
  CAF_CHECK_NOT_EQUAL(error_message(q->err).find("the pool is paused"),
                      std::string::npos);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.acquire_timeouts, 2u);
  CAF_CHECK(!st.overloaded); // held requests are no overload
}

CAF_TEST(pause rejects a bad deadline and answers shutting_down) {
  auto pool = start(make_config(1, 1));
  auto bad = ask<ok>(pool, pause_atom::value, caf::timespan{0});
  sched.run();
  CAF_CHECK(bad->failed_with(pool_errc::invalid_request));
  CAF_CHECK(!stats(pool).paused);
  auto l = acquire(pool);
  auto p = ask<ok>(pool, pause_atom::value, caf::timespan{10s});
  sched.run();
  auto down = ask<ok>(pool, shutdown_atom::value, caf::timespan{1s});
  sched.run();
  CAF_CHECK(p->failed_with(pool_errc::shutting_down));
  advance(2s);
  CAF_CHECK(down->ok());
}

// With pause_closes_idle, a drained pause closes every connection and opens
// none until resume.
CAF_TEST(pause closes idle connections when configured) {
  auto cfg = make_config(2, 2);
  cfg.pause_closes_idle = true;
  auto pool = start(cfg);
  auto p = ask<ok>(pool, pause_atom::value, caf::timespan{5s});
  sched.run();
  CAF_CHECK(p->ok());
  advance(1s);
  CAF_CHECK_EQUAL(script->open, 0);
  CAF_CHECK_EQUAL(stats(pool).total, 0u);
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK_EQUAL(script->open, 0);
  auto r = ask<ok>(pool, resume_atom::value);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK(q->ok());
  CAF_CHECK_EQUAL(script->open, 2);
}

// reset replaces an idle connection at once and a leased one on release.
CAF_TEST(reset replaces idle at once and leased on release) {
  auto pool = start(make_config(2, 2));
  auto l = acquire(pool);
  CAF_CHECK_EQUAL(script->created, 2);
  auto r = ask<ok>(pool, reset_atom::value);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK_EQUAL(script->closed, 1);
  CAF_CHECK_EQUAL(script->created, 3);
  CAF_CHECK(query_on(*l->value)->ok()); // the lease is not interrupted
  CAF_CHECK_EQUAL(stats(pool).connections_reset, 1u);
  release(pool, *l->value);
  CAF_CHECK_EQUAL(script->closed, 2);
  CAF_CHECK_EQUAL(script->created, 4);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_reset, 2u);
  CAF_CHECK_EQUAL(st.total, 2u);
  // Queries now run on the new connections (numbers 3 and 4).
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 9"});
  sched.run();
  CAF_CHECK(q->ok());
  CAF_CHECK(last_statement(3) == "SELECT 9" || last_statement(4) == "SELECT 9");
}

// A connect under way at a reset began with the settings from before: the
// connection it opens is replaced as soon as it is ready.
CAF_TEST(reset replaces a connection whose connect was under way) {
  script->connect_latency = 50ms;
  auto pool = start(make_config(1, 2));
  advance(100ms);
  CAF_REQUIRE_EQUAL(stats(pool).idle, 1u);
  auto grown = ask<ok>(pool, resize_atom::value, uint64_t{2}, uint64_t{2});
  sched.run();
  CAF_CHECK(grown->ok());
  CAF_CHECK_EQUAL(stats(pool).connecting, 1u); // connection 2, under way
  auto r = ask<ok>(pool, reset_atom::value);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK_EQUAL(stats(pool).connections_reset, 1u); // the idle one
  advance(200ms);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_reset, 2u); // and the one under way
  CAF_CHECK_EQUAL(st.total, 2u);
  CAF_CHECK_EQUAL(st.idle, 2u);
  CAF_CHECK_EQUAL(script->created, 4); // 1 and 2 replaced by 3 and 4
  CAF_CHECK_EQUAL(script->closed, 2);
}

// reconfigure changes acquire_timeout and the sizes of a live pool.
CAF_TEST(reconfigure changes a timeout and the sizes) {
  auto cfg = make_config(1, 1);
  cfg.acquire_timeout = 5s;
  auto pool = start(cfg);
  pool_settings x;
  x.acquire_timeout = caf::timespan{1s};
  x.min_size = 2;
  x.max_size = 3;
  auto r = ask<ok>(pool, reconfigure_atom::value, x);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK_EQUAL(script->connected, 2);
  auto a = acquire(pool);
  auto b = acquire(pool);
  auto c = acquire(pool);
  CAF_CHECK_EQUAL(stats(pool).leased, 3u);
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  advance_exact(1s - 1ms);
  CAF_CHECK_EQUAL(q->answers, 0);
  advance_exact(1ms);
  CAF_CHECK(q->failed_with(pool_errc::acquire_timeout));
}

// query_timeout reaches the running workers.
CAF_TEST(reconfigure changes the query timeout of running workers) {
  script->rules["SELECT pg_sleep(100)"].hang = true;
  auto pool = start(make_config(1, 1));
  pool_settings x;
  x.query_timeout = caf::timespan{1s};
  auto r = ask<ok>(pool, reconfigure_atom::value, x);
  sched.run();
  CAF_CHECK(r->ok());
  auto q = ask<query_result>(pool, query_atom::value,
                             statement{"SELECT pg_sleep(100)"});
  advance(10s, 100ms); // the old query_timeout is 30 s
  CAF_CHECK(q->failed_with(pool_errc::query_timeout));
}

CAF_TEST(bad reconfigure values are refused naming the field) {
  auto pool = start(make_config(1, 2));
  pool_settings zero;
  zero.acquire_timeout = caf::timespan{0};
  pool_settings sizes;
  sizes.min_size = 5;
  pool_settings conn;
  conn.conninfo = std::string{"host='unterminated password=secret"};
  auto r1 = ask<ok>(pool, reconfigure_atom::value, zero);
  auto r2 = ask<ok>(pool, reconfigure_atom::value, sizes);
  auto r3 = ask<ok>(pool, reconfigure_atom::value, conn);
  sched.run();
  CAF_REQUIRE(r1->failed_with(pool_errc::invalid_request));
  CAF_CHECK_EQUAL(error_message(r1->err),
                  "reconfigure: acquire_timeout: must be positive, is 0ms");
  CAF_REQUIRE(r2->failed_with(pool_errc::invalid_request));
  CAF_CHECK_EQUAL(error_message(r2->err),
                  "reconfigure: min_size: must not exceed max_size (2), is 5");
  CAF_REQUIRE(r3->failed_with(pool_errc::invalid_request));
  CAF_CHECK_EQUAL(error_message(r3->err).rfind("reconfigure: conninfo:", 0),
                  0u);
  CAF_CHECK_EQUAL(error_message(r3->err).find("secret"), std::string::npos);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.total, 1u);
  CAF_CHECK_EQUAL(st.connections_reset, 0u);
}

// A setting that needs new connections applies through a reset.
CAF_TEST(reconfigure of the conninfo resets the connections) {
  auto pool = start(make_config(2, 2));
  pool_settings x;
  x.conninfo = std::string{"host=fake2 dbname=test"};
  auto r = ask<ok>(pool, reconfigure_atom::value, x);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK_EQUAL(stats(pool).connections_reset, 2u);
  CAF_CHECK_EQUAL(script->created, 4);
  CAF_CHECK_EQUAL(script->open, 2);
}

CAF_TEST_FIXTURE_SCOPE_END()
