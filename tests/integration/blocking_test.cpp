// pool::blocking_pool: the pool from plain (non-actor) code on the test's
// main thread.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE blocking
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

CAF_TEST_FIXTURE_SCOPE(blocking_tests, fixture)

/// Proves: every blocking_pool call works from the main thread against a
/// real server: query, acquire + query on the lease + release, transaction,
/// stats, errors, shutdown.
CAF_TEST(blocking pool from main) {
  auto p = spawn(1, 2);
  pool::blocking_pool bp{sys, p, caf::timespan{15s}};
  auto t = table_name("blocking");
  // query
  IT_REQUIRE_OK(bp.query("DROP TABLE IF EXISTS " + t));
  IT_REQUIRE_OK(bp.query("CREATE TABLE " + t + " (id int PRIMARY KEY)"));
  auto q = bp.query(statement{"SELECT $1::int + 1, $2::text", {41, nullptr}});
  IT_REQUIRE_OK(q);
  CAF_REQUIRE_EQUAL(q->rows(), 1u);
  CAF_CHECK_EQUAL(q->at(0, 0), "42");
  CAF_CHECK(q->is_null(0, 1));
  // errors come back as errors
  auto bad = bp.query("SELEC 1");
  IT_CHECK_ERRC(bad, pool::pool_errc::query_failed);
  if (!bad)
    CAF_CHECK_EQUAL(pool::sqlstate(bad.error()), "42601");
  // acquire, session state on the lease, release
  auto l = bp.acquire(caf::timespan{5s});
  IT_REQUIRE_OK(l);
  IT_REQUIRE_OK(bp.query(*l, "SET application_name = 'blocking_test'"));
  auto show = bp.query(*l, "SHOW application_name");
  IT_REQUIRE_OK(show);
  CAF_REQUIRE_EQUAL(show->rows(), 1u);
  CAF_CHECK_EQUAL(show->at(0, 0), "blocking_test");
  auto st = bp.stats();
  IT_REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->leased, 1u);
  auto rel = bp.release(*l);
  CAF_CHECK(!rel);
  if (rel)
    CAF_ERROR("release: " << pool::describe(rel));
  auto rel2 = bp.release(*l);
  CAF_CHECK(pool::is(rel2, pool::pool_errc::invalid_lease));
  auto after = bp.query(*l, "SELECT 1");
  IT_CHECK_ERRC(after, pool::pool_errc::invalid_lease);
  // transaction: commit, then a rollback
  auto tx = bp.transaction(
    {statement{"INSERT INTO " + t + " VALUES ($1), ($2)", {1, 2}},
     statement{"SELECT count(*) FROM " + t}});
  IT_REQUIRE_OK(tx);
  CAF_REQUIRE_EQUAL(tx->size(), 2u);
  CAF_CHECK_EQUAL((*tx)[0].command_tag, "INSERT 0 2");
  CAF_CHECK_EQUAL((*tx)[1].at(0, 0), "2");
  auto tx2 =
    bp.transaction({statement{"INSERT INTO " + t + " VALUES ($1)", {3}},
                    statement{"INSERT INTO " + t + " VALUES ($1)", {1}}});
  IT_CHECK_ERRC(tx2, pool::pool_errc::query_failed);
  if (!tx2)
    CAF_CHECK_EQUAL(pool::sqlstate(tx2.error()), "23505");
  auto cnt = bp.query("SELECT count(*) FROM " + t);
  IT_REQUIRE_OK(cnt);
  CAF_CHECK_EQUAL(cnt->at(0, 0), "2");
  // stats
  auto st2 = bp.stats();
  IT_REQUIRE_OK(st2);
  CAF_CHECK_EQUAL(st2->leased, 0u);
  CAF_CHECK_LESS_OR_EQUAL(st2->total, 2u);
  CAF_CHECK_GREATER_OR_EQUAL(st2->acquired, 7u);
  CAF_CHECK(!st2->shutting_down);
  IT_REQUIRE_OK(bp.query("DROP TABLE " + t));
  // shutdown through the blocking client
  auto down = bp.shutdown(caf::timespan{5s});
  CAF_CHECK(!down);
  if (down)
    CAF_ERROR("shutdown: " << pool::describe(down));
  else
    pools.clear(); // already shut down
}

CAF_TEST_FIXTURE_SCOPE_END()
