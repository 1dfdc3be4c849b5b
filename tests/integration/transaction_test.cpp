// Transactions in one message: all results after COMMIT, or a rollback with
// the failing statement's SQLSTATE.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE transaction
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

namespace {

struct txn_fixture : fixture {
  std::string t = table_name("txn");
  pool::pool_actor p;

  txn_fixture() {
    p = spawn(1, 1);
    exec(p, "DROP TABLE IF EXISTS " + t);
    exec(p, "CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
  }

  ~txn_fixture() {
    auto r = query(p, "DROP TABLE IF EXISTS " + t);
    if (!r)
      CAF_ERROR("drop table: " << pool::describe(r.error()));
  }

  std::string count(const std::string& where = "true") {
    return scalar(p, "SELECT count(*) FROM " + t + " WHERE " + where);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(transaction_tests, txn_fixture)

/// Proves: a transaction's statements all run and commit, one result per
/// statement in order, and the rows are visible afterwards.
CAF_TEST(commit) {
  auto r = transaction(
    p, {statement{"INSERT INTO " + t + " VALUES ($1, $2), ($3, $4)",
                  {1, "one", 2, "two"}},
        statement{"UPDATE " + t + " SET v = upper(v) WHERE id = $1", {2}},
        statement{"INSERT INTO " + t + " VALUES ($1, $2)", {3, nullptr}},
        statement{"SELECT count(*), txid_current_if_assigned() IS NOT NULL "
                  "FROM " +
                  t}});
  IT_REQUIRE_OK(r);
  CAF_REQUIRE_EQUAL(r->size(), 4u);
  CAF_CHECK_EQUAL((*r)[0].command_tag, "INSERT 0 2");
  CAF_CHECK_EQUAL((*r)[0].affected, 2);
  CAF_CHECK_EQUAL((*r)[1].command_tag, "UPDATE 1");
  CAF_CHECK_EQUAL((*r)[1].affected, 1);
  CAF_CHECK_EQUAL((*r)[2].command_tag, "INSERT 0 1");
  CAF_REQUIRE_EQUAL((*r)[3].rows(), 1u);
  CAF_CHECK_EQUAL((*r)[3].at(0, 0), "3"); // sees its own inserts
  CAF_CHECK_EQUAL((*r)[3].at(0, 1), "t"); // ran inside one transaction
  // Committed: visible to the next statement, which runs outside it.
  CAF_CHECK_EQUAL(count(), "3");
  CAF_CHECK_EQUAL(scalar(p, "SELECT v FROM " + t + " WHERE id = 2"), "TWO");
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
}

/// Proves: a unique violation in the 2nd statement rolls back the 1st one and
/// reports query_failed with SQLSTATE 23505.
CAF_TEST(rollback on unique violation) {
  exec(p, statement{"INSERT INTO " + t + " VALUES ($1, $2)", {1, "pre"}});
  auto r = transaction(
    p, {statement{"INSERT INTO " + t + " VALUES ($1, $2)", {10, "ten"}},
        statement{"INSERT INTO " + t + " VALUES ($1, $2)", {1, "dup"}},
        statement{"INSERT INTO " + t + " VALUES ($1, $2)", {11, "never"}}});
  IT_CHECK_ERRC(r, pool::pool_errc::query_failed);
  if (!r) {
    CAF_CHECK_EQUAL(pool::sqlstate(r.error()), "23505");
    CAF_MESSAGE("transaction -> " << pool::describe(r.error()));
  }
  CAF_CHECK_EQUAL(count("id = 10"), "0");
  CAF_CHECK_EQUAL(count("id = 11"), "0");
  CAF_CHECK_EQUAL(count(), "1");
  CAF_CHECK_EQUAL(scalar(p, "SELECT v FROM " + t + " WHERE id = 1"), "pre");
  // The only connection is clean again: outside a transaction, usable.
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
  exec(p, statement{"INSERT INTO " + t + " VALUES ($1, $2)", {10, "later"}});
  CAF_CHECK_EQUAL(count("id = 10"), "1");
}

/// Proves: a division by zero in the 2nd statement rolls back the 1st one
/// and reports SQLSTATE 22012.
CAF_TEST(rollback on division by zero) {
  auto r = transaction(
    p, {statement{"INSERT INTO " + t + " VALUES ($1, $2)", {20, "twenty"}},
        statement{"SELECT 1 / $1::int", {0}}});
  IT_CHECK_ERRC(r, pool::pool_errc::query_failed);
  if (!r)
    CAF_CHECK_EQUAL(pool::sqlstate(r.error()), "22012");
  CAF_CHECK_EQUAL(count("id = 20"), "0");
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
  // The pool goes on committing transactions.
  auto again = transaction(
    p, {statement{"INSERT INTO " + t + " VALUES ($1, $2)", {21, "x"}}});
  IT_REQUIRE_OK(again);
  CAF_CHECK_EQUAL(again->size(), 1u);
  CAF_CHECK_EQUAL(count("id = 21"), "1");
}

CAF_TEST_FIXTURE_SCOPE_END()
