// The pool used from another CAF node: poold in a child process, this test
// process as the client node. Every request of the protocol, both named
// pools, and the errors a remote client gets for bad arguments.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE remote

#include <csignal>

#include "caf/test/dsl.hpp"

#include "node_fixture.hpp"

using namespace std::chrono_literals;
using pool_test::call;

namespace {

using fixture = node_test::client_fixture;

std::string cell(const caf::expected<pool::query_result>& r) {
  return r && r->rows() == 1 ? r->at(0, 0) : "<" + pool_test::describe(r) + ">";
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(remote_tests, fixture)

CAF_TEST(every request of the protocol works from another node) {
  if (auto err = node.start(); !err.empty())
    CAF_FAIL(err);
  auto names = pool::list_pools(sys, "127.0.0.1", node.port());
  CAF_REQUIRE(names);
  CAF_CHECK_EQUAL(*names, (std::vector<std::string>{"orders", "reports"}));
  auto orders = connect("orders");
  // query
  auto r =
    call<pool::query_result>(self, orders, 10s, pool::query_atom_v,
                             pool::statement{"SELECT $1::int + 1", {41}});
  CAF_CHECK_EQUAL(cell(r), "42");
  // lease, queries on the lease (one session), release
  auto l = call<pool::lease>(self, orders, 10s, pool::acquire_atom_v,
                             caf::timespan{5s});
  CAF_REQUIRE(l);
  CAF_CHECK_NOT_EQUAL(l->worker->node(), sys.node());
  auto q1 =
    call<pool::query_result>(self, l->worker, 10s, pool::query_atom_v, l->id,
                             pool::statement{"SET application_name "
                                             "= 'remote-lease'"});
  CAF_CHECK(q1);
  auto q2 = call<pool::query_result>(
    self, l->worker, 10s, pool::query_atom_v, l->id,
    pool::statement{"SELECT current_setting('application_name')"});
  CAF_CHECK_EQUAL(cell(q2), "remote-lease");
  auto rel = call<caf::ok_atom>(self, orders, 10s, pool::release_atom_v, l->id);
  CAF_CHECK(rel);
  // the released id is refused, on the worker and by the pool
  auto late = call<pool::query_result>(self, l->worker, 10s, pool::query_atom_v,
                                       l->id, pool::statement{"SELECT 1"});
  CAF_CHECK(!late && pool::is(late.error(), pool::pool_errc::invalid_lease));
  auto rel2 =
    call<caf::ok_atom>(self, orders, 10s, pool::release_atom_v, l->id);
  CAF_CHECK(!rel2 && pool::is(rel2.error(), pool::pool_errc::invalid_lease));
  // transaction
  auto t = call<std::vector<pool::query_result>>(
    self, orders, 10s, pool::transaction_atom_v,
    std::vector<pool::statement>{{"SELECT 1"}, {"SELECT $1::text", {"two"}}});
  CAF_REQUIRE(t);
  CAF_REQUIRE_EQUAL(t->size(), 2u);
  CAF_CHECK_EQUAL((*t)[1].at(0, 0), "two");
  // a failing statement names itself, remotely as locally
  auto bad = call<std::vector<pool::query_result>>(
    self, orders, 10s, pool::transaction_atom_v,
    std::vector<pool::statement>{{"SELECT 1"}, {"SELEC 2"}});
  CAF_REQUIRE(!bad);
  CAF_CHECK(pool::is(bad.error(), pool::pool_errc::query_failed));
  CAF_CHECK_EQUAL(pool::sqlstate(bad.error()), "42601");
  CAF_MESSAGE("remote transaction error: " << pool::describe(bad.error()));
  CAF_CHECK(pool::describe(bad.error()).find("statement 2 of 2") !=
            std::string::npos);
  // stats: the pool's own settings and counters
  auto st = call<pool::pool_stats>(self, orders, 10s, pool::stats_atom_v);
  CAF_REQUIRE(st);
  CAF_MESSAGE("orders: " << *st);
  CAF_CHECK_GREATER_OR_EQUAL(st->acquired, 4u);
  CAF_CHECK_EQUAL(st->leased, 0u);
  // a lease id of another node (made up here) is refused
  auto foreign = call<caf::ok_atom>(self, orders, 10s, pool::release_atom_v,
                                    uint64_t{987654321});
  CAF_CHECK(!foreign &&
            pool::is(foreign.error(), pool::pool_errc::invalid_lease));
  // bad input: a NUL byte in a parameter
  auto nul = call<pool::query_result>(
    self, orders, 10s, pool::query_atom_v,
    pool::statement{"SELECT $1::text", {std::string{"a\0b", 3}}});
  CAF_CHECK(!nul && pool::is(nul.error(), pool::pool_errc::invalid_request));
}

CAF_TEST(each named pool has its own settings and budget) {
  if (auto err = node.start(); !err.empty())
    CAF_FAIL(err);
  auto orders = connect("orders");
  auto reports = connect("reports");
  CAF_CHECK_NOT_EQUAL(orders, reports);
  // reports: max 3 connections. Take all three; a fourth acquire times out
  // while orders still serves.
  std::vector<pool::lease> held;
  for (int i = 0; i < 3; ++i) {
    auto l = call<pool::lease>(self, reports, 10s, pool::acquire_atom_v,
                               caf::timespan{5s});
    CAF_REQUIRE(l);
    held.push_back(*l);
  }
  auto fourth = call<pool::lease>(self, reports, 10s, pool::acquire_atom_v,
                                  caf::timespan{300ms});
  CAF_REQUIRE(!fourth);
  CAF_CHECK(pool::is(fourth.error(), pool::pool_errc::acquire_timeout));
  CAF_MESSAGE("reports, 4th acquire: " << pool::describe(fourth.error()));
  auto r = call<pool::query_result>(self, orders, 10s, pool::query_atom_v,
                                    pool::statement{"SELECT 7"});
  CAF_CHECK_EQUAL(cell(r), "7");
  auto rs = call<pool::pool_stats>(self, reports, 10s, pool::stats_atom_v);
  auto os = call<pool::pool_stats>(self, orders, 10s, pool::stats_atom_v);
  CAF_REQUIRE(rs && os);
  CAF_CHECK_EQUAL(rs->leased, 3u);
  CAF_CHECK_EQUAL(rs->total, 3u);
  CAF_CHECK_EQUAL(os->leased, 0u);
  CAF_CHECK_LESS_OR_EQUAL(os->total, 4u);
  for (auto& l : held)
    CAF_CHECK(
      call<caf::ok_atom>(self, reports, 10s, pool::release_atom_v, l.id));
  // the log names each pool on its lines
  auto log = node.log();
  CAF_CHECK(log.find("[poold.orders]") != std::string::npos);
  CAF_CHECK(log.find("[poold.reports]") != std::string::npos);
}

CAF_TEST(an unknown pool name is refused with the names the node has) {
  if (auto err = node.start(); !err.empty())
    CAF_FAIL(err);
  auto p = pool::connect_pool(sys, "127.0.0.1", node.port(), "invoices");
  CAF_REQUIRE(!p);
  CAF_MESSAGE(pool::describe(p.error()));
  CAF_CHECK(pool::is(p.error(), pool::pool_errc::invalid_request));
  auto text = pool::describe(p.error());
  CAF_CHECK(text.find("invoices") != std::string::npos);
  CAF_CHECK(text.find("orders, reports") != std::string::npos);
}

CAF_TEST(no node at the address fails within the timeout) {
  // A port nobody listens on: poold not started.
  auto t0 = std::chrono::steady_clock::now();
  auto p = pool::connect_pool(sys, "127.0.0.1", 1, "orders", 2s);
  auto took = std::chrono::steady_clock::now() - t0;
  CAF_REQUIRE(!p);
  CAF_MESSAGE(pool::describe(p.error()));
  CAF_CHECK(pool::is(p.error(), pool::pool_errc::pool_down));
  CAF_CHECK_LESS(took, 10s);
  node.start(); // the fixture stops it
}

CAF_TEST(poold reloads its pool settings on a hang - up signal) {
  if (auto err = node.start(); !err.empty())
    CAF_FAIL(err);
  auto reports = connect("reports");
  auto stats = [&] {
    auto st = call<pool::pool_stats>(self, reports, 10s, pool::stats_atom_v);
    CAF_REQUIRE(st);
    return *st;
  };
  CAF_CHECK_EQUAL(stats().total, 0u); // min-size 0
  auto hup_and_wait = [&](const std::string& line) {
    node.proc().signal(SIGHUP);
    if (!node_test::wait_for_text(node.dir() + "/stderr", line, 20s))
      CAF_FAIL("no '" << line << "' in poold's log:\n" << node.log());
  };
  // A bigger min-size opens connections at once; a changed conninfo
  // replaces them; a breaker setting is named as taking a restart.
  node.write_config("min-size=2\nmax-size=3\nbreaker-threshold=9\n");
  hup_and_wait("reload: pool reports: changed min_size");
  auto [grown, ok] = pool_test::wait_for_stats(
    self, reports, 10s, [](const pool::pool_stats& s) { return s.total == 2; },
    20s);
  CAF_CHECK(ok);
  CAF_MESSAGE("after the reload: " << grown);
  CAF_CHECK(node.log().find("reload: pool orders: unchanged") !=
            std::string::npos);
  CAF_CHECK(node.log().find("breaker_threshold take a restart") !=
            std::string::npos);
  // A bad file changes nothing and says what is wrong; the pools serve on.
  node.write_config("min-size=3\nmax-size=1\n");
  hup_and_wait("reload refused");
  CAF_CHECK(node.log().find("pools.reports") != std::string::npos);
  auto r = call<pool::query_result>(self, reports, 10s, pool::query_atom_v,
                                    pool::statement{"SELECT 'still'"});
  CAF_CHECK_EQUAL(cell(r), "still");
  CAF_CHECK_EQUAL(stats().total, 2u);
  // The conninfo of a pool, changed: its connections are replaced.
  node.write_config("min-size=2\nmax-size=3\nbreaker-threshold=9\n"
                    "reset-query=\"DISCARD ALL\"\n");
  hup_and_wait("changed reset_query (replacing its connections)");
  auto [reset, done] = pool_test::wait_for_stats(
    self, reports, 10s,
    [](const pool::pool_stats& s) { return s.connections_reset >= 2; }, 20s);
  CAF_CHECK(done);
  CAF_MESSAGE("after the second reload: " << reset);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(poold refuses bad options and values naming them) {
  using node_test::run_poold;
  auto dsn = node_test::test_dsn();
  auto no_pools = run_poold({"--node.port=0"});
  CAF_CHECK_EQUAL(no_pools.first, 2);
  CAF_CHECK(no_pools.second.find("no pools configured") != std::string::npos);
  auto bad_size = run_poold(
    {"--pools.orders.conninfo=\"" + dsn + "\"", "--pools.orders.max-size=abc"});
  CAF_CHECK_EQUAL(bad_size.first, 2);
  CAF_MESSAGE(bad_size.second);
  CAF_CHECK(bad_size.second.find("pools.orders.max-size") != std::string::npos);
  auto bad_key = run_poold({"--pools.orders.max-sise=3"});
  CAF_CHECK_EQUAL(bad_key.first, 2);
  CAF_CHECK(bad_key.second.find("pools.orders.max-sise: unknown setting") !=
            std::string::npos);
  auto min_max =
    run_poold({"--pools.orders.min-size=5", "--pools.orders.max-size=2"});
  CAF_CHECK_EQUAL(min_max.first, 2);
  CAF_CHECK(min_max.second.find("pools.orders") != std::string::npos);
  CAF_CHECK(min_max.second.find("min_size") != std::string::npos);
  auto unknown = run_poold({"--node.prot=3"});
  CAF_CHECK_EQUAL(unknown.first, 2);
  CAF_CHECK(unknown.second.find("--node.prot=3") != std::string::npos);
  node_test::temp_dir tmp;
  auto& dir = tmp.path();
  {
    std::ofstream out{dir + "/bad.ini"};
    out << "[node]\nprot=3\n[pools.orders]\nconninfo=\"x\"\n";
  }
  auto in_file = run_poold({"--config-file=" + dir + "/bad.ini"});
  CAF_CHECK_EQUAL(in_file.first, 2);
  CAF_CHECK(in_file.second.find("node.prot: unknown option") !=
            std::string::npos);
  auto help = run_poold({"--help"});
  CAF_CHECK_EQUAL(help.first, 0);
  for (auto key : {"--node.port", "--http.port", "--log.level",
                   "--poold.shutdown-deadline", "max-size=<uint>",
                   "acquire-timeout=<duration>", "(default 10)"})
    if (help.second.find(key) == std::string::npos)
      CAF_ERROR("--help lacks " << key);
}

CAF_TEST(poold stops gracefully on a termination signal with exit code 0) {
  node_test::poold_node node;
  // A password in the conninfo (trust auth ignores it): never logged.
  if (auto err =
        node.start({"--pools.orders.conninfo=\"" + node_test::test_dsn() +
                    " password=sekret_pw_42\""});
      !err.empty())
    CAF_FAIL(err);
  // Stop once a connection is open, so that its close shows in the log.
  CAF_CHECK(node_test::wait_for_text(node.dir() + "/stderr",
                                     "] connection 1 opened", 20s));
  auto rc = node.stop();
  CAF_CHECK_EQUAL(rc, 0);
  auto log = node.log();
  CAF_CHECK(log.find("SIGTERM: shutting down") != std::string::npos);
  CAF_CHECK(log.find("pool orders stopped") != std::string::npos);
  CAF_CHECK(log.find("pool reports stopped") != std::string::npos);
  // One line per connection life-cycle event, with the connection's id.
  CAF_CHECK(log.find("[info] connection 1 opened to ") != std::string::npos);
  CAF_CHECK(log.find("closed (shutdown) after") != std::string::npos);
  // The conninfo is logged, its password never.
  CAF_CHECK(log.find("password=***") != std::string::npos);
  CAF_CHECK(log.find("sekret_pw_42") == std::string::npos);
}
