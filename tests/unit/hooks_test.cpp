// Hooks (pool/hooks.hpp) on the fake backend: after_connect as SQL and as a
// callback runs on every new connection before its first use and a failing
// one fails the connect; before_acquire (callback and SQL) can reject a
// connection, which is then replaced while the request goes to another;
// after_release (callback and reset_query's verdict) can discard one; a
// throwing callback never takes the pool down. And the INI keys.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE hooks
#include "fixture.hpp"

#include <optional>
#include <stdexcept>

#include "caf/config_value.hpp"

#include "pool/config_settings.hpp"
#include "pool/hooks.hpp"

#include "results.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct hooks_fixture : fixture {
  /// Runs one pooled query and returns its outcome.
  outcome_ptr<query_result> run(const pool_actor& p, std::string sql) {
    auto o = ask<query_result>(p, query_atom::value, statement{std::move(sql)});
    sched.run();
    return o;
  }

  /// Acquires a lease and releases it at once.
  void lease_round(const pool_actor& p) {
    auto o = ask<lease>(p, acquire_atom::value, caf::timespan{1s});
    sched.run();
    CAF_REQUIRE(o->ok());
    auto r = ask<caf::ok_atom>(p, release_atom::value, o->value->id);
    sched.run();
    CAF_REQUIRE(r->ok());
  }

  uint64_t closed_by_hook(const pool_actor& p) {
    return stats(p)
      .connections_closed_by[static_cast<size_t>(close_reason::hook)];
  }
};

std::shared_ptr<pool_hooks> make_hooks() {
  return std::make_shared<pool_hooks>();
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(hooks_tests, hooks_fixture)

// Proves: the configured statements, then the callback's, run on every new
// connection, in order, before the first query; the callback learns the
// connection's id and endpoint.
CAF_TEST(after_connect runs before the first use of each connection) {
  auto cfg = make_config(2, 2);
  cfg.after_connect_sql = {"SET application_name = 'orders'",
                           "SET statement_timeout = 0"};
  auto seen = std::make_shared<std::vector<connection_info>>();
  auto h = make_hooks();
  h->after_connect = [seen](const connection_info& c) {
    seen->push_back(c);
    return std::vector<statement>{
      statement{"PREPARE q AS SELECT $1::int"},
      statement{"SELECT set_config('app.conn', $1, false)",
                {std::to_string(c.id)}}};
  };
  cfg.hooks = h;
  auto p = start(std::move(cfg));
  CAF_REQUIRE_EQUAL(seen->size(), 2u);
  CAF_CHECK_EQUAL(seen->at(0).endpoint, "fake:5432");
  CAF_CHECK_NOT_EQUAL(seen->at(0).id, seen->at(1).id);
  CAF_CHECK(run(p, "SELECT 1")->ok());
  for (int n : {1, 2}) {
    auto log = script->log_of(n);
    CAF_REQUIRE(log.size() >= 4u);
    std::vector<std::string> first(log.begin(), log.begin() + 4);
    CAF_CHECK_EQUAL(
      first, (std::vector<std::string>{
               "SET application_name = 'orders'", "SET statement_timeout = 0",
               "PREPARE q AS SELECT $1::int",
               "SELECT set_config('app.conn', $1, false)"}));
  }
  CAF_CHECK_EQUAL(stats(p).idle, 2u);
}

// Proves: an after_connect statement that fails fails the connect with
// connect_failed naming the hook and the statement; the breaker counts it
// (it opens after breaker_threshold such connects) and a waiting query is
// answered, not lost.
CAF_TEST(a failing after_connect fails the connect and the breaker counts it) {
  script->rules["SET search_path = nope"].error = make_error(
    pool_errc::query_failed, "schema \"nope\" does not exist", "3F000");
  auto cfg = make_config(1, 1);
  cfg.after_connect_sql = {"SET search_path = nope"};
  cfg.breaker_threshold = 3;
  cfg.backoff_min = 10ms;
  cfg.backoff_max = 10ms;
  cfg.acquire_timeout = 1s;
  auto p = start(std::move(cfg));
  auto o = ask<query_result>(p, query_atom::value, statement{"SELECT 1"});
  advance(2s);
  CAF_CHECK_EQUAL(o->answers, 1);
  CAF_CHECK(!o->value);
  auto st = stats(p);
  CAF_CHECK_EQUAL(st.idle, 0u);
  CAF_CHECK_NOT_EQUAL(
    st.last_connect_error.find("after_connect: SET search_path = nope: "),
    std::string::npos);
  CAF_CHECK_NOT_EQUAL(st.last_connect_error.find("does not exist"),
                      std::string::npos);
  CAF_CHECK(st.breaker_opened >= 1u);
  CAF_MESSAGE("last connect error: " << st.last_connect_error);
}

// Proves: a callback that throws fails the connect the same way (the pool
// lives on); once it stops throwing, connections open.
CAF_TEST(a throwing after_connect callback fails the connect only) {
  auto throws = std::make_shared<bool>(true);
  auto h = make_hooks();
  h->after_connect = [throws](const connection_info&) {
    if (*throws)
      throw std::runtime_error("no registry");
    return std::vector<statement>{};
  };
  auto cfg = make_config(1, 1);
  cfg.hooks = h;
  cfg.breaker_threshold = 0;
  cfg.backoff_min = 10ms;
  cfg.backoff_max = 10ms;
  auto p = start(std::move(cfg));
  auto st = stats(p);
  CAF_CHECK_EQUAL(st.idle, 0u);
  CAF_CHECK_NOT_EQUAL(st.last_connect_error.find(
                        "after_connect: the callback threw: no registry"),
                      std::string::npos);
  *throws = false;
  advance(100ms);
  CAF_CHECK_EQUAL(stats(p).idle, 1u);
  CAF_CHECK(run(p, "SELECT 1")->ok());
}

// Proves: a before_acquire callback that says no gets the connection closed
// (close reason hook) and replaced; the request runs on the replacement. It
// sees each connection's hand-out count.
CAF_TEST(before_acquire callback rejects a used connection) {
  auto h = make_hooks();
  auto calls = std::make_shared<int>(0);
  h->before_acquire = [calls](const connection_info& c) {
    ++*calls;
    return c.uses < 2; // each connection serves two hand-outs
  };
  auto cfg = make_config(1, 1);
  cfg.hooks = h;
  auto p = start(std::move(cfg));
  CAF_CHECK(run(p, "SELECT 1")->ok());
  CAF_CHECK(run(p, "SELECT 2")->ok());
  CAF_CHECK_EQUAL(closed_by_hook(p), 0u);
  CAF_CHECK(run(p, "SELECT 3")->ok());
  CAF_CHECK_EQUAL(closed_by_hook(p), 1u);
  CAF_CHECK_EQUAL(script->log_of(1),
                  (std::vector<std::string>{"SELECT 1", "SELECT 2"}));
  CAF_CHECK_EQUAL(script->log_of(2), (std::vector<std::string>{"SELECT 3"}));
  CAF_CHECK_EQUAL(*calls, 4);
}

// Proves: a before_acquire callback that rejects every new connection does
// not make the pool churn connections: breaker_threshold new connections
// rejected in a row open the breaker (its reason names the hook), the
// request is answered by its deadline, and once the hook says yes again the
// probe connection after the cool-down serves requests.
CAF_TEST(
  a before_acquire hook that rejects every new connection opens the breaker) {
  auto h = make_hooks();
  auto yes = std::make_shared<bool>(false);
  h->before_acquire = [yes](const connection_info&) { return *yes; };
  auto cfg = make_config(0, 1);
  cfg.hooks = h;
  cfg.breaker_threshold = 3;
  cfg.breaker_cooldown = 1s;
  cfg.backoff_min = 1ms;
  cfg.backoff_max = 1ms;
  cfg.acquire_timeout = 500ms;
  auto p = start(std::move(cfg));
  auto o = ask<query_result>(p, query_atom::value, statement{"SELECT 1"});
  sched.run();
  advance(600ms, 1ms);
  CAF_CHECK_EQUAL(o->answers, 1);
  CAF_CHECK(!o->ok());
  CAF_MESSAGE("answer: " << describe(o->err));
  auto st = stats(p);
  CAF_CHECK_EQUAL(st.breaker_opened, 1u);
  CAF_CHECK_EQUAL(st.connections_created, 3u); // not hundreds
  CAF_CHECK_EQUAL(closed_by_hook(p), 3u);
  *yes = true;
  advance(1100ms, 10ms); // cool-down over: one probe connect
  auto ok = run(p, "SELECT 2");
  advance(10ms, 1ms);
  CAF_CHECK(ok->ok());
  CAF_CHECK_EQUAL(stats(p).breaker, breaker_state::closed);
}

// Proves: a before_acquire callback that throws rejects the connection
// (logged) and the pool goes on: the request is answered on a replacement.
CAF_TEST(a throwing before_acquire callback only rejects the connection) {
  auto h = make_hooks();
  auto first = std::make_shared<std::optional<uint32_t>>();
  h->before_acquire = [first](const connection_info& c) -> bool {
    if (!*first)
      *first = c.id;
    if (c.id == **first)
      throw std::logic_error("bad state");
    return true;
  };
  auto cfg = make_config(1, 1);
  cfg.hooks = h;
  auto p = start(std::move(cfg));
  auto o = run(p, "SELECT 1");
  CAF_CHECK(o->ok());
  CAF_CHECK_EQUAL(closed_by_hook(p), 1u);
  CAF_CHECK_EQUAL(script->log_of(2), (std::vector<std::string>{"SELECT 1"}));
}

// Proves: before_acquire as SQL runs before every hand-out (as the
// validation); a false first value rejects the connection, which is closed
// and replaced, and the waiting request is served by the replacement once
// the check says yes again.
CAF_TEST(before_acquire SQL checks each hand - out and false rejects) {
  const std::string check = "SELECT pg_is_in_recovery() = false";
  script->rules[check].result = one_value("t");
  auto cfg = make_config(1, 1);
  cfg.before_acquire_sql = check;
  auto p = start(std::move(cfg));
  CAF_CHECK(run(p, "SELECT 1")->ok());
  CAF_CHECK(run(p, "SELECT 2")->ok());
  CAF_CHECK_EQUAL(script->log_of(1), (std::vector<std::string>{
                                       check, "SELECT 1", check, "SELECT 2"}));
  // The server turns into a standby: the check says no (it takes 10 ms).
  script->rules[check].result = one_value("f");
  script->rules[check].latency = 10ms;
  auto o = ask<query_result>(p, query_atom::value, statement{"SELECT 3"});
  sched.run();
  advance(10ms, 10ms);
  CAF_CHECK_EQUAL(o->answers, 0);
  CAF_CHECK(closed_by_hook(p) >= 1u);
  script->rules[check].result = one_value("t");
  advance(50ms, 10ms);
  CAF_CHECK(o->ok());
  auto log = script->log_of(script->created);
  CAF_CHECK_EQUAL(log.back(), "SELECT 3");
  CAF_CHECK_EQUAL(stats(p).idle, 1u);
}

// Proves: an after_release callback that says no discards the connection
// when the lease comes back; the next lease gets a new connection.
CAF_TEST(after_release callback discards a connection) {
  auto h = make_hooks();
  auto seen = std::make_shared<std::vector<uint64_t>>();
  h->after_release = [seen](const connection_info& c) {
    seen->push_back(c.uses);
    return false;
  };
  auto cfg = make_config(1, 1);
  cfg.hooks = h;
  auto p = start(std::move(cfg));
  lease_round(p);
  CAF_CHECK_EQUAL(closed_by_hook(p), 1u);
  CAF_CHECK_EQUAL(stats(p).idle, 1u);
  CAF_CHECK_EQUAL(script->created, 2);
  CAF_CHECK(run(p, "SELECT 1")->ok());
  CAF_CHECK_EQUAL(closed_by_hook(p), 2u); // pooled queries come back too
  CAF_CHECK_EQUAL(*seen, (std::vector<uint64_t>{1, 1}));
}

// Proves: a reset_query whose first value is false discards the connection
// after the lease; true keeps it.
CAF_TEST(reset_query that says false discards the connection) {
  const std::string reset = "SELECT keep_me()";
  script->rules[reset].result = one_value("true");
  auto cfg = make_config(1, 1);
  cfg.reset_query = reset;
  auto p = start(std::move(cfg));
  lease_round(p);
  CAF_CHECK_EQUAL(closed_by_hook(p), 0u);
  CAF_CHECK_EQUAL(script->created, 1);
  script->rules[reset].result = one_value("f");
  lease_round(p);
  CAF_CHECK_EQUAL(closed_by_hook(p), 1u);
  CAF_CHECK_EQUAL(script->created, 2);
  CAF_CHECK_EQUAL(stats(p).idle, 1u);
}

// Proves: the INI keys read the SQL forms (a list for after-connect) and
// name the key when a value has the wrong type.
CAF_TEST(hook settings are read from a configuration) {
  caf::settings xs;
  caf::config_value::list stmts;
  stmts.emplace_back(std::string{"SET a = 1"});
  stmts.emplace_back(std::string{"SET b = \"x\""});
  xs["after-connect"] = stmts;
  xs["before-acquire"] = std::string{"SELECT true"};
  pool_config cfg;
  auto err = read_pool_settings(xs, "pools.orders", cfg);
  CAF_CHECK(!err);
  CAF_CHECK_EQUAL(cfg.after_connect_sql,
                  (std::vector<std::string>{"SET a = 1", "SET b = \"x\""}));
  CAF_CHECK_EQUAL(cfg.before_acquire_sql, "SELECT true");
  caf::settings bad;
  bad["after-connect"] = std::string{"SET a = 1"};
  err = read_pool_settings(bad, "pools.orders", cfg);
  CAF_CHECK_NOT_EQUAL(describe(err).find("pools.orders.after-connect: "
                                         "expected a list of quoted strings"),
                      std::string::npos);
  cfg.after_connect_sql = {"SET a = 1", "  "};
  CAF_CHECK_NOT_EQUAL(describe(validate(cfg)).find("after_connect_sql[1]"),
                      std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
