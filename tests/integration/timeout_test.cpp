// query_timeout against a real server: a long statement is cancelled and
// answered in time, and the connection is reusable afterwards.

#define CAF_SUITE timeout
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

CAF_TEST_FIXTURE_SCOPE(timeout_tests, fixture)

/// Proves: with query_timeout = 300 ms, `SELECT pg_sleep(5)` is answered with
/// query_timeout well before 5 s, and the single connection is usable (and
/// outside any transaction) afterwards.
CAF_TEST(query timeout cancels the statement) {
  auto pc = make_config(1, 1);
  pc.query_timeout = caf::timespan{300ms};
  auto p = spawn(pc);
  CAF_CHECK_EQUAL(scalar(p, "SELECT 1"), "1"); // connected and warm
  auto start = std::chrono::steady_clock::now();
  auto r = query(p, "SELECT pg_sleep(5)");
  auto elapsed = std::chrono::steady_clock::now() - start;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed);
  CAF_MESSAGE("pg_sleep(5) answered after " << ms.count()
                                            << " ms: " << describe(r));
  IT_CHECK_ERRC(r, pool::pool_errc::query_timeout);
  CAF_CHECK_LESS(ms.count(), 3000);
  CAF_CHECK_GREATER_OR_EQUAL(ms.count(), 250); // not before the timeout
  // The connection is reusable: the next statement runs at once.
  start = std::chrono::steady_clock::now();
  CAF_CHECK_EQUAL(scalar(p, "SELECT 1"), "1");
  ms = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - start);
  CAF_CHECK_LESS(ms.count(), 3000);
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
  // The server is not still sleeping on our behalf.
  CAF_CHECK_EQUAL(scalar(p, "SELECT count(*) FROM pg_stat_activity WHERE "
                            "query = 'SELECT pg_sleep(5)' AND state = "
                            "'active'"),
                  "0");
  // Same on a lease.
  auto l = acquire(p);
  IT_REQUIRE_OK(l);
  start = std::chrono::steady_clock::now();
  auto lr = query(*l, "SELECT pg_sleep(5)");
  ms = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - start);
  IT_CHECK_ERRC(lr, pool::pool_errc::query_timeout);
  CAF_CHECK_LESS(ms.count(), 3000);
  CAF_CHECK_EQUAL(scalar(*l, "SELECT 3"), "3");
  CAF_CHECK(release(p, l->id));
}

CAF_TEST_FIXTURE_SCOPE_END()
