#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE query
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

CAF_TEST_FIXTURE_SCOPE(query_tests, fixture)

// A pooled query returns the backend's result and the connection goes back
// to the idle set.
CAF_TEST(a query returns its result) {
  auto& rule = script->rules["SELECT 42"];
  rule.result.columns.push_back(column{"x", 23});
  rule.result.cells.emplace_back(std::string{"42"});
  rule.result.command_tag = "SELECT 1";
  auto pool = start(make_config(1, 1));
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 42"});
  sched.run();
  CAF_REQUIRE(q->ok());
  CAF_CHECK_EQUAL(q->value->rows(), 1u);
  CAF_CHECK_EQUAL(q->value->at(0, 0), "42");
  CAF_CHECK_EQUAL(q->value->command_tag, "SELECT 1");
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(st.acquired, 1u);
}

// A failing statement reaches its caller with the SQLSTATE; the connection
// stays in the pool.
CAF_TEST(a failing query carries its sqlstate) {
  script->rules["SELEC 1"].error = make_error(
    pool_errc::query_failed, "syntax error at or near \"SELEC\"", "42601");
  auto pool = start(make_config(1, 1));
  auto bad = ask<query_result>(pool, query_atom::value, statement{"SELEC 1"});
  sched.run();
  CAF_CHECK(bad->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(bad->err), "42601");
  auto good = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(good->ok());
  CAF_CHECK_EQUAL(script->created, 1);
}

// A transaction runs BEGIN, its statements and COMMIT on one connection.
CAF_TEST(a transaction commits) {
  auto pool = start(make_config(1, 1));
  std::vector<statement> sts{"INSERT 1", "INSERT 2"};
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  CAF_REQUIRE(t->ok());
  CAF_CHECK_EQUAL(t->value->size(), 2u);
  std::vector<std::string> want{"BEGIN", "INSERT 1", "INSERT 2", "COMMIT"};
  CAF_CHECK_EQUAL(script->log_of(1), want);
}

// A failing statement rolls the transaction back; the error names it.
CAF_TEST(a failing transaction rolls back) {
  script->rules["INSERT 2"].error =
    make_error(pool_errc::query_failed, "duplicate key value", "23505");
  auto pool = start(make_config(1, 1));
  std::vector<statement> sts{"INSERT 1", "INSERT 2", "INSERT 3"};
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  CAF_CHECK(t->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(t->err), "23505");
  CAF_CHECK_NOT_EQUAL(error_message(t->err).find("statement 2 of 3"),
                      std::string::npos);
  std::vector<std::string> want{"BEGIN", "INSERT 1", "INSERT 2", "ROLLBACK"};
  CAF_CHECK_EQUAL(script->log_of(1), want);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
}

// An autocommit query that leaves a transaction open (a bare BEGIN) is
// rolled back before the connection is reused.
CAF_TEST(a pooled query never leaves a transaction open) {
  auto pool = start(make_config(1, 1));
  auto q = ask<query_result>(pool, query_atom::value, statement{"BEGIN"});
  sched.run();
  CAF_CHECK(q->ok());
  std::vector<std::string> want{"BEGIN", "ROLLBACK"};
  CAF_CHECK_EQUAL(script->log_of(1), want);
}

// A statement past query_timeout is cancelled and answered at the deadline;
// the connection is returned clean and serves the next query.
CAF_TEST(query timeout cancels the statement) {
  script->rules["SELECT pg_sleep(10)"].hang = true;
  auto cfg = make_config(1, 1);
  cfg.query_timeout = 1s;
  auto pool = start(cfg);
  auto slow = ask<query_result>(pool, query_atom::value,
                                statement{"SELECT pg_sleep(10)"});
  auto next = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  advance_time(900ms);
  sched.run();
  CAF_CHECK_EQUAL(slow->answers, 0);
  for (int i = 0; i < 3; ++i) {
    advance_time(100ms);
    sched.run();
  }
  CAF_CHECK(slow->failed_with(pool_errc::query_timeout));
  CAF_CHECK_EQUAL(script->cancels, 1);
  CAF_CHECK(next->ok());
  CAF_CHECK_EQUAL(script->created, 1);
}

// A transaction whose statement times out is rolled back, never committed.
CAF_TEST(a timed out transaction does not commit) {
  script->rules["SLOW"].hang = true;
  auto cfg = make_config(1, 1);
  cfg.query_timeout = 1s;
  auto pool = start(cfg);
  std::vector<statement> sts{"INSERT 1", "SLOW", "INSERT 3"};
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  for (int i = 0; i < 12; ++i) {
    advance_time(100ms);
    sched.run();
  }
  CAF_CHECK(t->failed_with(pool_errc::query_timeout));
  std::vector<std::string> want{"BEGIN", "INSERT 1", "SLOW", "ROLLBACK"};
  CAF_CHECK_EQUAL(script->log_of(1), want);
}

// A lost connection fails the request using it and is replaced.
CAF_TEST(connection loss is reported and the connection replaced) {
  script->rules["SELECT crash"].error =
    make_error(pool_errc::connection_lost, "server closed the "
                                           "connection");
  auto pool = start(make_config(1, 2));
  auto q =
    ask<query_result>(pool, query_atom::value, statement{"SELECT crash"});
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::connection_lost));
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_closed, 1u);
  CAF_CHECK_EQUAL(st.total, 1u);
  CAF_CHECK_EQUAL(st.idle, 1u);
  auto next = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(next->ok());
}

// Malformed requests get invalid_request naming what was wrong.
CAF_TEST(malformed requests are rejected) {
  auto pool = start(make_config(1, 1));
  auto empty_sql = ask<query_result>(pool, query_atom::value, statement{""});
  auto empty_txn = ask<std::vector<query_result>>(pool, transaction_atom::value,
                                                  std::vector<statement>{});
  auto bad_timeout = ask<lease>(pool, acquire_atom::value, caf::timespan{0});
  sched.run();
  CAF_CHECK(empty_sql->failed_with(pool_errc::invalid_request));
  CAF_CHECK(empty_txn->failed_with(pool_errc::invalid_request));
  CAF_CHECK(bad_timeout->failed_with(pool_errc::invalid_request));
  CAF_CHECK_NOT_EQUAL(error_message(bad_timeout->err).find("timeout"),
                      std::string::npos);
  CAF_CHECK(script->log.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
