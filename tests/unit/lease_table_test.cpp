// The manager's lease table as a plain class: unique single-use ids, the
// connection of each lease, holders counted (monitored once), leaks reported
// once, lease timeouts. Actors appear only as holder addresses.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE lease_table
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <chrono>

#include "caf/all.hpp"

#include "lease_table.hpp"

using namespace std::chrono_literals;
using pool::lease_table;

namespace {

struct fixture : test_coordinator_fixture<> {
  /// A distinct address per holder.
  caf::actor_addr holder() {
    auto a = sys.spawn([]() -> caf::behavior { return {[](int) {}}; });
    actors.push_back(a);
    return a.address();
  }

  ~fixture() override {
    for (auto& a : actors)
      anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  std::vector<caf::actor> actors;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(lease_table_tests, fixture)

CAF_TEST(ids are unique and a lease ends once) {
  lease_table t;
  auto alice = holder();
  auto a = t.open(1, alice, 0s);
  auto b = t.open(2, alice, 0s);
  CAF_REQUIRE(a && b);
  CAF_CHECK_NOT_EQUAL(a->id, b->id);
  CAF_CHECK(!t.open(1, alice, 0s)); // connection 1 is leased already
  CAF_CHECK_EQUAL(t.size(), 2u);
  CAF_REQUIRE(t.find(a->id) != nullptr);
  CAF_CHECK_EQUAL(t.find(a->id)->conn, 1u);
  CAF_CHECK_EQUAL(t.lease_on(2), b->id);
  auto ended = t.close(a->id);
  CAF_REQUIRE(ended);
  CAF_CHECK_EQUAL(ended->conn, 1u);
  CAF_CHECK(ended->holder == alice);
  CAF_CHECK(!t.close(a->id)); // a second release finds nothing
  CAF_CHECK(t.find(a->id) == nullptr);
  CAF_CHECK(!t.lease_on(1));
  // A new lease on the same connection gets a new id.
  auto c = t.open(1, alice, 1s);
  CAF_REQUIRE(c);
  CAF_CHECK_NOT_EQUAL(c->id, a->id);
  CAF_CHECK_NOT_EQUAL(c->id, b->id);
  CAF_CHECK(!t.close(0)); // never issued
}

CAF_TEST(each holder is monitored once and forgotten with its last lease) {
  lease_table t;
  auto alice = holder();
  auto bob = holder();
  auto a1 = t.open(1, alice, 0s);
  auto a2 = t.open(2, alice, 0s);
  auto b1 = t.open(3, bob, 0s);
  CAF_REQUIRE(a1 && a2 && b1);
  CAF_CHECK(a1->new_holder);  // monitor alice
  CAF_CHECK(!a2->new_holder); // alice is monitored already
  CAF_CHECK(b1->new_holder);
  CAF_CHECK_EQUAL(t.holder_count(), 2u);
  CAF_CHECK_EQUAL(t.held_by(alice), (std::vector<uint64_t>{a1->id, a2->id}));
  CAF_CHECK_EQUAL(t.held_by(bob), (std::vector<uint64_t>{b1->id}));
  auto e1 = t.close(a1->id);
  CAF_REQUIRE(e1);
  CAF_CHECK(!e1->last_of_holder); // alice still holds a2
  CAF_CHECK(t.holds(alice));
  auto e2 = t.close_conn(2); // a2's connection died
  CAF_REQUIRE(e2);
  CAF_CHECK(e2->last_of_holder); // demonitor alice
  CAF_CHECK(!t.holds(alice));
  CAF_CHECK(t.held_by(alice).empty());
  CAF_CHECK(!t.close_conn(2));
  CAF_CHECK_EQUAL(t.holder_count(), 1u);
}

CAF_TEST(leaks are reported once and timeouts are found) {
  lease_table t;
  auto alice = holder();
  auto old_one = t.open(1, alice, 0s);
  auto young = t.open(2, alice, 8s);
  CAF_REQUIRE(old_one && young);
  CAF_CHECK(t.take_leaks(4s, 5s).empty());
  CAF_CHECK_EQUAL(t.take_leaks(5s, 5s), (std::vector<uint64_t>{old_one->id}));
  CAF_CHECK(t.find(old_one->id)->leak_reported);
  CAF_CHECK(t.take_leaks(9s, 5s).empty()); // reported already
  CAF_CHECK_EQUAL(t.take_leaks(13s, 5s), (std::vector<uint64_t>{young->id}));
  CAF_CHECK(t.overdue(9s, 10s).empty());
  CAF_CHECK_EQUAL(t.overdue(10s, 10s), (std::vector<uint64_t>{old_one->id}));
  CAF_CHECK_EQUAL(t.overdue(18s, 10s),
                  (std::vector<uint64_t>{old_one->id, young->id}));
  t.close(old_one->id);
  CAF_CHECK_EQUAL(t.overdue(18s, 10s), (std::vector<uint64_t>{young->id}));
}

CAF_TEST_FIXTURE_SCOPE_END()
