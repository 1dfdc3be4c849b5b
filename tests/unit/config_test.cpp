#define CAF_SUITE config
#include "fixture.hpp"

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

// A conninfo error never echoes the password.
CAF_TEST(conninfo errors and logs never show the password) {
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
}

// spawn_pool refuses an invalid config and starts nothing.
// Only plain DML may share a pipeline: statements that could open a
// transaction or refuse to run inside one are recognised, after white space
// and comments, in any letter case. Anything unrecognised (even a
// parenthesised SELECT) runs alone: the safe side.
CAF_TEST(may_pipeline accepts plain DML only) {
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
                       "/* a /* nested */ comment */ SELECT 1"};
  for (auto sql : dml) {
    if (!may_pipeline(sql))
      CAF_ERROR("not accepted: " << sql);
    CAF_CHECK(may_pipeline(sql));
  }
  const char* other[] = {"BEGIN",
                         "begin",
                         "START TRANSACTION",
                         "COMMIT",
                         "SET x = 1",
                         "VACUUM",
                         "DISCARD ALL",
                         "CREATE DATABASE x",
                         "SELECTED",
                         "select_x",
                         "(SELECT 1)",
                         "",
                         "   ",
                         "-- only a comment",
                         "/* unterminated",
                         "LISTEN x",
                         "COPY t FROM STDIN",
                         "CALL p()",
                         "DO $$ BEGIN END $$"};
  for (auto sql : other) {
    if (may_pipeline(sql))
      CAF_ERROR("accepted: " << sql);
    CAF_CHECK(!may_pipeline(sql));
  }
}

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
}

CAF_TEST_FIXTURE_SCOPE_END()

#undef CAF_SUITE
#define CAF_SUITE serialization

CAF_TEST_FIXTURE_SCOPE(serialization_tests, fixture)

// Every field of the messages survives CAF's binary serialization, which is
// what crosses the network between nodes.
CAF_TEST(stats and events round trip) {
  pool_stats st;
  st.total = 7;
  st.shed = 3;
  st.breaker = breaker_state::half_open;
  st.last_connect_error = "connect_failed: refused";
  st.wait_time_total = std::chrono::milliseconds(12);
  auto msg = caf::make_message(
    st, breaker_event{breaker_state::open, breaker_state::closed, "x"});
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  CAF_REQUIRE(!sink(msg));
  caf::message copy;
  caf::binary_deserializer source{sys, buf};
  CAF_REQUIRE(!source(copy));
  CAF_REQUIRE(copy.match_elements<pool_stats, breaker_event>());
  auto& st2 = copy.get_as<pool_stats>(0);
  CAF_CHECK_EQUAL(st2.total, 7u);
  CAF_CHECK_EQUAL(st2.shed, 3u);
  CAF_CHECK_EQUAL(st2.breaker, breaker_state::half_open);
  CAF_CHECK_EQUAL(st2.last_connect_error, "connect_failed: refused");
  CAF_CHECK_EQUAL(st2.wait_time_total,
                  caf::timespan{std::chrono::milliseconds(12)});
  auto& ev = copy.get_as<breaker_event>(1);
  CAF_CHECK_EQUAL(ev.state, breaker_state::open);
  CAF_CHECK_EQUAL(ev.reason, "x");
  statement q{"SELECT $1, $2", {nullptr, ""}};
  auto m2 = caf::make_message(q);
  buf.clear();
  caf::binary_serializer sink2{sys, buf};
  CAF_REQUIRE(!sink2(m2));
  caf::message copy2;
  caf::binary_deserializer source2{sys, buf};
  CAF_REQUIRE(!source2(copy2));
  auto& q2 = copy2.get_as<statement>(0);
  CAF_CHECK(q2.params[0].is_null());
  CAF_CHECK(!q2.params[1].is_null());
  CAF_CHECK_EQUAL(q2.params[1].text(), "");
}

CAF_TEST_FIXTURE_SCOPE_END()
