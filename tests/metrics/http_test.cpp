#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE metrics_http
#include "caf/test/unit_test.hpp"

#include "http.hpp"

#include "live.hpp"

using namespace metrics_test;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

} // namespace

// poold's HTTP endpoints on a free port: /metrics and /health answer for a
// live pool; a pool whose server port is closed opens its breaker and turns
// /health into 503 with the reason, JSON-escaped; removing it makes /health
// 200 again. A second server on the same port reports an error.
CAF_TEST(metrics and health over http) {
  pool_test::live_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  poold::http_config hc;
  hc.port = 0;
  auto server = poold::http_server::start(sys, hc);
  CAF_REQUIRE(server);
  auto port = (*server)->port();
  CAF_REQUIRE_NOT_EQUAL(port, 0);
  auto orders = spawn(sys, "orders", test_dsn());
  CAF_CHECK(run(self, orders, "SELECT 1"));
  CAF_CHECK(!(*server)->add("orders", orders));
  auto m = http_get(port, "/metrics");
  CAF_CHECK_EQUAL(m.error, "");
  CAF_CHECK_EQUAL(m.status, 200);
  CAF_CHECK(contains(m.headers, "Content-Type: text/plain; version=0.0.4"));
  CAF_CHECK(contains(m.body, "libpool_pool_up{pool=\"orders\"} 1"));
  CAF_CHECK(contains(m.body, "libpool_acquired_total{pool=\"orders\"} 1"));
  auto h = http_get(port, "/health");
  CAF_CHECK_EQUAL(h.status, 200);
  CAF_CHECK(contains(h.headers, "Content-Type: application/json"));
  CAF_CHECK_EQUAL(h.body, R"({"status":"ok","pools":{"orders":{"ok":true}}})");
  // A pool on a port nobody listens on: its breaker opens.
  auto dead = spawn(sys, "dead",
                    "host=127.0.0.1 port=" + std::to_string(closed_port()) +
                      " user=postgres dbname=pooltest");
  CAF_CHECK(!(*server)->add("dead", dead));
  auto [st, open] = pool_test::wait_for_stats(
    self, dead, 5s,
    [](const pool::pool_stats& s) {
      return s.breaker == pool::breaker_state::open;
    },
    20000ms);
  CAF_REQUIRE(open);
  h = http_get(port, "/health");
  CAF_CHECK_EQUAL(h.status, 503);
  CAF_MESSAGE("health: " << h.body);
  CAF_CHECK(contains(h.body, R"({"status":"unavailable","pools":{"dead":)"
                             R"({"ok":false,"reason":"circuit breaker open;)"));
  CAF_CHECK(contains(h.body, R"("orders":{"ok":true}})"));
  // libpq names the host in quotes: escaped in the JSON.
  CAF_CHECK(contains(h.body, R"(\"127.0.0.1\")"));
  m = http_get(port, "/metrics");
  CAF_CHECK_EQUAL(m.status, 200);
  CAF_CHECK(contains(m.body, "libpool_breaker_state{pool=\"dead\","
                             "state=\"open\"} 1"));
  // Port in use: an error, not an exception.
  poold::http_config busy;
  busy.port = port;
  auto second = poold::http_server::start(sys, busy);
  CAF_CHECK(!second);
  if (!second) {
    CAF_MESSAGE("second server: " << pool::describe(second.error()));
    CAF_CHECK(pool::is(second.error(), pool::pool_errc::invalid_config));
  }
  CAF_CHECK((*server)->remove("dead"));
  h = http_get(port, "/health");
  CAF_CHECK_EQUAL(h.status, 200);
  // Unknown paths: civetweb's 404.
  CAF_CHECK_EQUAL(http_get(port, "/nothing").status, 404);
  shut_down(self, dead);
  shut_down(self, orders);
}

// health_body on its own: names and reasons escaped (quotes, control
// characters); one unhealthy pool makes the status unavailable.
CAF_TEST(health json) {
  CAF_CHECK_EQUAL(poold::health_body({{"p", {false, "a\nb"}}}),
                  R"({"status":"unavailable","pools":{"p":{"ok":false,)"
                  R"("reason":"a\u000ab"}}})");
  std::vector<std::pair<std::string, pool::health_status>> xs{
    {"a", {true, ""}}, {"b\"", {false, "x \"y\""}}};
  CAF_CHECK_EQUAL(poold::health_body(xs),
                  R"({"status":"unavailable","pools":{"a":{"ok":true},)"
                  R"("b\"":{"ok":false,"reason":"x \"y\""}}})");
  xs.pop_back();
  CAF_CHECK_EQUAL(poold::health_body(xs),
                  R"({"status":"ok","pools":{"a":{"ok":true}}})");
  CAF_CHECK_EQUAL(poold::health_body({}), R"({"status":"ok","pools":{}})");
  // A routed pool: its replicas' serving state, the status its primary's.
  pool::replica_stats r1;
  r1.name = "a.replica1";
  r1.serving = true;
  pool::replica_stats r2;
  r2.name = "a.replica2";
  r2.reason = "lag check failed: x";
  CAF_CHECK_EQUAL(poold::health_body(xs, {{"a", {r1, r2}}}),
                  R"({"status":"ok","pools":{"a":{"ok":true,"replicas":{)"
                  R"("a.replica1":{"serving":true},"a.replica2":{)"
                  R"("serving":false,"reason":"lag check failed: x"}}}}})");
}
