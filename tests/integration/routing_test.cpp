// Read routing (pool/routing.hpp) against the primary P and the streaming
// replica R that scripts/lib.sh pg_start runs: which server runs what (the
// server says, through inet_server_port()), the lag bound with replay
// paused on R for real, and what a write marked read-only gets.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE routing
#include "caf/test/unit_test.hpp"

#include "fixture.hpp"

using namespace it;

namespace {

struct routing_fixture : fixture {
  std::string primary_port;
  std::string replica_port;

  routing_fixture() {
    primary_port = cluster_port("POOL_TEST_PGPORT", "routing");
    replica_port = cluster_port("POOL_TEST_REPLICA_PORT", "routing");
  }

  pool::pool_config on_port(const std::string& port, const char* name) {
    auto pc = make_config(1, 2);
    pc.conninfo =
      "host=127.0.0.1 port=" + port + " user=postgres dbname=pooltest";
    pc.name = name;
    return pc;
  }

  pool::routed_pool_config routed(caf::timespan max_lag,
                                  caf::timespan interval) {
    pool::routed_pool_config cfg;
    cfg.primary = on_port(primary_port, "primary");
    cfg.replicas.push_back(on_port(replica_port, "replica1"));
    cfg.max_replica_lag = max_lag;
    cfg.lag_check_interval = interval;
    return cfg;
  }

  pool::pool_actor spawn_routed(pool::routed_pool_config cfg) {
    auto p = pool::spawn_routed_pool(sys, std::move(cfg));
    IT_REQUIRE_OK(p);
    pools.push_back(*p);
    return *p;
  }

  /// Waits until the replica serves, or not. While waiting for it to
  /// serve, commits on the primary now and then, so that its lag is
  /// measured from a fresh transaction whatever ran before this test.
  void await_serving(const pool::pool_actor& p, bool serving) {
    int polls = 0;
    auto [st, held] = wait_for_stats(
      p,
      [&](const pool::pool_stats& x) {
        if (serving && ++polls % 10 == 1)
          exec(p, "SELECT txid_current()");
        return x.replicas.size() == 1 && x.replicas[0].serving == serving;
      },
      15000ms);
    if (!held)
      CAF_FAIL("the replica's serving state did not become " << serving << ": "
                                                             << st);
  }
};

/// Resumes replay on the replica when the test ends, whatever happened.
struct replay_guard {
  fixture* fx;
  pool::pool_actor direct;
  ~replay_guard() {
    auto res = fx->query(direct, "SELECT pg_wal_replay_resume()");
    if (!res)
      CAF_ERROR("could not resume replay on the replica: "
                << pool::describe(res.error()));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(routing_tests, routing_fixture)

CAF_TEST(reads run on the replica and writes on the primary) {
  auto p = spawn_routed(routed(caf::timespan{10s}, caf::timespan{200ms}));
  await_serving(p, true);
  auto port = "SELECT inet_server_port()::text";
  CAF_CHECK_EQUAL(scalar(p, pool::reads(port)), replica_port);
  CAF_CHECK_EQUAL(scalar(p, pool::reads("SELECT pg_is_in_recovery()::text")),
                  "true");
  CAF_CHECK_EQUAL(scalar(p, port), primary_port);
  auto txn = transaction(p, {pool::reads(port), pool::reads(port)});
  IT_REQUIRE_OK(txn);
  CAF_CHECK_EQUAL(txn->at(0).at(0, 0), replica_port);
  // A write wrongly marked read-only reaches the replica, which refuses it
  // (25006, read_only_sql_transaction): lag and routing are not hidden.
  auto table = table_name("routing");
  exec(p, "CREATE TABLE IF NOT EXISTS " + table + " (x int)");
  // Wait until the replica replayed the CREATE, so that the INSERT below
  // fails for being on a replica, not for a missing table.
  auto exists =
    pool::reads({"SELECT (to_regclass($1) IS NOT NULL)::text", {table}});
  for (int i = 0; i < 500 && scalar(p, exists) != "true"; ++i)
    std::this_thread::sleep_for(10ms);
  auto bad = query(p, pool::reads("INSERT INTO " + table + " VALUES (1)"));
  CAF_REQUIRE(!bad);
  CAF_CHECK(pool::is(bad.error(), pool::pool_errc::query_failed));
  CAF_CHECK_EQUAL(pool::sqlstate(bad.error()), "25006");
  exec(p, "DROP TABLE " + table);
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_REQUIRE_EQUAL(st->replicas.size(), 1u);
  auto& r = st->replicas[0];
  CAF_CHECK_EQUAL(r.name, "replica1");
  CAF_CHECK_GREATER_OR_EQUAL(r.reads, 4u);
  CAF_CHECK_GREATER_OR_EQUAL(r.lag_checks, 1u);
  CAF_CHECK_EQUAL(r.lag_check_failures, 0u);
  if (r.lag_check_failures > 0)
    CAF_MESSAGE("lag check failed: " << *st);
  CAF_CHECK_EQUAL(r.connections_by_host.count("127.0.0.1:" + replica_port), 1u);
  CAF_CHECK_EQUAL(st->connections_by_host.count("127.0.0.1:" + primary_port),
                  1u);
  CAF_CHECK_EQUAL(st->reads_on_primary, 0u);
}

CAF_TEST(
  a replica whose replay is paused stops getting reads until it catches up) {
  auto p = spawn_routed(routed(caf::timespan{300ms}, caf::timespan{100ms}));
  await_serving(p, true);
  auto direct = spawn(on_port(replica_port, "direct"));
  exec(direct, "SELECT pg_wal_replay_pause()");
  replay_guard guard{this, direct};
  auto table = table_name("lag");
  exec(p, "CREATE TABLE IF NOT EXISTS " + table + " (x int)");
  // Writes the replica receives but does not replay: its lag grows.
  for (int i = 0; i < 5; ++i) {
    exec(p, {"INSERT INTO " + table + " VALUES ($1)", {i}});
    std::this_thread::sleep_for(100ms);
  }
  await_serving(p, false);
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  auto& r = st->replicas[0];
  CAF_CHECK_GREATER(r.lag, caf::timespan{300ms});
  CAF_CHECK_EQUAL(r.reason.rfind("lag ", 0), 0u);
  CAF_MESSAGE("paused replica: " << r.reason);
  auto port = "SELECT inet_server_port()::text";
  CAF_CHECK_EQUAL(scalar(p, pool::reads(port)), primary_port);
  st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_GREATER_OR_EQUAL(st->reads_on_primary, 1u);
  exec(direct, "SELECT pg_wal_replay_resume()");
  await_serving(p, true);
  CAF_CHECK_EQUAL(scalar(p, pool::reads(port)), replica_port);
  // What the primary wrote is on the replica now.
  CAF_CHECK_EQUAL(scalar(p, pool::reads("SELECT count(*)::text FROM " + table)),
                  "5");
  exec(p, "DROP TABLE " + table);
}

CAF_TEST_FIXTURE_SCOPE_END()
