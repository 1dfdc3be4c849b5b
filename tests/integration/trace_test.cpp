// Tracing against the real server: the tracer's events come in order for a
// pooled query, a query on a lease, a transaction (with the server's
// SQLSTATE when a statement fails) and a failed connect (the server's
// reason); durations are the server's time; the slow-query logger logs the
// SQL text of a slow query and never its parameters.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE trace
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "fixture.hpp"
#include "trace_recorder.hpp"

using namespace it;
using lines = std::vector<std::string>;

namespace {

struct trace_fixture : fixture {
  std::shared_ptr<pool::testing::trace_recorder> rec =
    std::make_shared<pool::testing::trace_recorder>();

  trace_fixture() {
    rec->with_durations = false; // the server's timing varies
  }

  /// A traced pool of one connection, connected, with its connect's events
  /// taken.
  pool::pool_actor traced_pool() {
    auto pc = make_config(1, 1);
    pc.tracer = rec;
    auto p = spawn(std::move(pc));
    auto ready =
      wait_for_stats(p, [](const pool::pool_stats& s) { return s.idle == 1; });
    CAF_REQUIRE(ready.second);
    CAF_CHECK_EQUAL(rec->take(),
                    (lines{"connect start c0", "connect end c0 ok"}));
    return p;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(trace_tests, trace_fixture)

/// Proves: a pooled query is traced as acquire start, acquire end on its
/// connection, query start and end with the SQL text (never the parameter
/// value), the end carrying the time the server took; a failing one ends
/// with the server's SQLSTATE.
CAF_TEST(a pooled query is traced in order) {
  auto p = traced_pool();
  auto r = query(p, pool::statement{"SELECT pg_sleep($1)::text, 'x'",
                                    {std::string{"0.05"}}});
  IT_REQUIRE_OK(r);
  auto got = rec->take();
  CAF_CHECK_EQUAL(got, (lines{"acquire start c-", "acquire end c0 ok",
                              "query start c0 'SELECT pg_sleep($1)::text, 'x''",
                              "query end c0 'SELECT pg_sleep($1)::text, 'x'' "
                              "ok"}));
  for (auto& x : got)
    CAF_CHECK_EQUAL(x.find("0.05"), std::string::npos);
  auto bad =
    query(p, pool::statement{"SELECT 1 / $1::int", {std::string{"0"}}});
  IT_CHECK_ERRC(bad, pool::pool_errc::query_failed);
  CAF_CHECK_EQUAL(rec->take(),
                  (lines{"acquire start c-", "acquire end c0 ok",
                         "query start c0 'SELECT 1 / $1::int'",
                         "query end c0 'SELECT 1 / $1::int' query_failed "
                         "22012"}));
}

/// Proves: the query end's duration is the statement's time on the server
/// (pg_sleep(0.05) takes at least 50 ms and, on an idle server, well under
/// the request's timeout).
CAF_TEST(a query end carries its duration) {
  auto p = traced_pool();
  auto r = query(p, pool::statement{"SELECT pg_sleep(0.05)::text"});
  IT_REQUIRE_OK(r);
  std::lock_guard<std::mutex> guard{rec->mx};
  CAF_REQUIRE_EQUAL(rec->durations.size(), 2u); // acquire, query
  CAF_CHECK_GREATER_OR_EQUAL(rec->durations[1], caf::timespan{50ms});
  CAF_CHECK_LESS(rec->durations[1], timeout);
}

/// Proves: a lease's acquire and each query on the lease are traced on the
/// leased connection.
CAF_TEST(queries on a lease are traced) {
  auto p = traced_pool();
  auto l = acquire(p);
  IT_REQUIRE_OK(l);
  CAF_CHECK_EQUAL(scalar(*l, pool::statement{"SELECT 7"}), "7");
  IT_REQUIRE_OK(release(p, l->id));
  CAF_CHECK_EQUAL(rec->take(), (lines{"acquire start c-", "acquire end c0 ok",
                                      "query start c0 'SELECT 7'",
                                      "query end c0 'SELECT 7' ok"}));
}

/// Proves: a transaction is traced as transaction start, a query per
/// statement (not BEGIN or COMMIT), transaction end; the statement that
/// fails ends with the server's SQLSTATE and so does the transaction.
CAF_TEST(a transaction is traced with its statements) {
  auto p = traced_pool();
  auto ok = transaction(
    p, {pool::statement{"SELECT 1"}, pool::statement{"SELECT $1::int", {"2"}}});
  IT_REQUIRE_OK(ok);
  CAF_CHECK_EQUAL(
    rec->take(),
    (lines{"acquire start c-", "acquire end c0 ok", "transaction start c0",
           "query start c0 'SELECT 1'", "query end c0 'SELECT 1' ok",
           "query start c0 'SELECT $1::int'",
           "query end c0 'SELECT $1::int' ok", "transaction end c0 ok"}));
  auto bad = transaction(
    p, {pool::statement{"SELECT 1"}, pool::statement{"SELECT 1 / 0"}});
  IT_CHECK_ERRC(bad, pool::pool_errc::query_failed);
  CAF_CHECK_EQUAL(
    rec->take(),
    (lines{"acquire start c-", "acquire end c0 ok", "transaction start c0",
           "query start c0 'SELECT 1'", "query end c0 'SELECT 1' ok",
           "query start c0 'SELECT 1 / 0'",
           "query end c0 'SELECT 1 / 0' query_failed 22012",
           "transaction end c0 query_failed 22012"}));
}

/// Proves: a connect the server refuses (no such database) is traced as
/// connect start and connect end with connect_failed (libpq gives no
/// SQLSTATE for a failed connect, only the message), and the request that
/// waited for it ends its acquire with that error.
CAF_TEST(a failed connect is traced) {
  auto pc = make_config(0, 1);
  pc.conninfo = dsn + " dbname=libpool_no_such_database";
  pc.tracer = rec;
  auto p = spawn(std::move(pc));
  auto r = query(p, pool::statement{"SELECT 1"});
  IT_CHECK_ERRC(r, pool::pool_errc::connect_failed);
  CAF_CHECK(pool::describe(r.error()).find("libpool_no_such_database") !=
            std::string::npos);
  auto got = rec->take();
  CAF_REQUIRE_GREATER_OR_EQUAL(got.size(), 4u);
  got.resize(4);
  CAF_CHECK_EQUAL(got, (lines{"acquire start c-", "connect start c0",
                              "connect end c0 connect_failed",
                              "acquire end c- connect_failed"}));
}

/// Proves: with slow_query_threshold set, a query that takes longer is
/// logged at warn with its time, connection and SQL text, not its
/// parameter; a fast one is not logged; the configured tracer still gets
/// every event.
CAF_TEST(the slow query logger logs a slow query) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto log = std::make_shared<spdlog::logger>("trace-it", sink);
  log->set_level(spdlog::level::warn);
  auto pc = make_config(1, 1);
  pc.tracer = rec;
  pc.logger = log;
  pc.slow_query_threshold = caf::timespan{100ms};
  auto p = spawn(std::move(pc));
  CAF_CHECK_EQUAL(scalar(p, pool::statement{"SELECT 'fast'"}), "fast");
  auto slow = query(
    p, pool::statement{"SELECT pg_sleep($1)::text", {std::string{"0.15"}}});
  IT_REQUIRE_OK(slow);
  log->flush();
  auto text = out.str();
  CAF_MESSAGE("log: " << text);
  CAF_CHECK(text.find("slow query (") != std::string::npos);
  CAF_CHECK(text.find("on connection 0: SELECT pg_sleep($1)::text") !=
            std::string::npos);
  CAF_CHECK_EQUAL(text.find("0.15"), std::string::npos);
  CAF_CHECK_EQUAL(text.find("fast"), std::string::npos);
  auto got = rec->take();
  CAF_CHECK_EQUAL(got.size(), 10u); // connect, then 2 x acquire and query
}

CAF_TEST_FIXTURE_SCOPE_END()
