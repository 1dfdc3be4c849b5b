// poolctl's output formats and its health verdict: plain functions of the
// values, no node needed.
#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE poolctl_render
#include "caf/test/unit_test.hpp"
#define CAF_TEST_NO_MAIN
#include "caf/test/unit_test_impl.hpp"

#include "render.hpp"

using namespace poolctl;

namespace {

pool::query_result two_columns() {
  pool::query_result r;
  r.columns = {{"n", 23}, {"text", 25}};
  r.cells = {std::string{"1"}, std::string{"ab"}, std::string{"10"}, caf::none};
  r.command_tag = "SELECT 2";
  r.affected = 2;
  return r;
}

} // namespace

CAF_TEST(a working pool is healthy) {
  pool::pool_stats x;
  x.total = 2;
  auto h = evaluate_health(x);
  CAF_CHECK(h.ok);
  CAF_CHECK_EQUAL(h.reason, "");
  CAF_CHECK_EQUAL(health_text("orders", h), "pool orders: ok");
}

CAF_TEST(a pool without connections is healthy while connects do not fail) {
  pool::pool_stats x; // min_size 0, nothing asked yet
  CAF_CHECK(evaluate_health(x).ok);
  x.last_connect_error = "connect_failed: refused";
  auto h = evaluate_health(x);
  CAF_CHECK(!h.ok);
  CAF_CHECK_EQUAL(h.reason,
                  "no connection and connects fail: \"connect_failed: "
                  "refused\"");
  x.total = 1; // a connection exists: an old failure does not matter
  CAF_CHECK(evaluate_health(x).ok);
}

CAF_TEST(shutting down or an open breaker is unhealthy) {
  pool::pool_stats x;
  x.total = 4;
  x.shutting_down = true;
  auto h = evaluate_health(x);
  CAF_CHECK(!h.ok);
  CAF_CHECK_EQUAL(health_text("p", h),
                  "pool p: not ok: the pool is shutting down");
  x.shutting_down = false;
  x.breaker = pool::breaker_state::open;
  x.last_connect_error = "auth_failed";
  h = evaluate_health(x);
  CAF_CHECK(!h.ok);
  CAF_CHECK(h.reason.find("circuit breaker is open") != std::string::npos);
  CAF_CHECK(h.reason.find("auth_failed") != std::string::npos);
  x.breaker = pool::breaker_state::half_open; // a probe is under way
  CAF_CHECK(evaluate_health(x).ok);
  CAF_CHECK_EQUAL(health_json("p", {false, "a \"quoted\"\nreason"}),
                  "{\"pool\": \"p\", \"healthy\": false, \"reason\": \"a "
                  "\\\"quoted\\\"\\u000areason\"}");
}

CAF_TEST(the table aligns columns and counts rows like psql) {
  CAF_CHECK_EQUAL(result_table(two_columns()), " n  | text\n"
                                               "----+------\n"
                                               " 1  | ab\n"
                                               " 10 | \n"
                                               "(2 rows)");
  pool::query_result one;
  one.columns = {{"ä", 25}};
  one.cells = {std::string{"xyz"}};
  CAF_CHECK_EQUAL(result_table(one), " ä\n-----\n xyz\n(1 row)");
  pool::query_result none;
  none.columns = {{"x", 23}};
  CAF_CHECK_EQUAL(result_table(none), " x\n---\n(0 rows)");
  pool::query_result insert;
  insert.command_tag = "INSERT 0 3";
  insert.affected = 3;
  CAF_CHECK_EQUAL(result_table(insert), "INSERT 0 3");
}

CAF_TEST(query JSON has columns and rows with null and the command tag) {
  CAF_CHECK_EQUAL(result_json(two_columns()),
                  "{\"columns\": [\"n\",\"text\"], \"rows\": "
                  "[[\"1\",\"ab\"],[\"10\",null]], \"command_tag\": "
                  "\"SELECT 2\"}");
  pool::query_result q;
  q.columns = {{"a\"b\\c", 25}};
  q.cells = {std::string{"tab\there"}};
  q.command_tag = "SELECT 1";
  CAF_CHECK_EQUAL(result_json(q),
                  "{\"columns\": [\"a\\\"b\\\\c\"], \"rows\": "
                  "[[\"tab\\u0009here\"]], \"command_tag\": \"SELECT 1\"}");
}

CAF_TEST(stats JSON has every field of the text line) {
  pool::pool_stats x;
  x.total = 3;
  x.wait_time_total = std::chrono::microseconds(1500);
  x.breaker = pool::breaker_state::half_open;
  x.last_connect_error = "say \"no\"";
  auto text = stats_text("orders", x);
  CAF_CHECK_EQUAL(text.compare(0, 21, "pool orders: total=3 "), 0);
  auto json = stats_json("orders", x);
  // Every label of pool::to_string appears as a key, in the same order.
  size_t at = 0;
  for (size_t pos = 0; (pos = text.find('=', pos)) != std::string::npos;
       ++pos) {
    auto begin = text.rfind(' ', pos) + 1;
    auto label = text.substr(begin, pos - begin);
    if (label.empty() || label.find('"') != std::string::npos)
      continue; // inside the quoted connect error
    auto key = json.find("\"" + label + "\": ");
    CAF_CHECK(key != std::string::npos);
    if (key == std::string::npos)
      CAF_MESSAGE("missing in the JSON: " << label);
    CAF_CHECK(key >= at);
    at = key;
  }
  CAF_CHECK(json.find("\"wait_time_total\": 1.500") != std::string::npos);
  CAF_CHECK(json.find("\"breaker\": \"half_open\"") != std::string::npos);
  CAF_CHECK(json.find("\"last_connect_error\": \"say \\\"no\\\"\"") !=
            std::string::npos);
  CAF_CHECK(json.find("\"shutting_down\": false") != std::string::npos);
}

CAF_TEST(pools are listed one a line or as JSON) {
  CAF_CHECK_EQUAL(pools_text({"a", "b"}), "a\nb");
  CAF_CHECK_EQUAL(pools_json({"a", "b"}), "{\"pools\": [\"a\",\"b\"]}");
  CAF_CHECK_EQUAL(pools_json({}), "{\"pools\": []}");
}

CAF_TEST(the cluster shows nodes and shares aligned or as JSON) {
  pool::cluster_view v;
  v.node = "n2";
  v.leader = "n1";
  v.plans = 7;
  v.nodes = {{"n2", "", true, ""},
             {"n1", "127.0.0.1:4301", true, ""},
             {"n3", "127.0.0.1:4303", false, "lost: remote_link_unreachable"}};
  v.shares = {{"orders", "n1", 6, 5, 12}, {"orders", "n2", 6, 3, 12}};
  CAF_CHECK_EQUAL(cluster_text(v),
                  "node n2, leader n1, 7 plans received\n"
                  "\n"
                  "NODE  ADDRESS         LIVE  REASON\n"
                  "n2    -               yes   \n"
                  "n1    127.0.0.1:4301  yes   \n"
                  "n3    127.0.0.1:4303  no    lost: remote_link_unreachable\n"
                  "\n"
                  "POOL    NODE  LIMIT  OPEN  BUDGET\n"
                  "orders  n1    6      5     12\n"
                  "orders  n2    6      3     12");
  auto json = cluster_json(v);
  for (auto part :
       {"\"node\": \"n2\"", "\"leader\": \"n1\"", "\"plans\": 7",
        "\"reason\": \"lost: remote_link_unreachable\"", "\"live\": false",
        "\"limit\": 6", "\"open\": 3", "\"budget\": 12"})
    if (json.find(part) == std::string::npos)
      CAF_ERROR("missing in the cluster JSON: " << part << " in " << json);
}

int main(int argc, char** argv) {
  return caf::test::main(argc, argv);
}
