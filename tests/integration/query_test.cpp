// Pooled autocommit queries against a real server: parameters, NULLs, UTF-8,
// command tags, affected counts, and server errors.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE query
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

CAF_TEST_FIXTURE_SCOPE(query_tests, fixture)

/// Proves: parameters travel as text with NULL distinct from "", UTF-8 is
/// byte-exact both ways, and columns (names, type OIDs), tag and row count
/// are reported as the server sends them.
CAF_TEST(parameters nulls and utf8) {
  auto p = spawn(1, 2);
  const std::string utf8 = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 "
                           "\xe6\x97\xa5\xe6\x9c\xac"; // "héllo wörld ✓ 日本"
  auto r = query(p, statement{"SELECT $1::text AS greeting, $2::text AS "
                              "nothing, $3::int AS answer, $4::text AS "
                              "empty, octet_length($1::text) AS bytes",
                              {utf8, nullptr, 42, ""}});
  IT_REQUIRE_OK(r);
  CAF_REQUIRE_EQUAL(r->columns.size(), 5u);
  CAF_REQUIRE_EQUAL(r->rows(), 1u);
  CAF_CHECK_EQUAL(r->cells.size(), 5u);
  CAF_CHECK_EQUAL(r->command_tag, "SELECT 1");
  CAF_CHECK_EQUAL(r->affected, 1);
  // Column names and type OIDs: text = 25, int4 = 23.
  CAF_CHECK_EQUAL(r->columns[0].name, "greeting");
  CAF_CHECK_EQUAL(r->columns[1].name, "nothing");
  CAF_CHECK_EQUAL(r->columns[2].name, "answer");
  CAF_CHECK_EQUAL(r->columns[3].name, "empty");
  CAF_CHECK_EQUAL(r->columns[0].type_oid, 25u);
  CAF_CHECK_EQUAL(r->columns[1].type_oid, 25u);
  CAF_CHECK_EQUAL(r->columns[2].type_oid, 23u);
  CAF_CHECK_EQUAL(r->columns[3].type_oid, 25u);
  // UTF-8 round-trips byte-exact, and the server saw exactly these bytes.
  CAF_CHECK(!r->is_null(0, 0));
  CAF_CHECK_EQUAL(r->at(0, 0), utf8);
  CAF_CHECK_EQUAL(r->at(0, 4), std::to_string(utf8.size()));
  // NULL stays NULL; the empty string stays "" and is not NULL.
  CAF_CHECK(r->is_null(0, 1));
  CAF_CHECK(!r->cells[1]);
  CAF_CHECK_EQUAL(r->at(0, 1), "");
  CAF_CHECK(!r->is_null(0, 2));
  CAF_CHECK_EQUAL(r->at(0, 2), "42");
  CAF_CHECK(!r->is_null(0, 3));
  CAF_CHECK(r->cells[3] && r->cells[3]->empty());
  CAF_CHECK_EQUAL(r->at(0, 3), "");
  // The server agrees about which parameter was NULL.
  CAF_CHECK_EQUAL(scalar(p, statement{"SELECT ($1::text IS NULL)::text || "
                                      "($2::text IS NULL)::text",
                                      {nullptr, ""}}),
                  "truefalse");
  // Parameters are never spliced into the SQL text.
  CAF_CHECK_EQUAL(
    scalar(p, statement{"SELECT $1::text", {"'); DROP TABLE x; --"}}),
    "'); DROP TABLE x; --");
}

/// Proves: INSERT/UPDATE/DELETE report their command tags and affected row
/// counts, and autocommitted rows are visible to the next pooled query.
CAF_TEST(insert update delete counts) {
  auto p = spawn(1, 2);
  auto t = table_name("query");
  exec(p, "DROP TABLE IF EXISTS " + t);
  exec(p, "CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
  auto ins = query(
    p, statement{"INSERT INTO " + t + " VALUES ($1, $2), ($3, $4), ($5, $6)",
                 {1, "a", 2, "b", 3, nullptr}});
  IT_REQUIRE_OK(ins);
  CAF_CHECK_EQUAL(ins->command_tag, "INSERT 0 3");
  CAF_CHECK_EQUAL(ins->affected, 3);
  CAF_CHECK_EQUAL(ins->rows(), 0u);
  CAF_CHECK(ins->columns.empty());
  auto upd =
    query(p, statement{"UPDATE " + t + " SET v = $1 WHERE id >= $2", {"z", 2}});
  IT_REQUIRE_OK(upd);
  CAF_CHECK_EQUAL(upd->command_tag, "UPDATE 2");
  CAF_CHECK_EQUAL(upd->affected, 2);
  auto sel = query(p, "SELECT id, v FROM " + t + " ORDER BY id");
  IT_REQUIRE_OK(sel);
  CAF_REQUIRE_EQUAL(sel->rows(), 3u);
  CAF_CHECK_EQUAL(sel->command_tag, "SELECT 3");
  CAF_CHECK_EQUAL(sel->at(0, 0), "1");
  CAF_CHECK_EQUAL(sel->at(0, 1), "a");
  CAF_CHECK_EQUAL(sel->at(1, 1), "z");
  CAF_CHECK_EQUAL(sel->at(2, 1), "z");
  auto ret = query(
    p,
    statement{"UPDATE " + t + " SET v = NULL WHERE id = $1 RETURNING id", {1}});
  IT_REQUIRE_OK(ret);
  CAF_CHECK_EQUAL(ret->command_tag, "UPDATE 1");
  CAF_CHECK_EQUAL(ret->rows(), 1u);
  auto del = query(p, "DELETE FROM " + t);
  IT_REQUIRE_OK(del);
  CAF_CHECK_EQUAL(del->command_tag, "DELETE 3");
  CAF_CHECK_EQUAL(del->affected, 3);
  exec(p, "DROP TABLE " + t);
}

/// Proves: a server error reaches the caller as query_failed with the
/// SQLSTATE, and the (single) connection stays in the pool and usable.
CAF_TEST(syntax error keeps the pool usable) {
  auto p = spawn(1, 1);
  auto pid_before = scalar(p, "SELECT pg_backend_pid()");
  auto r = query(p, "SELEC 1");
  IT_CHECK_ERRC(r, pool::pool_errc::query_failed);
  if (!r) {
    CAF_CHECK_EQUAL(pool::sqlstate(r.error()), "42601");
    CAF_CHECK(!pool::error_message(r.error()).empty());
    CAF_MESSAGE("SELEC 1 -> " << pool::describe(r.error()));
  }
  auto ok = query(p, "SELECT 1");
  IT_REQUIRE_OK(ok);
  CAF_CHECK_EQUAL(ok->at(0, 0), "1");
  // Same connection: a statement error does not cost the connection.
  CAF_CHECK_EQUAL(scalar(p, "SELECT pg_backend_pid()"), pid_before);
  // And it is not left inside a (failed) transaction.
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->total, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
