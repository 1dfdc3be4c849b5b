// Leases on a real server: session state on one connection, single-use lease
// ids, cleanup of a lease returned mid-transaction, and reclaiming the lease
// of a holder that died.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE lease
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

namespace {

/// An event-based lease holder: acquires a lease, runs BEGIN and an INSERT on
/// it, reads the row count inside its transaction, reports
/// `(answer_atom, lease_id, count)` to `test`, and then waits to be killed.
caf::behavior holder(caf::event_based_actor* self, pool::pool_actor p,
                     caf::actor test, std::string table) {
  auto fail = [=](caf::error& err) {
    self->send(test, failed_atom::value, pool::describe(err));
  };
  auto wait = caf::timespan{5s};
  self->request(p, 15s, pool::acquire_atom_v, wait)
    .then(
      [=](pool::lease& l) {
        auto w = l.worker;
        auto id = l.id;
        self->request(w, 15s, pool::query_atom_v, id, statement{"BEGIN"})
          .then(
            [=](pool::query_result&) {
              self
                ->request(
                  w, 15s, pool::query_atom_v, id,
                  statement{"INSERT INTO " + table + " VALUES ($1)", {7}})
                .then(
                  [=](pool::query_result&) {
                    self
                      ->request(w, 15s, pool::query_atom_v, id,
                                statement{"SELECT count(*) FROM " + table})
                      .then(
                        [=](pool::query_result& r) {
                          self->send(test, answer_atom::value, id,
                                     r.rows() == 1 ? r.at(0, 0)
                                                   : std::string{"?"});
                        },
                        fail);
                  },
                  fail);
            },
            fail);
      },
      fail);
  return {
    [](caf::ok_atom) {
      // nop: stay alive holding the lease until killed
    },
  };
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(lease_tests, fixture)

/// Proves: SET on a lease is visible to later statements on that lease (one
/// session); release answers ok once; a released lease id is rejected for
/// queries and for a second release.
CAF_TEST(session state and single use ids) {
  auto p = spawn(1, 2);
  auto l = acquire(p);
  IT_REQUIRE_OK(l);
  CAF_CHECK(l->worker != nullptr);
  auto set = query(*l, "SET application_name = 'lease_test'");
  IT_REQUIRE_OK(set);
  CAF_CHECK_EQUAL(set->command_tag, "SET");
  CAF_CHECK_EQUAL(scalar(*l, "SHOW application_name"), "lease_test");
  // Also a second SET on the same session, read back through a function.
  IT_REQUIRE_OK(query(*l, "SET search_path = pg_catalog, public"));
  CAF_CHECK_EQUAL(scalar(*l, "SELECT current_setting('search_path')"),
                  "pg_catalog, public");
  CAF_CHECK_EQUAL(scalar(*l, "SHOW application_name"), "lease_test");
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->leased, 1u);
  // A wrong id on the right worker is rejected, and the lease survives it.
  auto wrong = query(*l, l->id + 1000, "SELECT 1");
  IT_CHECK_ERRC(wrong, pool::pool_errc::invalid_lease);
  CAF_CHECK_EQUAL(scalar(*l, "SHOW application_name"), "lease_test");
  // Release once: ok.
  auto rel = release(p, l->id);
  CAF_CHECK(rel);
  if (!rel)
    CAF_ERROR("release: " << pool::describe(rel.error()));
  // The released id is dead everywhere.
  auto after = query(*l, "SELECT 1");
  IT_CHECK_ERRC(after, pool::pool_errc::invalid_lease);
  auto rel2 = release(p, l->id);
  IT_CHECK_ERRC(rel2, pool::pool_errc::invalid_lease);
  auto never = release(p, 987654321u);
  IT_CHECK_ERRC(never, pool::pool_errc::invalid_lease);
  // The double release did not put the connection into the idle set twice.
  auto s = wait_for_stats(p, [](const pool::pool_stats& x) {
    return x.leased == 0 && x.cleaning == 0 && x.busy == 0;
  });
  CAF_CHECK(s.second);
  CAF_CHECK_EQUAL(s.first.leased, 0u);
  CAF_CHECK_EQUAL(s.first.idle, s.first.total);
  CAF_CHECK_LESS_OR_EQUAL(s.first.total, 2u);
  // The next lease gets a fresh id.
  auto l2 = acquire(p);
  IT_REQUIRE_OK(l2);
  CAF_CHECK_NOT_EQUAL(l2->id, l->id);
  CAF_CHECK(release(p, l2->id));
}

/// Proves: a lease released inside an open transaction is rolled back: the
/// row is gone, and the (only) connection then runs outside a transaction,
/// so its later autocommit writes are visible to other sessions.
CAF_TEST(release inside a transaction rolls back) {
  auto p = spawn(1, 1);
  auto t = table_name("lease_tx");
  exec(p, "DROP TABLE IF EXISTS " + t);
  exec(p, "CREATE TABLE " + t + " (v text)");
  auto l = acquire(p);
  IT_REQUIRE_OK(l);
  IT_REQUIRE_OK(query(*l, "BEGIN"));
  IT_REQUIRE_OK(
    query(*l, statement{"INSERT INTO " + t + " VALUES ($1)", {"uncommitted"}}));
  CAF_CHECK_NOT_EQUAL(scalar(*l, "SELECT txid_current_if_assigned()"),
                      "<NULL>");
  CAF_CHECK_EQUAL(scalar(*l, "SELECT count(*) FROM " + t), "1");
  auto rel = release(p, l->id);
  CAF_CHECK(rel);
  if (!rel)
    CAF_ERROR("release: " << pool::describe(rel.error()));
  // max_size = 1: these run on the connection that was just returned (or on
  // its replacement if the pool discarded it), outside any transaction.
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
  CAF_CHECK_EQUAL(scalar(p, "SELECT count(*) FROM " + t), "0");
  exec(p, statement{"INSERT INTO " + t + " VALUES ($1)", {"committed"}});
  // Another session (a second pool) sees the autocommitted row only.
  auto other = spawn(1, 1);
  CAF_CHECK_EQUAL(scalar(other, "SELECT string_agg(v, ',') FROM " + t),
                  "committed");
  exec(p, "DROP TABLE " + t);
}

/// Proves: when the actor holding a lease dies mid-transaction, the pool
/// reclaims the lease (leased goes back to 0) and the INSERT is rolled back.
CAF_TEST(holder death reclaims the lease) {
  auto p = spawn(1, 1);
  auto t = table_name("lease_holder");
  exec(p, "DROP TABLE IF EXISTS " + t);
  exec(p, "CREATE TABLE " + t + " (v int)");
  auto h = sys.spawn(holder, p, caf::actor{self}, t);
  self->monitor(h);
  bool reported = false;
  uint64_t lease_id = 0;
  self->receive(
    [&](answer_atom, uint64_t id, std::string& count) {
      reported = true;
      lease_id = id;
      // The INSERT really happened inside the holder's transaction.
      CAF_CHECK_EQUAL(count, "1");
    },
    [&](failed_atom, std::string& what) {
      CAF_ERROR("holder failed: " << what);
    },
    caf::after(std::chrono::seconds(20)) >>
      [&] { CAF_ERROR("holder did not report within 20 s"); });
  if (!reported) {
    caf::anon_send_exit(h, caf::exit_reason::kill);
    CAF_FAIL("cannot test reclaiming without a lease");
  }
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->leased, 1u);
  CAF_CHECK_EQUAL(st->leases_reclaimed, 0u);
  // Kill the holder (kill cannot be trapped) and see it die.
  self->send_exit(h, caf::exit_reason::kill);
  bool down = false;
  self->receive([&](caf::down_msg& dm) { down = dm.source == h.address(); },
                caf::after(std::chrono::seconds(5)) >>
                  [&] { CAF_ERROR("holder did not die"); });
  CAF_CHECK(down);
  // The lease comes back within a bounded wait.
  auto s = wait_for_stats(p, [](const pool::pool_stats& x) {
    return x.leased == 0 && x.cleaning == 0 && x.total == x.idle;
  });
  CAF_CHECK(s.second);
  CAF_CHECK_EQUAL(s.first.leased, 0u);
  CAF_CHECK_EQUAL(s.first.leases_reclaimed, 1u);
  CAF_CHECK_LESS_OR_EQUAL(s.first.total, 1u);
  // The holder's INSERT was rolled back, and the only connection is clean.
  CAF_CHECK_EQUAL(scalar(p, "SELECT count(*) FROM " + t), "0");
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
  // The pool hands out leases again, with a new id.
  auto l = acquire(p);
  IT_REQUIRE_OK(l);
  CAF_CHECK_NOT_EQUAL(l->id, lease_id);
  CAF_CHECK_EQUAL(scalar(*l, "SELECT count(*) FROM " + t), "0");
  CAF_CHECK(release(p, l->id));
  exec(p, "DROP TABLE " + t);
}

CAF_TEST_FIXTURE_SCOPE_END()
