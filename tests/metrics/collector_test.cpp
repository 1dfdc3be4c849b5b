#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE metrics_collector
#include "caf/test/unit_test.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <unistd.h>

#include <prometheus/text_serializer.h>

#include "pool/metrics.hpp"

#include "live.hpp"

using namespace metrics_test;
using namespace std::chrono_literals;

namespace {

// Runs `promtool check metrics` on `text`; returns its exit code and puts
// what it printed into `out`. Fails the test if PROMTOOL is not set.
int promtool_check(const std::string& text, std::string& out) {
  const char* promtool = std::getenv("PROMTOOL");
  if (promtool == nullptr || *promtool == '\0')
    CAF_FAIL("PROMTOOL is not set (CMake did not find promtool; install the "
             "prometheus package)");
  auto file = "/tmp/libpool_metrics_" + std::to_string(::getpid()) + ".prom";
  std::ofstream{file} << text;
  auto cmd = std::string{promtool} + " check metrics < " + file + " 2>&1";
  auto* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr)
    CAF_FAIL("cannot run " << cmd);
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof(buf), pipe))
    out.append(buf, n);
  auto rc = ::pclose(pipe);
  std::remove(file.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

} // namespace

// Two live pools, some queries and a failing one: the collector's families,
// in Prometheus' text format, pass `promtool check metrics` and carry both
// pool labels, the histogram buckets and the SQLSTATE class.
CAF_TEST(collector output passes promtool) {
  pool_test::live_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto dsn = test_dsn();
  auto orders = spawn(sys, "orders", dsn);
  auto reports = spawn(sys, "reports", dsn);
  for (int i = 0; i < 5; ++i)
    CAF_CHECK(run(self, orders, "SELECT " + std::to_string(i)));
  CAF_CHECK(run(self, reports, "SELECT 1"));
  auto failed = run(self, reports, "SELECT 1/0"); // 22012
  CAF_REQUIRE(!failed);
  CAF_CHECK_EQUAL(pool::sqlstate(failed.error()), "22012");
  pool::pool_collector collector{sys};
  CAF_CHECK(!collector.add("orders", orders));
  CAF_CHECK(!collector.add("reports", reports));
  // Bad input is refused with a clear error.
  auto err = collector.add("", orders);
  CAF_CHECK(pool::is(err, pool::pool_errc::invalid_request));
  err = collector.add("nobody", pool::pool_actor{});
  CAF_CHECK(pool::is(err, pool::pool_errc::invalid_request));
  std::vector<std::string> names{"orders", "reports"};
  CAF_CHECK_EQUAL(collector.names(), names);
  // The failure reaches the manager as a message of its own: wait for it.
  auto [st, seen] = pool_test::wait_for_stats(
    self, reports, 5s,
    [](const pool::pool_stats& s) { return s.errors_by_class.count("22"); },
    10000ms);
  CAF_CHECK(seen);
  auto text = prometheus::TextSerializer{}.Serialize(collector.Collect());
  CAF_MESSAGE("scrape:\n" << text);
  std::string out;
  auto rc = promtool_check(text, out);
  CAF_MESSAGE("promtool: rc " << rc << ": " << out);
  CAF_CHECK_EQUAL(rc, 0);
  CAF_CHECK_EQUAL(out, "");
  CAF_CHECK(contains(text, "libpool_pool_up{pool=\"orders\"} 1"));
  CAF_CHECK(contains(text, "libpool_pool_up{pool=\"reports\"} 1"));
  CAF_CHECK(contains(text, "libpool_acquired_total{pool=\"orders\"} 5"));
  CAF_CHECK(contains(text, "libpool_query_errors_total{pool=\"reports\","
                           "class=\"22\"} 1"));
  CAF_CHECK(contains(text, "libpool_query_duration_seconds_bucket{pool="
                           "\"orders\",le=\"0.001\"}"));
  CAF_CHECK(contains(text, "libpool_query_duration_seconds_bucket{pool="
                           "\"orders\",le=\"+Inf\"} 5"));
  CAF_CHECK(contains(text, "libpool_query_duration_seconds_count{pool="
                           "\"orders\"} 5"));
  CAF_CHECK(contains(text, "libpool_acquire_wait_seconds_bucket{pool="
                           "\"reports\",le=\"+Inf\"} 2"));
  CAF_CHECK(contains(text, "libpool_connections{pool=\"orders\",state="
                           "\"idle\"}"));
  CAF_CHECK(contains(text, "libpool_connections_closed_total{pool=\"orders\","
                           "reason=\"lost\"} 0"));
  // A pool that does not answer is skipped, with libpool_pool_up 0.
  shut_down(self, reports);
  text = prometheus::TextSerializer{}.Serialize(collector.Collect());
  CAF_CHECK(contains(text, "libpool_pool_up{pool=\"reports\"} 0"));
  CAF_CHECK(contains(text, "libpool_pool_up{pool=\"orders\"} 1"));
  CAF_CHECK(!contains(text, "libpool_acquired_total{pool=\"reports\"}"));
  out.clear();
  CAF_CHECK_EQUAL(promtool_check(text, out), 0);
  CAF_CHECK(collector.remove("reports"));
  CAF_CHECK(!collector.remove("reports"));
  text = prometheus::TextSerializer{}.Serialize(collector.Collect());
  CAF_CHECK(!contains(text, "pool=\"reports\""));
  shut_down(self, orders);
}

// The hosts of a pool's connections and a routed pool's replicas: labelled
// samples that promtool accepts, and none for a pool without replicas.
CAF_TEST(hosts and replicas are labelled samples) {
  pool::pool_stats plain;
  plain.connections_by_host = {{"127.0.0.1:5432", 3}};
  pool::pool_stats routed;
  routed.connections_by_host = {{"db1:5432", 2}, {"db2:5432", 1}};
  routed.reads_on_primary = 4;
  pool::replica_stats r;
  r.name = "orders.replica1";
  r.serving = false;
  r.lag = 2500ms;
  r.reads = 9;
  r.lag_check_failures = 1;
  r.connections_by_host = {{"db3:5432", 2}};
  routed.replicas.push_back(r);
  auto text = prometheus::TextSerializer{}.Serialize(
    pool::pool_collector::families({{"plain", plain}, {"orders", routed}}));
  CAF_MESSAGE("scrape:\n" << text);
  std::string out;
  CAF_CHECK_EQUAL(promtool_check(text, out), 0);
  CAF_CHECK_EQUAL(out, "");
  CAF_CHECK(contains(text, "libpool_connections_by_host{pool=\"plain\","
                           "host=\"127.0.0.1:5432\"} 3"));
  CAF_CHECK(contains(text, "libpool_connections_by_host{pool=\"orders\","
                           "host=\"db2:5432\"} 1"));
  // The replicas' connections count for the routed pool too.
  CAF_CHECK(contains(text, "libpool_connections_by_host{pool=\"orders\","
                           "host=\"db3:5432\"} 2"));
  CAF_CHECK(contains(text, "libpool_replica_serving{pool=\"orders\","
                           "replica=\"orders.replica1\"} 0"));
  CAF_CHECK(contains(text, "libpool_replica_lag_seconds{pool=\"orders\","
                           "replica=\"orders.replica1\"} 2.5"));
  CAF_CHECK(contains(text, "libpool_replica_reads_total{pool=\"orders\","
                           "replica=\"orders.replica1\"} 9"));
  CAF_CHECK(contains(text, "libpool_replica_lag_check_failures_total{pool="
                           "\"orders\",replica=\"orders.replica1\"} 1"));
  CAF_CHECK(contains(text, "libpool_reads_on_primary_total{pool=\"orders\"} "
                           "4"));
  CAF_CHECK(!contains(text, "libpool_reads_on_primary_total{pool=\"plain\""));
}

// LISTEN/NOTIFY counters are samples of every pool, and promtool accepts
// them.
CAF_TEST(listen stats are samples) {
  pool::pool_stats st;
  st.listen = pool::listen_stats{1, 2, 3, 40, 70, 5};
  auto text = prometheus::TextSerializer{}.Serialize(
    pool::pool_collector::families({{"orders", st}}));
  std::string out;
  CAF_CHECK_EQUAL(promtool_check(text, out), 0);
  CAF_CHECK_EQUAL(out, "");
  CAF_CHECK(contains(text, "libpool_listen_connections{pool=\"orders\"} 1"));
  CAF_CHECK(contains(text, "libpool_listen_channels{pool=\"orders\"} 2"));
  CAF_CHECK(contains(text, "libpool_listen_subscriptions{pool=\"orders\"} 3"));
  CAF_CHECK(contains(text, "libpool_notifications_received_total{pool="
                           "\"orders\"} 40"));
  CAF_CHECK(contains(text, "libpool_notifications_delivered_total{pool="
                           "\"orders\"} 70"));
  CAF_CHECK(contains(text, "libpool_listen_reconnects_total{pool="
                           "\"orders\"} 5"));
}

// promtool itself must reject bad input, or the check above proves nothing.
CAF_TEST(promtool rejects a broken exposition) {
  std::string out;
  auto rc = promtool_check("# TYPE x counter\nx{pool=\"a\" 1\n", out);
  CAF_MESSAGE("promtool: rc " << rc << ": " << out);
  CAF_CHECK_NOT_EQUAL(rc, 0);
}
