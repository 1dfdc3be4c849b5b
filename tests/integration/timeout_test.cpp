// Deadlines against a real server: query_timeout cancels a long statement,
// answers it in time and leaves the connection reusable; shutdown's deadline
// lets running queries finish, or cuts them off when it passes first.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE timeout
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <algorithm>

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

namespace {

/// Four connections, each running `SELECT $1::int FROM pg_sleep(0.5)` when
/// a shutdown with a deadline arrives.
struct shutdown_fixture : fixture {
  static constexpr size_t n = 4;
  pool::pool_actor p;
  pool::pool_actor observer;

  using handle_t = decltype(std::declval<caf::scoped_actor&>()->request(
    std::declval<pool::pool_actor&>(), caf::timespan{1s}, pool::query_atom_v,
    statement{}));

  shutdown_fixture() {
    auto pc = make_config(n, n);
    pc.query_timeout = caf::timespan{10s};
    pc.pipeline_depth = 1; // one query per connection, all four running
    p = spawn(pc);
    observer = spawn(1, 1);
    auto warm = wait_for_stats(
      p, [](const pool::pool_stats& st) { return st.idle == n; }, 10000ms);
    if (!warm.second)
      CAF_FAIL("the pool did not open " << n << " connections");
  }

  /// Sends the sleeping queries and waits until the server runs all of them.
  std::vector<handle_t> start_sleepers() {
    std::vector<handle_t> hs;
    for (size_t i = 0; i < n; ++i)
      hs.push_back(self->request(
        p, caf::timespan{20s}, pool::query_atom_v,
        statement{"SELECT $1::int FROM pg_sleep(0.5)", {param{int(i)}}}));
    auto running = std::string{"?"};
    auto deadline = clock_type::now() + 5s;
    do {
      running =
        scalar(observer, "SELECT count(*) FROM pg_stat_activity WHERE query = "
                         "'SELECT $1::int FROM pg_sleep(0.5)' AND state = "
                         "'active'");
    } while (running != std::to_string(n) && clock_type::now() < deadline);
    if (running != std::to_string(n))
      CAF_FAIL("the server runs " << running << " of the " << n
                                  << " sleeping queries");
    return hs;
  }

  /// Waits for the answer of each handle.
  std::vector<caf::expected<pool::query_result>>
  answers(std::vector<handle_t>& hs) {
    std::vector<caf::expected<pool::query_result>> xs;
    for (auto& h : hs)
      h.receive([&](pool::query_result& r) { xs.emplace_back(std::move(r)); },
                [&](caf::error& err) { xs.emplace_back(std::move(err)); });
    return xs;
  }

  /// Shuts `p` down with `deadline`; returns the reply, and checks that
  /// the pool actor then exits (within 10 s).
  caf::expected<caf::ok_atom> shutdown_and_watch(caf::timespan deadline) {
    self->monitor(p);
    auto res = call<caf::ok_atom>(p, caf::timespan{20s}, pool::shutdown_atom_v,
                                  deadline);
    bool down = false;
    self->receive([&](caf::down_msg& dm) { down = dm.source == p.address(); },
                  caf::after(std::chrono::seconds(10)) >>
                    [&] { CAF_ERROR("the pool did not exit within 10 s"); });
    CAF_CHECK(down);
    pools.erase(std::find(pools.begin(), pools.end(), p));
    return res;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(shutdown_deadline_tests, shutdown_fixture)

/// Proves: a shutdown whose deadline (5 s) is later than the running
/// queries need lets them finish: each gets its result, then the shutdown
/// is answered ok and the pool actor exits.
CAF_TEST(shutdown waits for running queries until its deadline) {
  auto hs = start_sleepers();
  auto res = shutdown_and_watch(caf::timespan{5s});
  CAF_CHECK(res);
  if (!res)
    CAF_ERROR("shutdown: " << pool::describe(res.error()));
  auto xs = answers(hs);
  CAF_REQUIRE_EQUAL(xs.size(), n);
  for (size_t i = 0; i < n; ++i) {
    CAF_MESSAGE("query " << i << ": " << describe(xs[i]));
    if (!xs[i] || xs[i]->rows() != 1 || xs[i]->at(0, 0) != std::to_string(i))
      CAF_ERROR("query " << i
                         << " did not get its result: " << describe(xs[i]));
  }
}

/// Proves: a shutdown whose deadline (100 ms) passes while queries run
/// closes their connections: each running query is answered with
/// shutting_down (the worker stops with it when the manager closes the
/// connection at the deadline), the shutdown is answered ok and the pool
/// actor exits.
CAF_TEST(shutdown cuts off running queries at its deadline) {
  auto hs = start_sleepers();
  auto res = shutdown_and_watch(caf::timespan{100ms});
  CAF_CHECK(res);
  if (!res)
    CAF_ERROR("shutdown: " << pool::describe(res.error()));
  auto xs = answers(hs);
  CAF_REQUIRE_EQUAL(xs.size(), n);
  for (size_t i = 0; i < n; ++i) {
    CAF_MESSAGE("query " << i << ": " << describe(xs[i]));
    if (xs[i])
      CAF_ERROR("query " << i << " got a result although the deadline "
                         << "passed while it ran");
    else
      CAF_CHECK(pool::is(xs[i].error(), pool::pool_errc::shutting_down));
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
