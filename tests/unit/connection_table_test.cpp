// The manager's connection table as a plain class: states, the idle stack,
// credit (never negative, never above the worker's capacity), the
// connections with credit left, and the demand the pool grows by.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE connection_table
#include "caf/test/unit_test.hpp"

#include <chrono>
#include <random>
#include <string>

#include "connection_table.hpp"

using namespace std::chrono_literals;
using pool::conn_state;
using pool::connection_table;

namespace {

// Checks the table's invariants, naming the broken one.
#define CHECK_INVARIANTS(t)                                                    \
  do {                                                                         \
    std::string why_;                                                          \
    CAF_CHECK_EQUAL((t).check(why_), true);                                    \
    CAF_CHECK_EQUAL(why_, "");                                                 \
  } while (false)

conn_state state(const connection_table& t, uint32_t id) {
  auto e = t.find(id);
  CAF_REQUIRE(e != nullptr);
  return e->state;
}

uint32_t credit(const connection_table& t, uint32_t id) {
  auto e = t.find(id);
  CAF_REQUIRE(e != nullptr);
  return e->credit;
}

} // namespace

CAF_TEST(a new connection is free until parked and the idle stack is LIFO) {
  connection_table t;
  CAF_CHECK(t.add(1, {}, 1, 0s));
  CAF_CHECK(t.add(2, {}, 4, 0s));
  CAF_CHECK(!t.add(2, {}, 4, 0s)); // known already
  CAF_CHECK(!t.add(3, {}, 0, 0s)); // capacity 0
  CAF_CHECK_EQUAL(t.size(), 2u);
  CAF_CHECK_EQUAL(state(t, 2), conn_state::busy);
  CAF_CHECK_EQUAL(credit(t, 2), 4u); // all its credit: free
  CAF_CHECK_EQUAL(t.idle_count(), 0u);
  CAF_CHECK_EQUAL(t.demand(), 2u); // not placed yet: counted in use
  CAF_CHECK(t.park(1, 1s));
  CAF_CHECK(t.park(2, 2s));
  CAF_CHECK(!t.park(2, 3s)); // idle already
  CHECK_INVARIANTS(t);
  CAF_CHECK_EQUAL(t.idle_count(), 2u);
  CAF_CHECK_EQUAL(t.top_idle(), 2u); // most recently used first
  CAF_CHECK_EQUAL(t.find(2)->idle_since, caf::timespan{2s});
  CAF_CHECK_EQUAL(t.demand(), 0u);
  CAF_CHECK(t.run(2, false));
  CAF_CHECK_EQUAL(t.top_idle(), 1u);
  CAF_CHECK(t.run(1, false));
  CAF_CHECK_EQUAL(t.top_idle(), connection_table::none);
  CHECK_INVARIANTS(t);
}

CAF_TEST(pipelined queries take one credit each and done gives them back) {
  connection_table t;
  t.add(7, {}, 3, 0s);
  t.park(7, 0s);
  CAF_CHECK_EQUAL(t.pick_with_credit(), connection_table::none);
  CAF_CHECK(t.run(7, true));
  CAF_CHECK_EQUAL(state(t, 7), conn_state::piping);
  CAF_CHECK_EQUAL(credit(t, 7), 2u);
  CAF_CHECK_EQUAL(t.pick_with_credit(), 7u);
  CAF_CHECK(t.run(7, true));
  CAF_CHECK(t.run(7, true));
  CAF_CHECK_EQUAL(credit(t, 7), 0u);
  CAF_CHECK_EQUAL(t.pick_with_credit(), connection_table::none);
  CAF_CHECK(!t.run(7, true));  // no credit left: never negative
  CAF_CHECK(!t.run(7, false)); // not free
  CAF_CHECK_EQUAL(t.demand(), 3u);
  CHECK_INVARIANTS(t);
  bool freed = true;
  CAF_CHECK(t.give_back(7, 2, freed));
  CAF_CHECK(!freed);
  CAF_CHECK_EQUAL(credit(t, 7), 2u);
  CAF_CHECK_EQUAL(t.pick_with_credit(), 7u);
  CAF_CHECK(!t.give_back(7, 2, freed)); // more than was taken: refused
  CAF_CHECK_EQUAL(credit(t, 7), 2u);    // and nothing changed
  CAF_CHECK(!t.give_back(7, 0, freed));
  CAF_CHECK(t.give_back(7, 1, freed));
  CAF_CHECK(freed);
  CAF_CHECK_EQUAL(state(t, 7), conn_state::busy); // free, to be placed
  CAF_CHECK_EQUAL(t.pick_with_credit(), connection_table::none);
  CHECK_INVARIANTS(t);
  CAF_CHECK(t.park(7, 5s));
  CAF_CHECK_EQUAL(state(t, 7), conn_state::idle);
  CHECK_INVARIANTS(t);
}

CAF_TEST(exclusive uses take all credit) {
  connection_table t;
  t.add(1, {}, 4, 0s);
  t.park(1, 0s);
  CAF_CHECK(t.run(1, false));
  CAF_CHECK_EQUAL(state(t, 1), conn_state::busy);
  CAF_CHECK_EQUAL(credit(t, 1), 0u);
  CAF_CHECK(!t.run(1, true)); // a transaction shares with nobody
  CAF_CHECK_EQUAL(t.pick_with_credit(), connection_table::none);
  CAF_CHECK_EQUAL(t.demand(), 1u); // one operation, not four
  bool freed = false;
  CAF_CHECK(!t.give_back(1, 5, freed)); // above capacity
  CAF_CHECK(t.give_back(1, 4, freed));
  CAF_CHECK(freed);
  // A worker of capacity 1 has no pipeline: a pipelined run is refused.
  t.add(2, {}, 1, 0s);
  CAF_CHECK(!t.run(2, true));
  CAF_CHECK(t.run(2, false));
  CHECK_INVARIANTS(t);
}

CAF_TEST(hand outs are counted and joining a pipeline or a ping is not ) {
  connection_table t;
  t.add(1, {}, 4, 0s);
  t.park(1, 0s);
  auto uses = [&] { return t.find(1)->uses; };
  CAF_CHECK_EQUAL(uses(), 0u);
  CAF_CHECK(t.run(1, true)); // starts a pipeline: a hand-out
  CAF_CHECK_EQUAL(uses(), 1u);
  CAF_CHECK(t.run(1, true)); // joins it: not one
  CAF_CHECK_EQUAL(uses(), 1u);
  bool freed = false;
  CAF_CHECK(t.give_back(1, 2, freed));
  CAF_CHECK(freed);
  CAF_CHECK(t.validate(1)); // a ping is no hand-out
  CAF_CHECK_EQUAL(uses(), 1u);
  CAF_CHECK(t.validated(1, 1s));
  CAF_CHECK(t.lease(1));
  CAF_CHECK_EQUAL(uses(), 2u);
  CAF_CHECK(!t.lease(1)); // refused: counts nothing
  CAF_CHECK(!t.run(1, false));
  CAF_CHECK_EQUAL(uses(), 2u);
  CHECK_INVARIANTS(t);
}

CAF_TEST(the least loaded connection with credit is picked and retiring ones
           are not ) {
  connection_table t;
  for (uint32_t id : {1u, 2u}) {
    t.add(id, {}, 4, 0s);
    t.park(id, 0s);
  }
  t.run(1, true);
  t.run(1, true);
  t.run(2, true);
  CAF_CHECK_EQUAL(t.pick_with_credit(), 2u); // 1 in flight against 2
  CAF_CHECK_EQUAL(t.demand(), 3u);
  CAF_CHECK(t.retire(2));
  CAF_CHECK_EQUAL(t.pick_with_credit(), 1u);
  CAF_CHECK(!t.run(2, true)); // no query joins a retiring connection
  CHECK_INVARIANTS(t);
}

CAF_TEST(leases validations and closing) {
  connection_table t;
  t.add(1, {}, 2, 0s);
  t.park(1, 1s);
  CAF_CHECK(!t.clean(1)); // not leased
  CAF_CHECK(t.lease(1));
  CAF_CHECK(!t.lease(1));
  CAF_CHECK(!t.validate(1));
  CAF_CHECK_EQUAL(state(t, 1), conn_state::leased);
  CAF_CHECK_EQUAL(t.idle_count(), 0u);
  CAF_CHECK_EQUAL(t.demand(), 1u);
  CAF_CHECK(t.clean(1));
  CAF_CHECK_EQUAL(state(t, 1), conn_state::cleaning);
  bool freed = false;
  CAF_CHECK(t.give_back(1, 2, freed)); // the worker cleaned it
  CAF_CHECK(freed);
  CAF_CHECK(t.park(1, 3s));
  CHECK_INVARIANTS(t);
  // A health check leaves the idle stack and comes back keeping its idle
  // time.
  CAF_CHECK(t.validate(1));
  CAF_CHECK_EQUAL(t.idle_count(), 0u);
  CAF_CHECK(!t.give_back(1, 1, freed)); // a ping reports no done
  CAF_CHECK(t.validated(1, 9s));
  CAF_CHECK(!t.validated(1, 9s));
  CAF_CHECK_EQUAL(t.find(1)->last_checked, caf::timespan{9s});
  CAF_CHECK(t.park(1, 9s, true));
  CAF_CHECK_EQUAL(t.find(1)->idle_since, caf::timespan{3s});
  CHECK_INVARIANTS(t);
  // Closing leaves the idle stack; a late done is refused; removal forgets.
  CAF_CHECK(t.close(1));
  CAF_CHECK(!t.close(1));
  CAF_CHECK_EQUAL(t.closing(), 1u);
  CAF_CHECK_EQUAL(t.idle_count(), 0u);
  CAF_CHECK_EQUAL(t.demand(), 0u);
  CAF_CHECK(!t.give_back(1, 1, freed));
  CAF_CHECK(!t.run(1, false));
  CHECK_INVARIANTS(t);
  CAF_CHECK(t.remove(1));
  CAF_CHECK(!t.remove(1));
  CAF_CHECK_EQUAL(t.closing(), 0u);
  CAF_CHECK(t.empty());
  CHECK_INVARIANTS(t);
}

CAF_TEST(a removed piping connection leaves the credit list) {
  connection_table t;
  t.add(1, {}, 4, 0s);
  t.run(1, true);
  CAF_CHECK_EQUAL(t.pick_with_credit(), 1u);
  CAF_CHECK(t.remove(1)); // its worker died mid-pipeline
  CAF_CHECK_EQUAL(t.pick_with_credit(), connection_table::none);
  CHECK_INVARIANTS(t);
}

CAF_TEST(random transitions keep every invariant) {
  // Whatever the manager asks, in any order, the table either refuses or
  // keeps its invariants (credit within [0, capacity], idle <=> in the idle
  // stack, the credit list right, the closing count right).
  connection_table t;
  std::minstd_rand rng{42};
  auto pick = [&](uint32_t n) {
    return std::uniform_int_distribution<uint32_t>{0, n - 1}(rng);
  };
  size_t accepted = 0;
  size_t broken = 0;
  std::string first_broken;
  for (int step = 0; step < 20000; ++step) {
    auto id = pick(6);
    auto t_now = caf::timespan{std::chrono::milliseconds{step}};
    bool freed = false;
    bool ok = false;
    switch (pick(12)) {
    case 0:
      ok = t.add(id, {}, 1 + pick(4), t_now);
      break;
    case 1:
      ok = t.remove(id);
      break;
    case 2:
    case 3:
      ok = t.run(id, pick(2) == 0);
      break;
    case 4:
      ok = t.lease(id);
      break;
    case 5:
      ok = t.clean(id);
      break;
    case 6:
      ok = t.validate(id);
      break;
    case 7:
      ok = t.validated(id, t_now);
      break;
    case 8:
    case 9:
      ok = t.give_back(id, 1 + pick(4), freed);
      break;
    case 10:
      ok = t.park(id, t_now, pick(2) == 0);
      break;
    case 11:
      ok = pick(4) == 0 ? t.close(id) : t.retire(id);
      break;
    }
    if (ok)
      ++accepted;
    std::string why;
    if (!t.check(why) && broken++ == 0)
      first_broken = "step " + std::to_string(step) + ": " + why;
    for (auto cid : t.ids()) {
      auto e = t.find(cid);
      if (e->credit > e->capacity && broken++ == 0)
        first_broken = "credit above capacity";
    }
  }
  CAF_CHECK_EQUAL(first_broken, "");
  CAF_CHECK_EQUAL(broken, 0u);
  CAF_CHECK_GREATER(accepted, 2000u); // the walk did exercise the table
}
