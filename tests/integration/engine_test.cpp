// The libpq connection's one statement engine against a real server: every
// statement is a pipeline segment [Parse,] Bind, Execute, Sync, also a lone
// one. Utility statements that refuse a transaction block still run, a Sync
// inside the user's BEGIN commits nothing, COPY is refused, the statement
// cache survives DISCARD ALL and stale plans, evicted statements are
// deallocated only outside a transaction, a cancelled statement leaves
// its connection usable, and a server error names the user's SQL rather than
// the pool's prepared-statement name.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE engine
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <unistd.h>

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

namespace {

struct engine_fixture : fixture {
  /// A pool of one connection, no validation before handout (nothing but
  /// the test's statements runs on it), statement cache of `cache`.
  pool::pool_actor one_connection(size_t cache = 128) {
    auto pc = make_config(1, 1);
    pc.validate_after_idle = caf::timespan{0};
    pc.statement_cache_size = cache;
    return spawn(std::move(pc));
  }

  /// Acquires a lease (the test aborts on error).
  pool::lease lease_of(const pool::pool_actor& p) {
    auto l = acquire(p);
    if (!l)
      CAF_FAIL("acquire: " << pool::describe(l.error()));
    return *l;
  }

  /// Runs a statement on a lease that must succeed.
  void exec(const pool::lease& l, statement st) {
    auto sql = st.sql;
    auto r = query(l, std::move(st));
    if (!r)
      CAF_FAIL("'" << sql
                   << "' on lease failed: " << pool::describe(r.error()));
  }

  using fixture::exec;

  /// Checks that `r` is query_failed with SQLSTATE `state`.
  void check_state(const caf::expected<pool::query_result>& r,
                   const std::string& state, const std::string& what) {
    if (r) {
      CAF_ERROR(what << ": expected SQLSTATE " << state << ", got a result");
      return;
    }
    CAF_MESSAGE(what << " -> " << pool::describe(r.error()));
    CAF_CHECK(pool::is(r.error(), pool::pool_errc::query_failed));
    CAF_CHECK_EQUAL(pool::sqlstate(r.error()), state);
  }
};

const std::string count_prepared =
  "SELECT count(*) FROM pg_prepared_statements";

} // namespace

CAF_TEST_FIXTURE_SCOPE(engine_tests, engine_fixture)

/// Proves: VACUUM and CREATE / DROP DATABASE, which refuse to run inside a
/// transaction block or a pipeline's implicit transaction shared with
/// another statement, run as pooled queries (each segment has its own Sync),
/// with the cache on and off; and several statements in one text are
/// refused by the server (42601) as the extended protocol does.
CAF_TEST(utility statements that refuse a transaction block run) {
  for (size_t cache : {size_t{128}, size_t{0}}) {
    CAF_MESSAGE("statement_cache_size " << cache);
    auto p = one_connection(cache);
    auto t = table_name("engine_vac");
    exec(p, "DROP TABLE IF EXISTS " + t);
    exec(p, "CREATE TABLE " + t + " (a int)");
    exec(p, "INSERT INTO " + t + " VALUES (1)");
    auto vac = query(p, "VACUUM");
    IT_REQUIRE_OK(vac);
    CAF_CHECK_EQUAL(vac->command_tag, "VACUUM");
    IT_REQUIRE_OK(query(p, "VACUUM (ANALYZE) " + t));
    auto db = "it_engine_db_" + std::to_string(::getpid());
    exec(p, "DROP DATABASE IF EXISTS " + db);
    auto created = query(p, "CREATE DATABASE " + db);
    IT_REQUIRE_OK(created);
    CAF_CHECK_EQUAL(created->command_tag, "CREATE DATABASE");
    CAF_CHECK_EQUAL(scalar(p, statement{"SELECT count(*) FROM pg_database "
                                        "WHERE datname = $1",
                                        {db}}),
                    "1");
    auto dropped = query(p, "DROP DATABASE " + db);
    IT_REQUIRE_OK(dropped);
    CAF_CHECK_EQUAL(dropped->command_tag, "DROP DATABASE");
    CAF_CHECK_EQUAL(scalar(p, statement{"SELECT count(*) FROM pg_database "
                                        "WHERE datname = $1",
                                        {db}}),
                    "0");
    check_state(query(p, "SELECT 1; SELECT 2"), "42601", "two statements");
    CAF_CHECK_EQUAL(scalar(p, "SELECT 3"), "3");
    exec(p, "DROP TABLE " + t);
    shutdown(p);
  }
}

/// Proves: a Sync inside the user's transaction block commits nothing: rows
/// inserted on a lease after BEGIN are invisible to another connection until
/// COMMIT, and gone after ROLLBACK.
CAF_TEST(a sync inside begin commits nothing) {
  auto p = spawn(2, 2);
  auto t = table_name("engine_sync");
  exec(p, "DROP TABLE IF EXISTS " + t);
  exec(p, "CREATE TABLE " + t + " (a int)");
  auto l = lease_of(p);
  exec(l, "BEGIN");
  exec(l, statement{"INSERT INTO " + t + " VALUES ($1)", {1}});
  exec(l, statement{"INSERT INTO " + t + " VALUES ($1)", {2}});
  CAF_CHECK_EQUAL(scalar(l, "SELECT count(*) FROM " + t), "2");
  CAF_CHECK_EQUAL(scalar(p, "SELECT count(*) FROM " + t), "0");
  exec(l, "ROLLBACK");
  CAF_CHECK_EQUAL(scalar(p, "SELECT count(*) FROM " + t), "0");
  exec(l, "BEGIN");
  exec(l, statement{"INSERT INTO " + t + " VALUES ($1)", {3}});
  CAF_CHECK_EQUAL(scalar(p, "SELECT count(*) FROM " + t), "0");
  exec(l, "COMMIT");
  CAF_CHECK_EQUAL(scalar(p, "SELECT count(*) FROM " + t), "1");
  IT_REQUIRE_OK(release(p, l.id));
  exec(p, "DROP TABLE " + t);
}

/// Proves: COPY is refused before sending with invalid_request naming COPY,
/// whatever its letter case and the comments before it, and the connection
/// stays (same backend); a COPY the first word does not show (after a `;`)
/// that the server starts anyway ends in an error, not a hang, and the pool
/// replaces the connection.
CAF_TEST(copy is refused) {
  auto p = one_connection();
  auto pid = scalar(p, "SELECT pg_backend_pid()");
  for (auto sql : {"COPY (SELECT 1) TO STDOUT",
                   "  -- a comment\n /* nested /* one */ */ copy (SELECT 1) TO "
                   "STDOUT",
                   "CoPy pg_class FROM STDIN"}) {
    auto r = query(p, sql);
    IT_CHECK_ERRC(r, pool::pool_errc::invalid_request);
    if (!r) {
      CAF_MESSAGE(sql << " -> " << pool::describe(r.error()));
      CAF_CHECK(pool::describe(r.error()).find("COPY") != std::string::npos);
    }
  }
  CAF_CHECK_EQUAL(scalar(p, "SELECT pg_backend_pid()"), pid);
  auto sneaky = query(p, ";COPY (SELECT 1) TO STDOUT");
  CAF_CHECK(!sneaky);
  if (!sneaky)
    CAF_MESSAGE(";COPY -> " << pool::describe(sneaky.error()));
  CAF_CHECK_EQUAL(scalar(p, "SELECT 4"), "4");
}

/// Proves: DISCARD ALL (which drops the session's prepared statements)
/// empties the cache: the same query runs again afterwards, also inside a
/// transaction block where a stale name could not be retried.
CAF_TEST(discard all empties the cache) {
  auto p = one_connection();
  auto l = lease_of(p);
  statement q{"SELECT $1::int * 3", {param{"5"}}};
  CAF_CHECK_EQUAL(scalar(l, q), "15");
  CAF_CHECK_NOT_EQUAL(scalar(l, count_prepared), "0");
  exec(l, "DISCARD ALL");
  exec(l, "BEGIN");
  CAF_CHECK_EQUAL(scalar(l, q), "15");
  exec(l, "COMMIT");
  CAF_CHECK_EQUAL(scalar(l, q), "15");
  exec(l, "DEALLOCATE ALL");
  exec(l, "BEGIN");
  CAF_CHECK_EQUAL(scalar(l, q), "15");
  exec(l, "COMMIT");
  IT_REQUIRE_OK(release(p, l.id));
}

/// Proves: a cached statement whose result type changed (ALTER TABLE) is
/// re-prepared and re-sent transparently outside a transaction; inside one
/// the error (0A000) is reported, the transaction is aborted (25P02 next),
/// and the entry is dropped all the same: after ROLLBACK the statement runs
/// inside a new transaction.
CAF_TEST(stale plans are retried only outside a transaction) {
  auto p = one_connection();
  auto other = spawn(1, 1);
  auto t = table_name("engine_stale");
  exec(other, "DROP TABLE IF EXISTS " + t);
  exec(other, "CREATE TABLE " + t + " (a int)");
  exec(other, "INSERT INTO " + t + " VALUES (1)");
  auto l = lease_of(p);
  statement sel{"SELECT * FROM " + t + " WHERE $1::int >= 0", {param{"0"}}};
  auto r = query(l, sel);
  IT_REQUIRE_OK(r);
  CAF_CHECK_EQUAL(r->columns.size(), 1u);
  // Outside a transaction: retried transparently.
  exec(other, "ALTER TABLE " + t + " ADD COLUMN b int DEFAULT 2");
  r = query(l, sel);
  if (!r)
    CAF_ERROR("outside a transaction: " << pool::describe(r.error()));
  else
    CAF_CHECK_EQUAL(r->columns.size(), 2u);
  // Inside: reported.
  exec(other, "ALTER TABLE " + t + " ADD COLUMN c int DEFAULT 3");
  exec(l, "BEGIN");
  check_state(query(l, sel), "0A000", "stale plan inside a transaction");
  check_state(query(l, "SELECT 1"), "25P02", "after the error");
  exec(l, "ROLLBACK");
  exec(l, "BEGIN");
  r = query(l, sel);
  if (!r)
    CAF_ERROR(
      "after ROLLBACK, in a new transaction: " << pool::describe(r.error()));
  else
    CAF_CHECK_EQUAL(r->columns.size(), 3u);
  exec(l, "COMMIT");
  IT_REQUIRE_OK(release(p, l.id));
  exec(other, "DROP TABLE " + t);
}

/// Proves: an error inside a transaction block aborts it: the next
/// statement gets 25P02 until ROLLBACK, after which the connection works.
CAF_TEST(an error in a transaction aborts it) {
  auto p = one_connection();
  auto l = lease_of(p);
  exec(l, "BEGIN");
  check_state(query(l, statement{"SELECT 1 / $1::int", {0}}), "22012",
              "division by zero");
  check_state(query(l, "SELECT 1"), "25P02", "next statement");
  check_state(query(l, "SELECT 2"), "25P02", "one more");
  exec(l, "ROLLBACK");
  CAF_CHECK_EQUAL(scalar(l, "SELECT 5"), "5");
  CAF_CHECK_EQUAL(scalar(l, "SELECT txid_current_if_assigned()"), "<NULL>");
  IT_REQUIRE_OK(release(p, l.id));
}

/// Proves: statements evicted from the cache inside a transaction are not
/// deallocated there (the session keeps them all), and are deallocated by
/// the first statement outside it: the session then holds only the cache.
/// A batch is `deallocate_batch` (8) names, so the transaction runs nine
/// distinct statements to evict enough.
CAF_TEST(evicted statements are deallocated outside a transaction) {
  auto p = one_connection(2);
  auto l = lease_of(p);
  exec(l, "BEGIN");
  for (int i = 0; i < 9; ++i)
    exec(l, statement{"SELECT $1::int + " + std::to_string(i), {i}});
  auto inside = std::stoi(scalar(l, count_prepared));
  CAF_MESSAGE(inside << " statements prepared inside the transaction");
  CAF_CHECK_GREATER_OR_EQUAL(inside, 11); // BEGIN, nine, this one
  exec(l, "COMMIT");
  auto outside = std::stoi(scalar(l, count_prepared));
  CAF_MESSAGE(outside << " statements prepared after COMMIT");
  CAF_CHECK_LESS_OR_EQUAL(outside, 2);
  CAF_CHECK_EQUAL(scalar(l, statement{"SELECT $1::int + 100", {1}}), "101");
  IT_REQUIRE_OK(release(p, l.id));
}

/// Proves: a statement past query_timeout is cancelled (answered
/// query_timeout) and its connection stays in the pool, usable at once: the
/// same backend answers the next query, long before the sleep would end.
CAF_TEST(a cancelled statement leaves the connection usable) {
  auto pc = make_config(1, 1);
  pc.validate_after_idle = caf::timespan{0};
  pc.query_timeout = caf::timespan{300ms};
  auto p = spawn(std::move(pc));
  auto pid = scalar(p, "SELECT pg_backend_pid()");
  auto t0 = std::chrono::steady_clock::now();
  auto r = query(p, "SELECT pg_sleep(10)");
  IT_CHECK_ERRC(r, pool::pool_errc::query_timeout);
  CAF_CHECK_EQUAL(scalar(p, "SELECT pg_backend_pid()"), pid);
  auto took = std::chrono::steady_clock::now() - t0;
  CAF_MESSAGE(
    "timeout and next query took "
    << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
    << " ms");
  CAF_CHECK_LESS(took, std::chrono::seconds(5));
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->total, 1u);
}

/// Proves: a statement with more parameters than fit on the stack (16)
/// travels the same (NULLs included), prepared and unnamed.
CAF_TEST(many parameters) {
  for (size_t cache : {size_t{128}, size_t{0}}) {
    auto p = one_connection(cache);
    std::string sql = "SELECT concat_ws(',', ";
    std::vector<param> params;
    for (int i = 1; i <= 40; ++i) {
      sql += (i > 1 ? ", $" : "$") + std::to_string(i) + "::text";
      if (i == 17)
        params.emplace_back(nullptr);
      else
        params.emplace_back(std::to_string(i));
    }
    sql += ")";
    std::string want;
    for (int i = 1; i <= 40; ++i)
      if (i != 17)
        want += (want.empty() ? "" : ",") + std::to_string(i);
    CAF_CHECK_EQUAL(scalar(p, statement{sql, params}), want);
    shutdown(p);
  }
}

/// Proves: when the server names the pool's own prepared statement in an
/// error (26000 after the session dropped it behind the pool's back, inside a
/// transaction where it cannot be re-sent), the message names the statement
/// the user sent, not "lp_<n>".
CAF_TEST(errors name the statement instead of the prepared name) {
  auto p = one_connection();
  auto l = lease_of(p);
  statement q{"SELECT $1::int * 7 AS error_text_probe", {param{"6"}}};
  CAF_CHECK_EQUAL(scalar(l, q), "42");
  exec(l, "BEGIN");
  // Dropped inside a DO block: the pool sees the tag DO, not DEALLOCATE ALL,
  // and still believes its statement prepared.
  exec(l, "DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$");
  auto r = query(l, q);
  check_state(r, "26000", "statement deallocated behind the pool's back");
  if (!r) {
    auto msg = pool::error_message(r.error());
    CAF_CHECK_NOT_EQUAL(msg.find("SELECT $1::int * 7 AS error_text_probe"),
                        std::string::npos);
    CAF_CHECK_EQUAL(msg.find("lp_"), std::string::npos);
  }
  exec(l, "ROLLBACK");
  IT_REQUIRE_OK(release(p, l.id));
}

CAF_TEST_FIXTURE_SCOPE_END()
