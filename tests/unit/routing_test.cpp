// A routed pool (pool/routing.hpp) on fake backends: which pool runs what,
// the lag bound, the fallback, the breaker, stats, shutdown, validation.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE routing
#include "fixture.hpp"

#include "pool/routing.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct routing_fixture : fixture {
  /// The replica's "server"; `script` is the primary's.
  std::shared_ptr<fake_script> replica = std::make_shared<fake_script>();

  routing_fixture() {
    replica->endpoint = "replica:5433";
    set_lag("0.25");
  }

  /// What the replica's lag check returns: its own lag estimate (seconds,
  /// as text), the WAL position it replayed and whether it is in recovery.
  /// Unless a test sets the primary's position (`set_primary_lsn`), the
  /// primary's fake answers the sample with no rows, so the estimate counts.
  void set_lag(std::string seconds, std::string replayed = "0/3000060",
               std::string in_recovery = "t") {
    fake_rule rule;
    rule.result.columns = {column{"pg_is_in_recovery", 16},
                           column{"pg_last_wal_replay_lsn", 3220},
                           column{"lag", 701}};
    rule.result.cells = {std::move(in_recovery), std::move(replayed),
                         std::move(seconds)};
    replica->rules[replica_lag_sql] = rule;
  }

  /// What the primary answers to the lag check's sample of its position.
  void set_primary_lsn(std::string lsn) {
    fake_rule rule;
    rule.result.columns = {column{"pg_current_wal_lsn", 3220}};
    rule.result.cells = {std::move(lsn)};
    script->rules[primary_lsn_sql] = rule;
  }

  routed_pool_config make_routed(bool fall_back = true) {
    routed_pool_config cfg;
    cfg.primary = make_config(1, 2);
    cfg.primary.name = "primary";
    auto r = make_config(1, 2);
    r.name = "replica1";
    r.connection_backend = std::make_shared<fake_backend>(replica);
    cfg.replicas.push_back(r);
    cfg.max_replica_lag = 1s;
    cfg.lag_check_interval = 1s;
    cfg.reads_fall_back_to_primary = fall_back;
    return cfg;
  }

  pool_actor start_routed(routed_pool_config cfg) {
    auto res = spawn_routed_pool(sys, std::move(cfg));
    if (!res)
      CAF_FAIL("spawn_routed_pool failed: " << describe(res.error()));
    pools.push_back(*res);
    sched.run();
    return *res;
  }

  /// The first replica's statistics, by value: a check on
  /// `replica0(pool)` would read a destroyed temporary.
  replica_stats replica0(const pool_actor& pool) {
    auto st = stats(pool);
    if (st.replicas.empty())
      CAF_FAIL("the pool reports no replica");
    return st.replicas[0];
  }

  /// Runs `st` through `pool` and returns its outcome.
  outcome_ptr<query_result> run(const pool_actor& pool, statement st) {
    auto q = ask<query_result>(pool, query_atom::value, std::move(st));
    sched.run();
    return q;
  }

  /// How many statements each fake ran with exactly this SQL.
  static int count(const fake_script& s, const std::string& sql) {
    int n = 0;
    for (auto& line : s.log)
      if (line.substr(line.find(':') + 1) == sql)
        ++n;
    return n;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(routing_tests, routing_fixture)

CAF_TEST(reads go to the replica and everything else to the primary) {
  auto pool = start_routed(make_routed());
  CAF_CHECK_EQUAL(count(*replica, replica_lag_sql), 1);
  CAF_CHECK(run(pool, reads("SELECT 101"))->ok());
  CAF_CHECK(run(pool, statement{"SELECT 102"})->ok());
  CAF_CHECK_EQUAL(count(*replica, "SELECT 101"), 1);
  CAF_CHECK_EQUAL(count(*script, "SELECT 101"), 0);
  CAF_CHECK_EQUAL(count(*script, "SELECT 102"), 1);
  CAF_CHECK_EQUAL(count(*replica, "SELECT 102"), 0);
  // A transaction goes to the replica only if every statement reads.
  auto t1 = ask<std::vector<query_result>>(
    pool, transaction_atom::value,
    std::vector<statement>{reads("SELECT 103"), reads("SELECT 104")});
  auto t2 = ask<std::vector<query_result>>(
    pool, transaction_atom::value,
    std::vector<statement>{reads("SELECT 105"), statement{"SELECT 106"}});
  sched.run();
  CAF_CHECK(t1->ok());
  CAF_CHECK(t2->ok());
  CAF_CHECK_EQUAL(count(*replica, "SELECT 103"), 1);
  CAF_CHECK_EQUAL(count(*script, "SELECT 105"), 1);
  CAF_CHECK_EQUAL(count(*script, "SELECT 106"), 1);
  // With a priority class, too.
  auto p = ask<query_result>(pool, query_atom::value, priority::batch,
                             reads("SELECT 107"));
  sched.run();
  CAF_CHECK(p->ok());
  CAF_CHECK_EQUAL(count(*replica, "SELECT 107"), 1);
  // Leases are on the primary: a query on one runs there.
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{10s});
  sched.run();
  CAF_REQUIRE(l->ok());
  auto q = ask<query_result>(l->value->worker, query_atom::value, l->value->id,
                             reads("SELECT 108"));
  sched.run();
  CAF_CHECK(q->ok());
  CAF_CHECK_EQUAL(count(*script, "SELECT 108"), 1);
  auto rel = ask<caf::ok_atom>(pool, release_atom::value, l->value->id);
  sched.run();
  CAF_CHECK(rel->ok());
  auto st = stats(pool);
  CAF_REQUIRE_EQUAL(st.replicas.size(), 1u);
  CAF_CHECK_EQUAL(st.replicas[0].name, "replica1");
  CAF_CHECK(st.replicas[0].serving);
  CAF_CHECK_EQUAL(st.replicas[0].reads, 3u);
  CAF_CHECK_EQUAL(st.replicas[0].lag, caf::timespan{250ms});
  CAF_CHECK_EQUAL(st.reads_on_primary, 0u);
  CAF_CHECK_EQUAL(st.connections_by_host.at("fake:5432"), 1u);
  CAF_CHECK_EQUAL(st.replicas[0].connections_by_host.at("replica:5433"), 1u);
}

CAF_TEST(a replica lagging past the bound gets no reads until it catches up) {
  auto pool = start_routed(make_routed());
  set_lag("3.5");
  advance(1s);
  auto st = stats(pool);
  CAF_REQUIRE_EQUAL(st.replicas.size(), 1u);
  CAF_CHECK(!st.replicas[0].serving);
  CAF_CHECK_EQUAL(st.replicas[0].lag, caf::timespan{3500ms});
  CAF_CHECK_EQUAL(st.replicas[0].reason,
                  "lag 3.500s above max_replica_lag 1.000s");
  CAF_CHECK(run(pool, reads("SELECT 101"))->ok());
  CAF_CHECK_EQUAL(count(*script, "SELECT 101"), 1);
  CAF_CHECK_EQUAL(count(*replica, "SELECT 101"), 0);
  CAF_CHECK_EQUAL(stats(pool).reads_on_primary, 1u);
  set_lag("0");
  advance(1s);
  CAF_CHECK(replica0(pool).serving);
  CAF_CHECK(run(pool, reads("SELECT 102"))->ok());
  CAF_CHECK_EQUAL(count(*replica, "SELECT 102"), 1);
}

/// Proves the lag check sees a replica whose stream broke: it replayed all
/// it received, so its own estimate is 0, but the primary moved on; its lag
/// counts from the primary's first sample beyond its position, and it
/// serves again once it replays that position.
CAF_TEST(a replica cut off from the primary lags from the primary next write) {
  set_primary_lsn("1A/3000060");
  set_lag("0", "1A/3000060");
  auto pool = start_routed(make_routed());
  CAF_CHECK_EQUAL(count(*script, primary_lsn_sql), 1);
  auto st = stats(pool);
  CAF_REQUIRE(st.replicas[0].serving);
  CAF_CHECK_EQUAL(st.replicas[0].lag, caf::timespan{0});
  // The stream breaks (the replica stays at 1A/3000060); the primary
  // writes. The first round sees the new position: lag 0 s since then.
  set_primary_lsn("1A/30000F8");
  advance(1s);
  st = stats(pool);
  CAF_CHECK(st.replicas[0].serving);
  CAF_CHECK_EQUAL(st.replicas[0].lag, caf::timespan{0});
  // An idle primary (the same position) does not restart the count.
  advance(1s);
  CAF_CHECK(replica0(pool).serving); // 1 s: at the bound
  CAF_CHECK_EQUAL(replica0(pool).lag, caf::timespan{1s});
  set_primary_lsn("1B/10");
  advance(1s);
  st = stats(pool);
  CAF_CHECK(!st.replicas[0].serving);
  CAF_CHECK_EQUAL(st.replicas[0].lag, caf::timespan{2s});
  CAF_CHECK_EQUAL(st.replicas[0].reason,
                  "lag 2.000s above max_replica_lag 1.000s");
  CAF_CHECK(run(pool, reads("SELECT 101"))->ok());
  CAF_CHECK_EQUAL(count(*script, "SELECT 101"), 1);
  // It replays up to the first position it lacked: 1 s behind the primary's
  // later one (sampled 1 s ago).
  set_lag("0", "1A/30000F8");
  advance(1s);
  CAF_CHECK_EQUAL(replica0(pool).lag, caf::timespan{1s});
  CAF_CHECK(replica0(pool).serving);
  // Past the primary's position: 0.
  set_lag("0", "1B/20");
  advance(1s);
  CAF_CHECK_EQUAL(replica0(pool).lag, caf::timespan{0});
  CAF_CHECK(run(pool, reads("SELECT 102"))->ok());
  CAF_CHECK_EQUAL(count(*replica, "SELECT 102"), 1);
}

/// Proves the replica's own estimate counts when the primary cannot be
/// sampled (the sample fails), and as a lower bound when the replica is
/// behind every sample kept; a server not in recovery lags 0.
CAF_TEST(without a primary sample the replica estimate counts) {
  fake_rule broken;
  broken.error = make_error(pool_errc::query_failed,
                            "recovery is in "
                            "progress",
                            "55000");
  script->rules[primary_lsn_sql] = broken;
  set_lag("0.75", "0/100");
  auto pool = start_routed(make_routed());
  CAF_CHECK_EQUAL(replica0(pool).lag, caf::timespan{750ms});
  // Sampled, but the replica is behind the only sample: at least its own
  // estimate.
  set_primary_lsn("0/200");
  set_lag("3", "0/100");
  advance(1s);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.replicas[0].lag, caf::timespan{3s});
  CAF_CHECK(!st.replicas[0].serving);
  // A promoted replica (not in recovery) lags 0 whatever it reports.
  set_lag("3", "0/100", "f");
  advance(1s);
  CAF_CHECK_EQUAL(replica0(pool).lag, caf::timespan{0});
  CAF_CHECK(replica0(pool).serving);
  // A malformed position is a failed check that names it.
  set_lag("0", "not-a-position");
  advance(1s);
  st = stats(pool);
  CAF_CHECK(!st.replicas[0].serving);
  CAF_CHECK_EQUAL(st.replicas[0].reason,
                  "lag check failed: query_failed: lag check: not a WAL "
                  "position: not-a-position");
}

CAF_TEST(without fallback a read with no replica serving fails naming why) {
  auto pool = start_routed(make_routed(false));
  set_lag("2");
  advance(1s);
  auto q = run(pool, reads("SELECT 101"));
  CAF_REQUIRE(q->failed_with(pool_errc::no_replica));
  CAF_CHECK_EQUAL(error_message(q->err),
                  "no replica serves reads; replica1: lag 2.000s above "
                  "max_replica_lag 1.000s");
  // Writes still go to the primary.
  CAF_CHECK(run(pool, statement{"SELECT 102"})->ok());
  CAF_CHECK_EQUAL(count(*script, "SELECT 102"), 1);
  CAF_CHECK_EQUAL(count(*script, "SELECT 101"), 0);
  CAF_CHECK_EQUAL(count(*replica, "SELECT 101"), 0);
}

CAF_TEST(a failing lag check or an open breaker takes the replica out) {
  auto cfg = make_routed();
  cfg.replicas[0].breaker_threshold = 1;
  cfg.replicas[0].breaker_cooldown = 60s;
  auto pool = start_routed(cfg);
  CAF_REQUIRE(replica0(pool).serving);
  // The check fails: out at once.
  fake_rule broken;
  broken.error = make_error(pool_errc::query_failed, "boom", "XX000");
  replica->rules[replica_lag_sql] = broken;
  advance(1s);
  auto st = stats(pool);
  CAF_CHECK(!st.replicas[0].serving);
  CAF_CHECK_EQUAL(st.replicas[0].lag_check_failures, 1u);
  CAF_CHECK_NOT_EQUAL(st.replicas[0].reason.find("lag check failed"),
                      std::string::npos);
  set_lag("0");
  advance(1s);
  CAF_REQUIRE(replica0(pool).serving);
  // The replica's server goes away: its breaker opens on the first failed
  // reconnect, and the router hears of it before the next check.
  replica->connect_error = make_error(pool_errc::connect_failed, "refused");
  replica->break_all();
  advance(100ms);
  st = stats(pool);
  CAF_CHECK(!st.replicas[0].serving);
  CAF_CHECK_EQUAL(st.replicas[0].reason, "circuit breaker open");
  CAF_CHECK(run(pool, reads("SELECT 109"))->ok());
  CAF_CHECK_EQUAL(count(*script, "SELECT 109"), 1);
}

CAF_TEST(a read the replica cannot run runs on the primary at once) {
  auto pool = start_routed(make_routed());
  fake_rule lost;
  lost.error = make_error(pool_errc::connection_lost, "server closed");
  replica->rules["SELECT 201"] = lost;
  auto q = run(pool, reads("SELECT 201"));
  CAF_REQUIRE(q->ok());
  CAF_CHECK_EQUAL(count(*replica, "SELECT 201"), 1);
  CAF_CHECK_EQUAL(count(*script, "SELECT 201"), 1);
  auto st = stats(pool);
  CAF_CHECK(!st.replicas[0].serving);
  CAF_CHECK_EQUAL(st.replicas[0].reason.rfind("a read failed: ", 0), 0u);
  CAF_CHECK_EQUAL(st.reads_on_primary, 1u);
  // Back after its next good lag check.
  advance(1s);
  CAF_CHECK(replica0(pool).serving);
  // An error of the statement itself is the answer: not run again.
  fake_rule bad;
  bad.error = make_error(pool_errc::query_failed, "syntax", "42601");
  replica->rules["SELECT 202"] = bad;
  auto q2 = run(pool, reads("SELECT 202"));
  CAF_CHECK(q2->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(count(*script, "SELECT 202"), 0);
  CAF_CHECK(replica0(pool).serving);
}

CAF_TEST(without fallback a failed read on the only replica is no_replica) {
  auto pool = start_routed(make_routed(false));
  fake_rule lost;
  lost.error = make_error(pool_errc::connection_lost, "server closed");
  replica->rules["SELECT 203"] = lost;
  auto q = run(pool, reads("SELECT 203"));
  CAF_REQUIRE(q->failed_with(pool_errc::no_replica));
  CAF_CHECK_NOT_EQUAL(error_message(q->err).find("a read failed"),
                      std::string::npos);
  CAF_CHECK_EQUAL(count(*script, "SELECT 203"), 0);
}

CAF_TEST(shutdown closes every pool and answers once) {
  auto pool = start_routed(make_routed());
  auto down = ask<caf::ok_atom>(pool, shutdown_atom::value, caf::timespan{2s});
  advance(100ms);
  CAF_CHECK(down->ok());
  CAF_CHECK_EQUAL(script->open, 0);
  CAF_CHECK_EQUAL(replica->open, 0);
  auto late =
    ask_request<query_result>(pool, query_atom::value, statement{"SELECT 101"});
  sched.run();
  CAF_CHECK(!late->ok());
}

CAF_TEST(pause and reset reach every pool) {
  auto pool = start_routed(make_routed());
  auto r = ask<caf::ok_atom>(pool, reset_atom::value);
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK_EQUAL(stats(pool).connections_reset, 1u);
  CAF_CHECK_EQUAL(replica->closed, 1);
  auto p = ask<caf::ok_atom>(pool, pause_atom::value, caf::timespan{1s});
  sched.run();
  CAF_CHECK(p->ok());
  auto st = stats(pool);
  CAF_CHECK(st.paused);
  auto q = ask<query_result>(pool, query_atom::value, reads("SELECT 101"));
  sched.run();
  CAF_CHECK_EQUAL(q->answers, 0); // held by the paused replica
  auto res = ask<caf::ok_atom>(pool, resume_atom::value);
  sched.run();
  CAF_CHECK(res->ok());
  CAF_CHECK(q->ok());
}

CAF_TEST(resize and reconfigure reach every pool) {
  auto pool = start_routed(make_routed());
  auto r =
    ask<caf::ok_atom>(pool, resize_atom::value, uint64_t{3}, uint64_t{4});
  sched.run();
  CAF_CHECK(r->ok());
  CAF_CHECK_EQUAL(script->open, 3);
  CAF_CHECK_EQUAL(replica->open, 3);
  pool_settings s;
  s.min_size = 4;
  s.conninfo = "host=elsewhere dbname=test";
  auto c = ask<caf::ok_atom>(pool, reconfigure_atom::value, s);
  sched.run();
  CAF_CHECK(c->ok());
  CAF_CHECK_EQUAL(script->open, 4);
  CAF_CHECK_EQUAL(replica->open, 4);
  // A bad value is refused, naming it.
  pool_settings bad;
  bad.max_size = 0;
  auto b = ask<caf::ok_atom>(pool, reconfigure_atom::value, bad);
  sched.run();
  CAF_CHECK(b->failed_with(pool_errc::invalid_request));
}

CAF_TEST(invalid routed configurations name the field) {
  auto cfg = make_routed();
  cfg.replicas[0].max_size = 0;
  auto res = spawn_routed_pool(sys, cfg);
  CAF_REQUIRE(!res);
  CAF_CHECK(is(res.error(), pool_errc::invalid_config));
  CAF_CHECK_EQUAL(error_message(res.error()).rfind("replicas[0].max_size:", 0),
                  0u);
  cfg = make_routed();
  cfg.replicas[0].name = "primary";
  res = spawn_routed_pool(sys, cfg);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(error_message(res.error()),
                  "replicas[0].name: \"primary\" is taken by another pool of "
                  "this routed pool");
  cfg = make_routed();
  cfg.max_replica_lag = -1s;
  res = spawn_routed_pool(sys, cfg);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(error_message(res.error()).rfind("max_replica_lag:", 0), 0u);
  cfg = make_routed();
  cfg.lag_check_interval = 0s;
  res = spawn_routed_pool(sys, cfg);
  CAF_REQUIRE(!res);
  CAF_CHECK_EQUAL(error_message(res.error()).rfind("lag_check_interval:", 0),
                  0u);
  CAF_CHECK_EQUAL(script->created + replica->created, 0);
}

CAF_TEST(a plain pool counts its connections by host) {
  script->endpoint = "db1:5432";
  auto pool = start(make_config(3, 3));
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_by_host.size(), 1u);
  CAF_CHECK_EQUAL(st.connections_by_host.at("db1:5432"), 3u);
  CAF_CHECK(st.replicas.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
