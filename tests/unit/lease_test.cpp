#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE lease
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct lease_fixture : fixture {
  pool_actor pool;

  lease_fixture() { pool = start(make_config(1, 1)); }

  lease acquire() {
    auto o = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
    sched.run();
    if (!o->ok())
      CAF_FAIL("acquire failed: " << describe(o->err));
    return *o->value;
  }

  outcome_ptr<caf::ok_atom> release(uint64_t id) {
    auto o = ask<caf::ok_atom>(pool, release_atom::value, id);
    sched.run();
    return o;
  }

  outcome_ptr<query_result> query_on(const lease& l, uint64_t id,
                                     std::string sql) {
    auto o = ask<query_result>(l.worker, query_atom::value, id,
                               statement{std::move(sql)});
    sched.run();
    return o;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(lease_tests, lease_fixture)

// Queries on a lease run on its connection; lease ids are unique.
CAF_TEST(queries on a lease run on the leased connection) {
  auto l = acquire();
  CAF_CHECK_NOT_EQUAL(l.id, 0u);
  CAF_CHECK(query_on(l, l.id, "SET search_path = x")->ok());
  CAF_CHECK(query_on(l, l.id, "SHOW search_path")->ok());
  CAF_CHECK(
    query_on(l, l.id + 1, "SELECT 1")->failed_with(pool_errc::invalid_lease));
  CAF_CHECK(release(l.id)->ok());
  auto l2 = acquire();
  CAF_CHECK_NOT_EQUAL(l2.id, l.id);
  auto log = script->log_of(1);
  std::vector<std::string> want{"SET search_path = x", "SHOW search_path"};
  CAF_CHECK_EQUAL(log, want);
}

// A second release and the release of an unknown lease are rejected, and the
// connection is not put into the idle set twice.
CAF_TEST(double release is rejected without corrupting the idle set) {
  auto l = acquire();
  CAF_CHECK(release(l.id)->ok());
  CAF_CHECK(release(l.id)->failed_with(pool_errc::invalid_lease));
  CAF_CHECK(release(4711)->failed_with(pool_errc::invalid_lease));
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(st.total, 1u);
  // With one connection, a second acquire must wait while the first is held.
  auto a = acquire();
  auto b = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_CHECK_EQUAL(b->answers, 0);
  CAF_CHECK(
    query_on(a, l.id, "SELECT 1")->failed_with(pool_errc::invalid_lease));
  CAF_CHECK(release(a.id)->ok());
  CAF_CHECK(b->ok());
}

// The holder is monitored: when it dies, its lease is reclaimed and the
// connection serves the next request.
CAF_TEST(holder death reclaims its lease) {
  auto o = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(o->ok());
  auto l = *o->value;
  auto next = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_CHECK_EQUAL(next->answers, 0);
  caf::anon_send_exit(o->client, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK(next->ok());
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.leases_reclaimed, 1u);
  CAF_CHECK_EQUAL(st.leased, 1u);
  CAF_CHECK(
    query_on(l, l.id, "SELECT 1")->failed_with(pool_errc::invalid_lease));
  CAF_CHECK(release(l.id)->failed_with(pool_errc::invalid_lease));
}

// A lease released inside a transaction is rolled back before the
// connection is reused.
CAF_TEST(lease returned inside a transaction is rolled back) {
  auto l = acquire();
  CAF_CHECK(query_on(l, l.id, "BEGIN")->ok());
  CAF_CHECK(query_on(l, l.id, "INSERT INTO t VALUES (1)")->ok());
  CAF_CHECK(release(l.id)->ok());
  auto log = script->log_of(1);
  CAF_REQUIRE(!log.empty());
  CAF_CHECK_EQUAL(log.back(), "ROLLBACK");
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(script->closed, 0);
}

// A dying holder's open transaction is rolled back too.
CAF_TEST(holder death inside a transaction rolls back) {
  auto o = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  auto l = *o->value;
  CAF_CHECK(query_on(l, l.id, "BEGIN")->ok());
  caf::anon_send_exit(o->client, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(last_statement(1), "ROLLBACK");
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
}

// If the rollback fails, the connection's state is unknown: it is discarded
// (and replaced, since min_size is 1), never handed out again.
CAF_TEST(a connection that cannot be rolled back is discarded) {
  script->rules["ROLLBACK"].error =
    make_error(pool_errc::query_failed, "boom", "XX000");
  auto l = acquire();
  CAF_CHECK(query_on(l, l.id, "BEGIN")->ok());
  CAF_CHECK(release(l.id)->ok());
  CAF_CHECK_EQUAL(script->closed, 1);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_closed, 1u);
  CAF_CHECK_EQUAL(st.total, 1u);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(script->created, 2);
}

// Queries sent on a lease before its release still run, in order.
CAF_TEST(lease queries run in order) {
  script->default_latency = 1ms;
  auto l = acquire();
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 0; i < 5; ++i)
    qs.push_back(ask<query_result>(l.worker, query_atom::value, l.id,
                                   statement{"SELECT " + std::to_string(i)}));
  sched.run();
  for (int i = 0; i < 10; ++i) {
    advance_time(1ms);
    sched.run();
  }
  for (auto& q : qs)
    CAF_CHECK(q->ok());
  std::vector<std::string> want;
  for (int i = 0; i < 5; ++i)
    want.push_back("SELECT " + std::to_string(i));
  CAF_CHECK_EQUAL(script->log_of(1), want);
}

CAF_TEST_FIXTURE_SCOPE_END()
