#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE config
#include "fixture.hpp"

#include <sstream>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

// Returns the message of validate(cfg) after `change`, "" if valid.
template <class F>
std::string check(F change) {
  pool_config cfg;
  cfg.conninfo = "host=/tmp dbname=x";
  change(cfg);
  auto err = validate(cfg);
  if (!err)
    return "";
  CAF_CHECK(is(err, pool_errc::invalid_config));
  return error_message(err);
}

bool starts_with(const std::string& x, const std::string& prefix) {
  return x.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(config_tests, fixture)

// Each invalid field is rejected with a message that names it.
CAF_TEST(invalid configs are rejected naming the field) {
  CAF_CHECK_EQUAL(check([](pool_config&) {}), "");
  CAF_CHECK(
    starts_with(check([](pool_config& c) { c.max_size = 0; }), "max_size:"));
  CAF_CHECK(starts_with(check([](pool_config& c) {
                          c.min_size = 5;
                          c.max_size = 2;
                        }),
                        "min_size:"));
  CAF_CHECK(starts_with(check([](pool_config& c) { c.max_waiters = 0; }),
                        "max_waiters:"));
  CAF_CHECK(starts_with(check([](pool_config& c) { c.pipeline_depth = 0; }),
                        "pipeline_depth:"));
  CAF_CHECK(starts_with(check([](pool_config& c) { c.pipeline_depth = 65; }),
                        "pipeline_depth:"));
  CAF_CHECK_EQUAL(check([](pool_config& c) { c.pipeline_depth = 1; }), "");
  CAF_CHECK(starts_with(
    check([](pool_config& c) { c.acquire_timeout = caf::timespan{0}; }),
    "acquire_timeout:"));
  CAF_CHECK(starts_with(check([](pool_config& c) { c.query_timeout = -1s; }),
                        "query_timeout:"));
  CAF_CHECK(starts_with(
    check([](pool_config& c) { c.connect_timeout = caf::timespan{0}; }),
    "connect_timeout:"));
  CAF_CHECK(starts_with(
    check([](pool_config& c) { c.conninfo = "host=x bogus_option=1"; }),
    "conninfo:"));
  CAF_CHECK(starts_with(check([](pool_config& c) {
                          c.conninfo = "postgresql://host/db?bogus_param=1";
                        }),
                        "conninfo:"));
}

// A conninfo error never echoes the password; redact_conninfo hides it in
// both conninfo forms, and an sslpassword too.
CAF_TEST(conninfo errors never show the password) {
  auto msg = check([](pool_config& c) {
    c.conninfo = "host=x password=sup3rs3cret 'unterminated";
  });
  CAF_CHECK(starts_with(msg, "conninfo:"));
  CAF_CHECK_EQUAL(msg.find("sup3rs3cret"), std::string::npos);
  auto red = redact_conninfo("host=db password=sup3rs3cret dbname=app");
  CAF_CHECK_EQUAL(red.find("sup3rs3cret"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(red.find("password=***"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(red.find("host=db"), std::string::npos);
  auto uri = redact_conninfo("postgresql://bob:sup3rs3cret@db/app");
  CAF_CHECK_EQUAL(uri.find("sup3rs3cret"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(uri.find("host=db"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(uri.find("password=***"), std::string::npos);
  auto ssl = redact_conninfo("host=db sslkey=k.pem sslpassword=k3ypass");
  CAF_CHECK_EQUAL(ssl.find("k3ypass"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(ssl.find("sslpassword=***"), std::string::npos);
  // Values are quoted as libpq reads them: the result is a conninfo again.
  auto quoted =
    redact_conninfo(R"(host=db application_name='my a\'pp' options='')");
  CAF_CHECK_NOT_EQUAL(quoted.find(R"(application_name='my a\'pp')"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(quoted.find("options=''"), std::string::npos);
  pool_config again;
  again.conninfo = quoted;
  CAF_CHECK(!validate(again));
}

// A conninfo error keeps the offending keyword visible and hides only the
// password's value, in both conninfo forms, quoted or not.
CAF_TEST(conninfo errors name the bad option but not the password) {
  auto msg = check([](pool_config& c) { c.conninfo = "host=x foo=bar"; });
  CAF_CHECK(starts_with(msg, "conninfo:"));
  CAF_CHECK_NOT_EQUAL(msg.find("\"foo\""), std::string::npos);
  struct {
    const char* conninfo;
    const char* secret;
    const char* named;
  } cases[] = {
    {"host=x password=s3cret foo=bar", "s3cret", "\"foo\""},
    {"host=x password='s e c' foo=bar", "s e c", "\"foo\""},
    {"host=x password = 's\\'ec' foo=bar", "s'ec", "\"foo\""},
    {"postgresql://bob:s3cret@db/app?bogus=1", "s3cret", "\"bogus\""},
    // libpq quotes the whole URI here, and the encoded password there.
    {"postgresql://bob:s3cret@[::1/app", "s3cret", "postgresql://bob:***@"},
    {"postgres://bob:s3%zzcret@db/app", "s3%zzcret", "percent-encoded"},
    {"postgresql://db/app?password=q%zz", "q%zz", "percent-encoded"},
    {"postgresql://db/app?password=s3cret&bogus=1", "s3cret", "\"bogus\""},
  };
  for (auto& x : cases) {
    auto msg = check([&](pool_config& c) { c.conninfo = x.conninfo; });
    CAF_MESSAGE(x.conninfo << " -> " << msg);
    CAF_CHECK(starts_with(msg, "conninfo:"));
    CAF_CHECK_EQUAL(msg.find(x.secret), std::string::npos);
    CAF_CHECK_NOT_EQUAL(msg.find(x.named), std::string::npos);
  }
  // A password the scan cannot find: every quoted fragment is masked.
  msg = check([](pool_config& c) { c.conninfo = "host=x password"; });
  CAF_CHECK(starts_with(msg, "conninfo:"));
  CAF_CHECK_EQUAL(msg.find("\"password\""), std::string::npos);
}

// The pool's own log, captured through the logger given in pool_config at
// level trace, while a pool whose conninfo holds a password starts, fails to
// connect until its circuit opens, recovers, reports a leaked lease and a
// failed health check, and shuts down: the log says all of that and names
// the host, but never shows the password.
CAF_TEST(the pool log never shows the password) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(captured);
  auto logger = std::make_shared<spdlog::logger>("pool-test", sink);
  logger->set_level(spdlog::level::trace);
  script->connect_error =
    make_error(pool_errc::auth_failed,
               "password authentication failed for user bob", "28P01");
  auto cfg = make_config(1, 2);
  cfg.conninfo =
    "host=fakehost.example port=5999 user=bob password=sup3rs3cret dbname=app";
  cfg.logger = logger;
  cfg.breaker_threshold = 2;
  cfg.breaker_cooldown = 1s;
  cfg.backoff_min = 10ms;
  cfg.backoff_max = 10ms;
  cfg.leak_threshold = 2s;
  cfg.health_check_interval = 1s;
  cfg.validate_after_idle = caf::timespan{0};
  auto pool = start(cfg);
  advance(100ms);
  CAF_CHECK_EQUAL(stats(pool).breaker, breaker_state::open);
  script->connect_error = caf::error{};
  advance(1500ms);
  CAF_REQUIRE_EQUAL(stats(pool).idle, 1u);
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  advance(3s, 100ms);
  CAF_CHECK_EQUAL(stats(pool).leaks, 1u);
  auto r = ask<caf::ok_atom>(pool, release_atom::value, l->value->id);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_REQUIRE_EQUAL(script->wakers.size(), 1u);
  // The open connection dies silently; the next health check finds it.
  script->broken.insert(script->wakers.begin()->first);
  advance(2s, 100ms);
  CAF_CHECK_EQUAL(stats(pool).health_check_failures, 1u);
  auto down = ask<caf::ok_atom>(pool, shutdown_atom::value, caf::timespan{1s});
  sched.run();
  CAF_CHECK(down->ok());
  logger->flush();
  auto text = captured.str();
  CAF_MESSAGE("captured log:\n" << text);
  auto has = [&](const std::string& x) {
    if (text.find(x) != std::string::npos)
      return true;
    CAF_MESSAGE("not in the log: " << x);
    return false;
  };
  CAF_CHECK(has("fakehost.example"));
  CAF_CHECK(has("password=***"));
  CAF_CHECK(has("password authentication failed for user bob"));
  CAF_CHECK(has("-> open"));
  CAF_CHECK(has("possible leak"));
  CAF_CHECK(has("failed its health check"));
  CAF_CHECK(has("pool shut down"));
  CAF_CHECK_EQUAL(text.find("sup3rs3cret"), std::string::npos);
}

// Two pools given one logger write through clones of it that share its sink:
// each line carries "<logger name>.<pool name>" (spdlog's default pattern
// prints the logger name in brackets).
CAF_TEST(each pool logs under its own name) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(captured);
  auto logger = std::make_shared<spdlog::logger>("app", sink);
  logger->set_level(spdlog::level::trace);
  auto orders_cfg = make_config(1, 2);
  orders_cfg.name = "orders";
  orders_cfg.conninfo = "host=orders.example dbname=test";
  orders_cfg.logger = logger;
  auto reports_cfg = make_config(1, 2);
  reports_cfg.name = "reports";
  reports_cfg.conninfo = "host=reports.example dbname=test";
  reports_cfg.logger = logger;
  auto orders = start(orders_cfg);
  auto reports = start(reports_cfg);
  advance(100ms);
  for (auto& p : {orders, reports}) {
    auto down = ask<caf::ok_atom>(p, shutdown_atom::value, caf::timespan{1s});
    sched.run();
    CAF_CHECK(down->ok());
  }
  logger->flush();
  auto text = captured.str();
  CAF_MESSAGE("captured log:\n" << text);
  std::istringstream lines{text};
  size_t orders_lines = 0;
  size_t reports_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    auto is_orders = line.find("[app.orders]") != std::string::npos;
    auto is_reports = line.find("[app.reports]") != std::string::npos;
    CAF_CHECK(is_orders != is_reports);
    // A line naming one pool's host comes from that pool.
    if (line.find("orders.example") != std::string::npos)
      CAF_CHECK(is_orders);
    if (line.find("reports.example") != std::string::npos)
      CAF_CHECK(is_reports);
    orders_lines += is_orders ? 1 : 0;
    reports_lines += is_reports ? 1 : 0;
  }
  CAF_CHECK_GREATER(orders_lines, 0u);
  CAF_CHECK_GREATER(reports_lines, 0u);
  CAF_CHECK_NOT_EQUAL(text.find("[app.orders] [info] starting pool"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("[app.reports] [info] starting pool"),
                      std::string::npos);
  // The logger given is left as it was.
  CAF_CHECK_EQUAL(logger->name(), "app");
}

// The pool's name is validated.
CAF_TEST(pool names are validated) {
  CAF_CHECK_EQUAL(check([](pool_config& c) { c.name = "orders-2.eu_1"; }), "");
  CAF_CHECK(starts_with(check([](pool_config& c) { c.name = ""; }), "name:"));
  CAF_CHECK(
    starts_with(check([](pool_config& c) { c.name = "a b"; }), "name:"));
  CAF_CHECK(
    starts_with(check([](pool_config& c) { c.name = "a/b"; }), "name:"));
}

// spawn_pool refuses an invalid config and starts nothing.
CAF_TEST(spawn_pool refuses an invalid config) {
  auto cfg = make_config(3, 1);
  auto res = spawn_pool(sys, cfg);
  CAF_CHECK(!res);
  CAF_CHECK(is(res.error(), pool_errc::invalid_config));
  sched.run();
  CAF_CHECK_EQUAL(script->created, 0);
}

// Errors render readably, with SQLSTATE and message.
CAF_TEST(errors render with sqlstate) {
  auto err = make_error(pool_errc::query_failed, "syntax error", "42601");
  CAF_CHECK_EQUAL(describe(err), "query_failed [42601]: syntax error");
  CAF_CHECK_EQUAL(sqlstate(err), "42601");
  CAF_CHECK(is(err, pool_errc::query_failed));
  CAF_CHECK(!is(err, pool_errc::connection_lost));
  CAF_CHECK_EQUAL(sys.render(err), "query_failed [42601]: syntax error");
  // No error at all (CAF 0.17 crashes on category() of an empty error).
  CAF_CHECK(!is(caf::error{}, pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(caf::error{}), "");
  CAF_CHECK_EQUAL(error_message(caf::error{}), "");
}

CAF_TEST_FIXTURE_SCOPE_END()
