// query_timeout against a real server: a long statement is cancelled and
// answered in time, and the connection is reusable afterwards.

#define CAF_SUITE timeout
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

namespace {

using clock_type = std::chrono::steady_clock;

int64_t ms_since(clock_type::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           clock_type::now() - start)
    .count();
}

struct timeout_fixture : fixture {
  /// The pool under test: one connection, query_timeout = 300 ms.
  pool::pool_actor p;
  /// An observer with default timeouts, for looking at pg_stat_activity.
  pool::pool_actor observer;

  timeout_fixture() {
    auto pc = make_config(1, 1);
    pc.query_timeout = caf::timespan{300ms};
    p = spawn(pc);
    observer = spawn(1, 1);
  }

  /// Waits (bounded: until `limit` after `since`) for the server to stop
  /// running `SELECT pg_sleep(5)`; returns the number still running.
  std::string wait_until_not_sleeping(clock_type::time_point since,
                                      std::chrono::milliseconds limit) {
    auto sleeping = [&] {
      return scalar(observer,
                    "SELECT count(*) FROM pg_stat_activity WHERE query = "
                    "'SELECT pg_sleep(5)' AND state = 'active'");
    };
    auto still = sleeping();
    while (still != "0" && clock_type::now() - since < limit) {
      std::this_thread::sleep_for(20ms);
      still = sleeping();
    }
    CAF_MESSAGE("server stopped sleeping " << ms_since(since)
                                           << " ms after the reply");
    return still;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(timeout_tests, timeout_fixture)

/// Proves: with query_timeout = 300 ms, `SELECT pg_sleep(5)` is answered with
/// query_timeout well before 5 s, the server stops running it (the cancel
/// reached it), and the single connection is usable (and outside any
/// transaction) afterwards.
CAF_TEST(query timeout cancels the statement) {
  CAF_CHECK_EQUAL(scalar(p, "SELECT 1"), "1"); // connected and warm
  auto start = clock_type::now();
  auto r = query(p, "SELECT pg_sleep(5)");
  auto ms = ms_since(start);
  CAF_MESSAGE("pg_sleep(5) answered after " << ms << " ms: " << describe(r));
  IT_CHECK_ERRC(r, pool::pool_errc::query_timeout);
  CAF_CHECK_LESS(ms, 3000);
  CAF_CHECK_GREATER_OR_EQUAL(ms, 250); // not before the timeout
  // The connection is reusable: the next statement runs at once.
  auto replied = clock_type::now();
  auto one = query(p, "SELECT 1");
  CAF_CHECK(one && one->rows() == 1 && one->at(0, 0) == "1");
  if (!one)
    CAF_ERROR("SELECT 1 after the timeout: " << pool::describe(one.error()));
  CAF_CHECK_LESS(ms_since(replied), 3000);
  auto tx = query(p, "SELECT txid_current_if_assigned()");
  CAF_CHECK(tx && tx->rows() == 1 && tx->is_null(0, 0));
  // The cancel reached the server: it stops sleeping long before the 5 s
  // are over (polled: the cancel travels on its own connection).
  CAF_CHECK_EQUAL(wait_until_not_sleeping(replied, 3500ms), "0");
}

/// Proves: a query on a lease is cancelled after query_timeout, too, and the
/// lease goes on working afterwards.
CAF_TEST(query timeout on a lease) {
  auto l = acquire(p);
  IT_REQUIRE_OK(l);
  CAF_CHECK_EQUAL(scalar(*l, "SELECT 2"), "2");
  auto start = clock_type::now();
  auto r = query(*l, "SELECT pg_sleep(5)");
  auto ms = ms_since(start);
  CAF_MESSAGE("pg_sleep(5) on a lease answered after "
              << ms << " ms: " << describe(r));
  IT_CHECK_ERRC(r, pool::pool_errc::query_timeout);
  CAF_CHECK_LESS(ms, 3000);
  auto replied = clock_type::now();
  auto three = query(*l, "SELECT 3");
  CAF_CHECK(three && three->rows() == 1 && three->at(0, 0) == "3");
  if (!three)
    CAF_ERROR("SELECT 3 on the lease after the timeout: "
              << pool::describe(three.error()));
  CAF_CHECK_EQUAL(wait_until_not_sleeping(replied, 3500ms), "0");
  auto rel = release(p, l->id);
  CAF_CHECK(rel);
  if (!rel)
    CAF_ERROR("release: " << pool::describe(rel.error()));
}

CAF_TEST_FIXTURE_SCOPE_END()
