// The manager's waiter queue as a plain class: FIFO order, retries first,
// deadlines, parking on a connection under validation.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE waiter_queue
#include "caf/test/unit_test.hpp"

#include <chrono>

#include "waiter_queue.hpp"

using namespace std::chrono_literals;
using pool::waiter;
using pool::waiter_queue;

namespace {

waiter make(caf::timespan since, caf::timespan timeout, std::string sql) {
  waiter w;
  w.since = since;
  w.timeout = timeout;
  w.stmt.sql = std::move(sql);
  return w;
}

} // namespace

CAF_TEST(waiters leave in FIFO order and retries go first) {
  waiter_queue q;
  CAF_CHECK(q.empty());
  CAF_CHECK(q.front() == nullptr);
  q.push(make(0s, 5s, "a"), false);
  q.push(make(0s, 5s, "b"), false);
  q.push(make(0s, 5s, "r1"), true);
  q.push(make(0s, 5s, "r2"), true);
  CAF_CHECK_EQUAL(q.size(), 4u);
  CAF_REQUIRE(q.front() != nullptr);
  CAF_CHECK_EQUAL(q.front()->stmt.sql, "r2"); // the latest retry goes first
  std::vector<std::string> order;
  while (!q.empty())
    order.push_back(q.pop_front().stmt.sql);
  CAF_CHECK_EQUAL(order, (std::vector<std::string>{"r2", "r1", "a", "b"}));
  CAF_CHECK_EQUAL(q.next_deadline(), caf::timespan::max());
}

CAF_TEST(deadlines expire oldest first and only when due) {
  waiter_queue q;
  q.push(make(0s, 3s, "late"), false);
  q.push(make(1s, 1s, "early"), false); // deadline 2 s
  q.push(make(0s, 10s, "never"), false);
  CAF_CHECK_EQUAL(q.next_deadline(), caf::timespan{2s});
  CAF_CHECK(q.take_expired(1999ms).empty());
  auto due = q.take_expired(3s);
  CAF_REQUIRE_EQUAL(due.size(), 2u);
  CAF_CHECK_EQUAL(due[0].stmt.sql, "early");
  CAF_CHECK_EQUAL(due[1].stmt.sql, "late");
  CAF_CHECK_EQUAL(q.size(), 1u);
  CAF_CHECK_EQUAL(q.next_deadline(), caf::timespan{10s});
  CAF_CHECK_EQUAL(q.oldest_since(), caf::timespan{0s});
}

CAF_TEST(a parked waiter keeps its place and its deadline) {
  waiter_queue q;
  q.push(make(0s, 5s, "first"), false);
  q.push(make(0s, 5s, "second"), false);
  q.park_front(7); // "first" waits for connection 7's validation
  CAF_CHECK_EQUAL(q.size(), 1u);
  CAF_REQUIRE(q.front() != nullptr);
  CAF_CHECK_EQUAL(q.front()->stmt.sql, "second");
  // The validation failed: "first" is ready again, ahead of "second".
  q.unpark(7);
  CAF_CHECK_EQUAL(q.size(), 2u);
  CAF_CHECK_EQUAL(q.front()->stmt.sql, "first");
  // Parked again, then served by the connection it waited for.
  q.park_front(3);
  auto w = q.take_parked(3);
  CAF_REQUIRE(w.has_value());
  CAF_CHECK_EQUAL(w->stmt.sql, "first");
  CAF_CHECK(!q.take_parked(3).has_value());
  CAF_CHECK_EQUAL(q.size(), 1u);
  q.unpark(3); // nothing parked there: harmless
  CAF_CHECK_EQUAL(q.size(), 1u);
}

CAF_TEST(a parked waiter expires at its deadline) {
  waiter_queue q;
  q.push(make(0s, 1s, "parked at once"), false, 4);
  CAF_CHECK(q.empty()); // parked waiters are not ready to be served
  CAF_CHECK_EQUAL(q.next_deadline(), caf::timespan{1s});
  auto due = q.take_expired(1s);
  CAF_REQUIRE_EQUAL(due.size(), 1u);
  CAF_CHECK_EQUAL(due[0].stmt.sql, "parked at once");
  // The connection's validation ends later and finds nobody.
  CAF_CHECK(!q.take_parked(4).has_value());
  CAF_CHECK_EQUAL(q.next_deadline(), caf::timespan::max());
}

CAF_TEST(take all returns parked and ready waiters in FIFO order) {
  waiter_queue q;
  q.push(make(0s, 5s, "a"), false);
  q.push(make(0s, 5s, "b"), false);
  q.push(make(0s, 5s, "c"), false);
  q.park_front(1);
  auto all = q.take_all();
  CAF_REQUIRE_EQUAL(all.size(), 3u);
  CAF_CHECK_EQUAL(all[0].stmt.sql, "a");
  CAF_CHECK_EQUAL(all[2].stmt.sql, "c");
  CAF_CHECK(q.empty());
  CAF_CHECK(!q.take_parked(1).has_value());
  CAF_CHECK_EQUAL(q.next_deadline(), caf::timespan::max());
}

namespace {

waiter make_class(caf::timespan since, pool::priority prio, std::string sql) {
  auto w = make(since, 60s, std::move(sql));
  w.prio = prio;
  return w;
}

} // namespace

CAF_TEST(higher classes first then FIFO and retries before all) {
  using pool::priority;
  waiter_queue q; // no aging: strict classes
  q.push(make_class(0s, priority::batch, "b1"), false);
  q.push(make_class(0s, priority::normal, "n1"), false);
  q.push(make_class(0s, priority::interactive, "i1"), false);
  q.push(make_class(0s, priority::batch, "b2"), false);
  q.push(make_class(0s, priority::interactive, "i2"), false);
  q.push(make_class(0s, priority::batch, "r"), true);
  CAF_CHECK_EQUAL(q.count(priority::batch), 3u);
  CAF_CHECK_EQUAL(q.count(priority::interactive), 2u);
  // Parking the front skips it; unparking puts it back in place.
  auto parked = q.park_front(7);
  CAF_CHECK_EQUAL(q.front()->stmt.sql, "i1");
  CAF_CHECK_EQUAL(q.size(), 5u);
  q.unpark(7);
  CAF_CHECK_EQUAL(q.front()->id, parked);
  std::vector<std::string> order;
  while (!q.empty())
    order.push_back(q.pop_front().stmt.sql);
  CAF_CHECK_EQUAL(
    order, (std::vector<std::string>{"r", "i1", "i2", "n1", "b1", "b2"}));
  CAF_CHECK_EQUAL(q.count(priority::batch), 0u);
}

CAF_TEST(aging raises a class per interval and ties go to the older) {
  using pool::priority;
  waiter_queue q;
  q.aging(1s);
  q.push(make_class(0s, priority::batch, "b"), false);
  q.push(make_class(500ms, priority::normal, "n"), false);
  q.push(make_class(1500ms, priority::interactive, "i"), false);
  // At 1.6 s: b is normal (aged once), n is interactive, i interactive
  // and younger than n.
  CAF_CHECK_EQUAL(q.front(1600ms)->stmt.sql, "n");
  // At 0.9 s nothing aged yet: the best class, i, goes first.
  CAF_CHECK_EQUAL(q.front(900ms)->stmt.sql, "i");
  // At 1.5 s with n gone: i (interactive) beats b (aged to normal).
  CAF_CHECK_EQUAL(q.pop_front(1500ms).stmt.sql, "n");
  CAF_CHECK_EQUAL(q.front(1500ms)->stmt.sql, "i");
  // At 2 s b reached the top class and is older than i.
  CAF_CHECK_EQUAL(q.front(2s)->stmt.sql, "b");
  // oldest_since looks at every class.
  CAF_CHECK(q.oldest_since() == caf::timespan{0});
}
