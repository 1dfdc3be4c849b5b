// Scenario 6: a client actor is killed while it holds a lease inside an open
// transaction, under load.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE chaos_killed_holder
#include "caf/test/unit_test.hpp"

#include <future>
#include <thread>

#include <unistd.h>

#include "fixture.hpp"
#include "invariants.hpp"
#include "load.hpp"

using namespace chaos;

namespace {

/// Acquires a lease, runs BEGIN, an INSERT and `SELECT pg_backend_pid()` on
/// it, reports the pid (or "error: ...") through `done`, then just stays
/// alive holding the lease.
caf::behavior holder(caf::event_based_actor* self, pool::pool_actor p,
                     std::string table,
                     std::shared_ptr<std::promise<std::string>> done) {
  auto fail = [=](const std::string& what) {
    return [=](caf::error& err) {
      done->set_value("error: " + what + ": " + pool::describe(err));
    };
  };
  self->request(p, caf::timespan{10s}, pool::acquire_atom_v, caf::timespan{5s})
    .then(
      [=](pool::lease& l) {
        self
          ->request(l.worker, caf::timespan{5s}, pool::query_atom_v, l.id,
                    pool::statement{"BEGIN"})
          .then(
            [=](pool::query_result&) {
              self
                ->request(l.worker, caf::timespan{5s}, pool::query_atom_v, l.id,
                          pool::statement{
                            "INSERT INTO " + table + " VALUES ($1)", {42}})
                .then(
                  [=](pool::query_result&) {
                    self
                      ->request(l.worker, caf::timespan{5s}, pool::query_atom_v,
                                l.id,
                                pool::statement{"SELECT pg_backend_pid()"})
                      .then(
                        [=](pool::query_result& r) {
                          done->set_value(r.rows() == 1 ? r.at(0, 0)
                                                        : "error: no pid");
                        },
                        fail("SELECT pg_backend_pid()"));
                  },
                  fail("INSERT"));
            },
            fail("BEGIN"));
      },
      fail("acquire"));
  return {
    [](caf::ok_atom) {
      // nop: holds the lease until killed
    },
  };
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(chaos_killed_holder_tests, fixture)

/// Proves: when a lease holder dies (exit_reason::kill, which it cannot
/// trap) in the middle of a transaction, the pool reclaims the lease within
/// 5 s, rolls the transaction back (its INSERT is not visible, its backend
/// does not stay "idle in transaction"), and the load around it (pooled
/// queries, leases, transactions) is unaffected: every request answered
/// exactly once, correctly.
CAF_TEST(lease holder killed inside a transaction) {
  auto table = "chaos_kill_" + std::to_string(::getpid());
  bool ok = false;
  pg.scalar("CREATE TABLE " + table + " (x int); SELECT 1", ok);
  if (!ok)
    CAF_FAIL("CREATE TABLE " << table << ": " << pg.last_error());
  loaded_pool lp{*this, make_config(pg.pool_conninfo())};
  auto done = std::make_shared<std::promise<std::string>>();
  auto holding = done->get_future();
  auto h = sys.spawn(holder, lp.p, table, done);
  if (holding.wait_for(15s) != std::future_status::ready) {
    caf::anon_send_exit(h, caf::exit_reason::kill);
    CAF_FAIL("the holder did not report within 15 s");
  }
  auto pid = holding.get();
  if (pid.rfind("error: ", 0) == 0) {
    caf::anon_send_exit(h, caf::exit_reason::kill);
    CAF_FAIL("the holder failed: " << pid);
  }
  auto before = stats(lp.p);
  if (!before) {
    caf::anon_send_exit(h, caf::exit_reason::kill);
    CAF_FAIL("stats while holding: " << pool::describe(before.error()));
  }
  CAF_MESSAGE("holding: " << describe(*before));
  // The holder's backend (the load's transactions are idle in transaction
  // between their statements, too).
  auto in_txn_sql = "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid +
                    " AND state LIKE 'idle in transaction%'";
  auto in_txn = pg.scalar(in_txn_sql, ok);
  CAF_MESSAGE("the holder's backend " << pid << " idle in transaction before "
                                      << "the kill: " << in_txn);
  CAF_CHECK_EQUAL(in_txn, "1");
  CAF_CHECK_GREATER_OR_EQUAL(before->leased, 1u);
  auto reclaimed_before = before->leases_reclaimed;
  auto killed = clock_type::now();
  caf::anon_send_exit(h, caf::exit_reason::kill);
  auto res = wait_for_stats(
    lp.p,
    [&](const pool::pool_stats& st) {
      return st.leased == 0 && st.leases_reclaimed > reclaimed_before;
    },
    5000ms);
  CAF_MESSAGE("lease reclaimed "
              << (res.second ? "after " : "NOT within ")
              << (res.second ? ms_since(killed) : 5000)
              << " ms (bound 5000 ms): " << describe(res.first));
  CAF_CHECK(res.second);
  // Rolled back: the INSERT is not visible, from the pool or from outside.
  auto rows = query(lp.p, pool::statement{"SELECT count(*) FROM " + table});
  if (rows && rows->rows() == 1) {
    CAF_CHECK_EQUAL(rows->at(0, 0), "0");
  } else {
    CAF_ERROR("SELECT count(*): " << describe(rows));
  }
  auto outside = pg.scalar("SELECT count(*) FROM " + table, ok);
  CAF_CHECK_EQUAL(outside, "0");
  auto txn_left = std::string{"?"};
  auto deadline = clock_type::now() + 3s;
  do {
    txn_left = pg.scalar(in_txn_sql, ok);
    if (txn_left == "0")
      break;
    std::this_thread::sleep_for(50ms);
  } while (clock_type::now() < deadline);
  CAF_MESSAGE(
    "the holder's backend idle in transaction after the reclaim: " << txn_left);
  CAF_CHECK_EQUAL(txn_left, "0");
  std::this_thread::sleep_for(1000ms);
  auto rep = lp.stop_load();
  check_answers("killed holder", rep, {});
  lp.check_final(*this);
  pg.scalar("DROP TABLE IF EXISTS " + table + "; SELECT 1", ok);
}

CAF_TEST_FIXTURE_SCOPE_END()
