// Tracing (pool/tracer.hpp) on the fake backend: the events of a pooled
// query, a transaction and a failed connect arrive in
// order, with the connection id, the SQL text (never the parameters), the
// duration and the error; a throwing tracer does no harm; the slow-query
// logger logs what took too long.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE trace
#include "fixture.hpp"

#include <sstream>
#include <stdexcept>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "trace_recorder.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct trace_fixture : fixture {
  std::shared_ptr<trace_recorder> rec = std::make_shared<trace_recorder>();

  pool_config traced(size_t min_size, size_t max_size) {
    auto cfg = make_config(min_size, max_size);
    cfg.tracer = rec;
    return cfg;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(trace_tests, trace_fixture)

// Proves: a connect is traced (start, end with its duration); a pooled
// query's events come in order: acquire start, acquire end on its
// connection, query start with its SQL (not its parameter), query end
// with its duration.
CAF_TEST(a connect and a pooled query are traced in order) {
  script->connect_latency = 5ms;
  script->rules["SELECT $1::int"].latency = 20ms;
  auto p = start(traced(1, 1));
  advance(10ms, 1ms);
  CAF_CHECK_EQUAL(rec->take(), (std::vector<std::string>{
                                 "connect start c0", "connect end c0 5ms ok"}));
  auto o = ask<query_result>(p, query_atom::value,
                             statement{"SELECT $1::int", {"4711"}});
  sched.run();
  advance(30ms, 1ms);
  CAF_CHECK(o->ok());
  auto lines = rec->take();
  CAF_CHECK_EQUAL(lines, (std::vector<std::string>{
                           "acquire start c-", "acquire end c0 0ms ok",
                           "query start c0 'SELECT $1::int'",
                           "query end c0 'SELECT $1::int' 20ms ok"}));
  for (auto& x : lines)
    CAF_CHECK_EQUAL(x.find("4711"), std::string::npos);
}

// Proves: a transaction is traced as transaction start, one query per
// statement (not BEGIN or COMMIT), transaction end; a failing statement
// ends its query and the transaction with the error.
CAF_TEST(a transaction is traced with its statements) {
  script->rules["UPDATE b"].error =
    make_error(pool_errc::query_failed, "boom", "23505");
  auto p = start(traced(1, 1));
  rec->take();
  auto ok = ask<std::vector<query_result>>(
    p, transaction_atom::value,
    std::vector<statement>{statement{"UPDATE a"}, statement{"SELECT 2"}});
  sched.run();
  CAF_CHECK(ok->ok());
  CAF_CHECK_EQUAL(
    rec->take(),
    (std::vector<std::string>{
      "acquire start c-", "acquire end c0 0ms ok", "transaction start c0",
      "query start c0 'UPDATE a'", "query end c0 'UPDATE a' 0ms ok",
      "query start c0 'SELECT 2'", "query end c0 'SELECT 2' 0ms ok",
      "transaction end c0 0ms ok"}));
  auto bad = ask<std::vector<query_result>>(
    p, transaction_atom::value, std::vector<statement>{statement{"UPDATE b"}});
  sched.run();
  CAF_CHECK(bad->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(rec->take(),
                  (std::vector<std::string>{
                    "acquire start c-", "acquire end c0 0ms ok",
                    "transaction start c0", "query start c0 'UPDATE b'",
                    "query end c0 'UPDATE b' 0ms query_failed 23505",
                    "transaction end c0 0ms query_failed 23505"}));
}

// Proves: a failed connect ends with its error, and the acquire waiting
// for it fails with that error; an acquire that times out ends with
// acquire_timeout after its wait.
CAF_TEST(a failed connect and a timed out acquire are traced) {
  script->connect_error = make_error(pool_errc::connect_failed, "refused");
  auto cfg = traced(0, 1);
  cfg.backoff_min = 1s;
  cfg.backoff_max = 1s;
  auto p = start(std::move(cfg));
  auto o = ask<lease>(p, acquire_atom::value, caf::timespan{500ms});
  sched.run();
  advance(10ms, 1ms);
  CAF_CHECK(o->failed_with(pool_errc::connect_failed));
  CAF_CHECK_EQUAL(rec->take(), (std::vector<std::string>{
                                 "acquire start c-", "connect start c0",
                                 "connect end c0 0ms connect_failed",
                                 "acquire end c- 0ms connect_failed"}));
  script->connect_error = caf::error{};
  advance(1100ms, 10ms); // the backoff ends
  auto held = ask<lease>(p, acquire_atom::value, caf::timespan{500ms});
  sched.run();
  advance(10ms, 1ms);
  CAF_REQUIRE(held->ok());
  rec->take();
  auto late = ask<lease>(p, acquire_atom::value, caf::timespan{200ms});
  sched.run();
  advance(250ms, 10ms);
  CAF_CHECK(late->failed_with(pool_errc::acquire_timeout));
  CAF_CHECK_EQUAL(rec->take(), (std::vector<std::string>{
                                 "acquire start c-",
                                 "acquire end c- 200ms acquire_timeout"}));
}

// Proves: a tracer that throws does not disturb the pool.
CAF_TEST(a throwing tracer is ignored) {
  auto p = start(traced(1, 1));
  rec->take(); // the connect
  rec->throws = true;
  auto o = ask<query_result>(p, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(o->ok());
  CAF_CHECK_EQUAL(rec->take().size(), 4u);
}

// Proves: the slow-query logger logs a query at or above the threshold with
// its SQL and connection, not one below it, and passes events on to the
// configured tracer.
CAF_TEST(the slow query logger logs slow queries only) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto log = std::make_shared<spdlog::logger>("trace-test", sink);
  log->set_level(spdlog::level::warn);
  script->rules["SELECT pg_sleep($1)"].latency = 300ms;
  script->rules["SELECT 1"].latency = 10ms;
  auto cfg = traced(1, 1);
  cfg.logger = log;
  cfg.slow_query_threshold = 100ms;
  auto p = start(std::move(cfg));
  auto fast = ask<query_result>(p, query_atom::value, statement{"SELECT 1"});
  sched.run();
  advance(20ms, 1ms);
  auto slow = ask<query_result>(p, query_atom::value,
                                statement{"SELECT pg_sleep($1)", {"0.3"}});
  sched.run();
  advance(310ms, 1ms);
  CAF_CHECK(fast->ok());
  CAF_CHECK(slow->ok());
  auto text = out.str();
  CAF_MESSAGE("log: " << text);
  CAF_CHECK_NOT_EQUAL(
    text.find("slow query (300.0 ms) on connection 0: SELECT pg_sleep($1)"),
    std::string::npos);
  CAF_CHECK_EQUAL(text.find("SELECT 1"), std::string::npos);
  CAF_CHECK_EQUAL(text.find("0.3\n"), std::string::npos);
  CAF_CHECK(rec->take().size() >= 8u); // passed on
}

CAF_TEST_FIXTURE_SCOPE_END()
