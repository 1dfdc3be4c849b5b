// The database's rules behind the backend interface: PostgreSQL's
// (`postgres_dialect`), the defaults for an unknown database (`dialect`), and
// a pool on the fake backend with a dialect that is not PostgreSQL's,
// proving that the workers and the manager ask the backend's rules instead
// of knowing PostgreSQL themselves.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE rules
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

caf::error server(const char* state) {
  return make_error(pool_errc::query_failed, "x", state);
}

/// A database that is not PostgreSQL: other transaction statements and ping,
/// nothing pipelines (the default), and its own fatal rule: SQLSTATE
/// "HY999" ends a connection while PostgreSQL's class 08 does not.
class other_dialect : public dialect {
 public:
  other_dialect()
    : dialect(statement{"START TRANSACTION"}, statement{"COMMIT WORK"},
              statement{"ROLLBACK WORK"}, statement{"PING"}) {
    // nop
  }

  bool is_fatal(const caf::error& err) const override {
    return dialect::is_fatal(err) ||
           (is(err, pool_errc::query_failed) && sqlstate(err) == "HY999");
  }
};

struct rules_fixture : fixture {
  /// A pool configuration on the fake backend under `other_dialect`.
  pool_config other_config(size_t min_size, size_t max_size) {
    auto cfg = make_config(min_size, max_size);
    cfg.connection_backend = std::make_shared<fake_backend>(
      script, std::make_shared<const other_dialect>());
    return cfg;
  }

  outcome_ptr<query_result> query(const pool_actor& pool, std::string sql) {
    return ask<query_result>(pool, query_atom::value,
                             statement{std::move(sql)});
  }

  /// Checks that the fake saw no contract violation.
  void check_no_misuse() {
    for (auto& line : script->misuse_log)
      CAF_ERROR("backend misuse: " << line);
    CAF_CHECK_EQUAL(script->misuse, 0);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(rules_tests, rules_fixture)

// PostgreSQL's fatal errors: a lost connection, class 08 except 08P01 (one
// statement's protocol violation), and 57P01–57P03 (shutdown, restart).
// Other server errors, timeouts and bad requests leave the connection usable.
CAF_TEST(postgres fatal errors are connection loss class 08 and 57P01 to 03) {
  postgres_dialect pg;
  CAF_CHECK(pg.is_fatal(make_error(pool_errc::connection_lost, "gone")));
  for (auto state :
       {"08000", "08001", "08003", "08006", "57P01", "57P02", "57P03"}) {
    if (!pg.is_fatal(server(state)))
      CAF_ERROR("not fatal: " << state);
    CAF_CHECK(pg.is_fatal(server(state)));
  }
  for (auto state :
       {"08P01", "57P04", "57P00", "57014", "23505", "40001", "42601", ""}) {
    if (pg.is_fatal(server(state)))
      CAF_ERROR("fatal: " << state);
    CAF_CHECK(!pg.is_fatal(server(state)));
  }
  CAF_CHECK(!pg.is_fatal(make_error(pool_errc::query_timeout, "t", "57014")));
  CAF_CHECK(!pg.is_fatal(make_error(pool_errc::invalid_request, "bad")));
  CAF_CHECK(!pg.is_fatal(caf::error{}));
}

// Only plain DML may share a pipeline: statements that could open a
// transaction or refuse to run inside one are recognised, after white space
// and comments, in any letter case. Anything unrecognised (even a
// parenthesised SELECT) runs alone: the safe side.
CAF_TEST(postgres pipelines plain DML only) {
  postgres_dialect pg;
  const char* dml[] = {"SELECT 1",
                       "select $1::int",
                       "  \n\tInsert INTO t VALUES (1)",
                       "UPDATE t SET a = 1",
                       "DELETE FROM t",
                       "WITH x AS (SELECT 1) SELECT * FROM x",
                       "VALUES (1)",
                       "TABLE t",
                       "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE",
                       "-- note\nSELECT 1",
                       "/* a /* nested */ comment */ SELECT 1",
                       "/* one */ -- two\n  /* three */\nwith y as (values "
                       "(1)) table y"};
  for (auto sql : dml) {
    if (!pg.may_pipeline(statement{sql}))
      CAF_ERROR("not accepted: " << sql);
    CAF_CHECK(pg.may_pipeline(statement{sql}));
  }
  const char* other[] = {"BEGIN",
                         "begin",
                         "  BEGIN; SELECT 1",
                         "START TRANSACTION",
                         "COMMIT",
                         "ROLLBACK",
                         "SET x = 1",
                         "VACUUM",
                         "vacuum analyze t",
                         "-- SELECT\nVACUUM",
                         "/* SELECT */ VACUUM",
                         "DISCARD ALL",
                         "CREATE DATABASE x",
                         "SELECTED",
                         "select_x",
                         "WITHOUT",
                         "(SELECT 1)",
                         "",
                         "   ",
                         "-- only a comment",
                         "-- SELECT 1",
                         "/* unterminated SELECT 1",
                         "/* a /* nested */ SELECT 1",
                         "LISTEN x",
                         "COPY t FROM STDIN",
                         "CALL p()",
                         "DO $$ BEGIN END $$"};
  for (auto sql : other) {
    if (pg.may_pipeline(statement{sql}))
      CAF_ERROR("accepted: " << sql);
    CAF_CHECK(!pg.may_pipeline(statement{sql}));
  }
}

// An unknown database: only a lost connection is fatal (PostgreSQL's class
// 08 is just an error there), nothing pipelines, and the worker's statements
// are BEGIN / COMMIT / ROLLBACK with SELECT 1 as the ping. A backend built
// without rules has these.
CAF_TEST(the default dialect knows nothing of postgres) {
  dialect d;
  CAF_CHECK(d.is_fatal(make_error(pool_errc::connection_lost, "gone")));
  CAF_CHECK(!d.is_fatal(server("08006")));
  CAF_CHECK(!d.is_fatal(server("57P01")));
  CAF_CHECK(!d.is_fatal(caf::error{}));
  CAF_CHECK(!d.may_pipeline(statement{"SELECT 1"}));
  CAF_CHECK_EQUAL(d.begin().sql, "BEGIN");
  CAF_CHECK_EQUAL(d.commit().sql, "COMMIT");
  CAF_CHECK_EQUAL(d.rollback().sql, "ROLLBACK");
  CAF_CHECK_EQUAL(d.ping().sql, "SELECT 1");
  struct bare : backend {
    std::unique_ptr<connection> create(const pool_config&, waker) override {
      return nullptr;
    }
  };
  bare b;
  CAF_CHECK(!b.rules().is_fatal(server("08006")));
  CAF_CHECK(!b.rules().may_pipeline(statement{"SELECT 1"}));
  CAF_CHECK_EQUAL(b.rules().ping().sql, "SELECT 1");
}

// The libpq backend, and the fake unless told otherwise, follow PostgreSQL's
// rules, not the defaults.
CAF_TEST(the libpq and fake backends follow postgres rules) {
  auto pq = make_libpq_backend(sys); // no connection: nothing is opened
  CAF_CHECK(pq->rules().is_fatal(server("08006")));
  CAF_CHECK(pq->rules().is_fatal(server("57P01")));
  CAF_CHECK(!pq->rules().is_fatal(server("08P01")));
  CAF_CHECK(pq->rules().may_pipeline(statement{"SELECT 1"}));
  CAF_CHECK(!pq->rules().may_pipeline(statement{"BEGIN"}));
  CAF_CHECK_EQUAL(pq->rules().ping().sql, "SELECT 1");
  CAF_CHECK_EQUAL(pq->rules().rollback().sql, "ROLLBACK");
  fake_backend fake{script};
  CAF_CHECK(fake.rules().is_fatal(server("08006")));
  CAF_CHECK(fake.rules().may_pipeline(statement{"SELECT 1"}));
}

// A transaction runs the dialect's begin and commit around its statements;
// a failing one, the dialect's rollback, and the error names the begin
// statement the database knows.
CAF_TEST(transactions use the dialect statements) {
  auto pool = start(other_config(1, 1));
  std::vector<statement> sts{"INSERT 1", "INSERT 2"};
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  CAF_REQUIRE(t->ok());
  std::vector<std::string> want{"START TRANSACTION", "INSERT 1", "INSERT 2",
                                "COMMIT WORK"};
  CAF_CHECK_EQUAL(script->log_of(1), want);
  script->rules["INSERT 4"].error = server("23505");
  std::vector<statement> bad{"INSERT 3", "INSERT 4"};
  auto f = ask<std::vector<query_result>>(pool, transaction_atom::value, bad);
  sched.run();
  CAF_CHECK(f->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(f->err), "23505");
  std::vector<std::string> tail{"START TRANSACTION", "INSERT 3", "INSERT 4",
                                "ROLLBACK WORK"};
  auto log = script->log_of(1);
  CAF_REQUIRE_GREATER_OR_EQUAL(log.size(), 8u);
  CAF_CHECK_EQUAL(std::vector<std::string>(log.begin() + 4, log.end()), tail);
  // A failing begin is named as the database knows it.
  script->rules["START TRANSACTION"].error = server("25001");
  auto g = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  CAF_CHECK(g->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(error_message(g->err).compare(0, 18, "START TRANSACTION:"),
                  0);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  CAF_CHECK_EQUAL(script->closed, 0);
  check_no_misuse();
}

// A lease returned inside a transaction (opened with the dialect's begin) is
// cleaned with the dialect's rollback before the connection is reused.
CAF_TEST(a lease returned in a transaction gets the dialect rollback) {
  auto pool = start(other_config(1, 1));
  auto o = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(o->ok());
  auto l = *o->value;
  auto b = ask<query_result>(l.worker, query_atom::value, l.id,
                             statement{"START TRANSACTION"});
  sched.run();
  CAF_REQUIRE(b->ok());
  auto r = ask<caf::ok_atom>(pool, release_atom::value, l.id);
  sched.run();
  CAF_CHECK(r->ok());
  std::vector<std::string> want{"START TRANSACTION", "ROLLBACK WORK"};
  CAF_CHECK_EQUAL(script->log_of(1), want);
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  CAF_CHECK_EQUAL(script->closed, 0);
}

// Health checks send the dialect's ping, and only it: a connection whose
// pings never answer is replaced after health_check_timeout.
CAF_TEST(health checks send the dialect ping) {
  auto cfg = other_config(2, 2);
  cfg.health_check_interval = 5s;
  cfg.health_check_timeout = 1s;
  cfg.validate_after_idle = caf::timespan{0};
  auto pool = start(cfg);
  advance(5500ms, 100ms);
  CAF_REQUIRE_EQUAL(last_statement(1), "PING");
  CAF_REQUIRE_EQUAL(last_statement(2), "PING");
  for (auto& line : script->log)
    CAF_CHECK_EQUAL(line.substr(line.find(':') + 1), "PING");
  CAF_CHECK_EQUAL(stats(pool).health_check_failures, 0u);
  script->stalled.insert(1);
  advance(6s, 100ms);
  CAF_CHECK_EQUAL(last_statement(1), "PING");
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.health_check_failures, 1u);
  CAF_CHECK_EQUAL(script->closed, 1);
  CAF_CHECK_EQUAL(st.idle, 2u);
}

// The dialect's fatal rule decides eviction: its own SQLSTATE ends the
// connection (the query gets connection_lost and a new connection opens),
// while PostgreSQL's class 08, not fatal in this dialect, is only the
// query's error and the connection stays.
CAF_TEST(the dialect fatal rule evicts and postgres class 08 does not ) {
  script->rules["SELECT 08"].error = server("08006");
  script->rules["SELECT HY"].error = server("HY999");
  auto pool = start(other_config(1, 1));
  auto a = query(pool, "SELECT 08");
  sched.run();
  CAF_CHECK(a->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(a->err), "08006");
  CAF_CHECK_EQUAL(script->closed, 0);
  CAF_CHECK_EQUAL(script->created, 1);
  auto b = query(pool, "SELECT HY");
  sched.run();
  CAF_CHECK(b->failed_with(pool_errc::connection_lost));
  CAF_CHECK_EQUAL(sqlstate(b->err), "HY999");
  CAF_CHECK_EQUAL(script->closed, 1);
  CAF_CHECK_EQUAL(script->created, 2);
  auto c = query(pool, "SELECT 2");
  sched.run();
  CAF_CHECK(c->ok());
  CAF_CHECK_EQUAL(last_statement(2), "SELECT 2");
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(st.connections_closed, 1u);
}

// Nothing pipelines in this dialect, although the fake can pipeline and
// pipeline_depth allows it: concurrent queries wait for a free connection
// and run one at a time with `execute`. Under PostgreSQL's rules the same
// load pipelines (the control half).
CAF_TEST(queries pipeline only when the dialect allows it) {
  script->pipelining = true;
  script->default_latency = 10ms;
  auto run = [&](pool_config cfg) {
    cfg.pipeline_depth = 4;
    cfg.validate_after_idle = caf::timespan{0};
    auto pool = start(std::move(cfg));
    std::vector<outcome_ptr<query_result>> qs;
    for (int i = 0; i < 4; ++i)
      qs.push_back(query(pool, "SELECT " + std::to_string(i)));
    advance(200ms, 10ms);
    for (auto& q : qs)
      CAF_CHECK(q->ok());
    return stats(pool).pipelined;
  };
  CAF_CHECK_EQUAL(run(other_config(1, 1)), 0u);
  CAF_CHECK_EQUAL(script->submitted, 0);
  CAF_CHECK_EQUAL(script->log_of(1).size(), 4u);
  CAF_CHECK_GREATER(run(make_config(1, 1)), 0u);
  CAF_CHECK_GREATER(script->submitted, 0);
  check_no_misuse();
}

CAF_TEST_FIXTURE_SCOPE_END()
