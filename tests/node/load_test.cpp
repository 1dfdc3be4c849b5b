// The pool under load from other client nodes: load_client processes send
// queries in priority classes to a poold while this process operates the
// pool over the network. Order is read from the server (a bigserial column
// records the order in which the single connection ran the inserts), so no
// check depends on timing.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE load

#include <map>
#include <memory>
#include <thread>

#include "caf/test/dsl.hpp"

#include "node_fixture.hpp"

using namespace std::chrono_literals;
using pool_test::call;

namespace {

// A finished load_client: its RESULT fields and ERROR lines.
struct load_result {
  std::map<std::string, int> fields;
  std::string errors;
  std::string raw;
};

load_result parse_result(const std::string& out) {
  load_result r;
  r.raw = out;
  size_t pos = 0;
  while (pos < out.size()) {
    auto eol = out.find('\n', pos);
    auto line = out.substr(pos, eol == std::string::npos ? eol : eol - pos);
    pos = eol == std::string::npos ? out.size() : eol + 1;
    if (line.compare(0, 6, "ERROR ") == 0) {
      r.errors += line + "\n";
    } else if (line.compare(0, 7, "RESULT ") == 0) {
      size_t p = 7;
      while (p < line.size()) {
        auto sp = line.find(' ', p);
        auto kv = line.substr(p, sp == std::string::npos ? sp : sp - p);
        auto eq = kv.find('=');
        if (eq != std::string::npos)
          r.fields[kv.substr(0, eq)] = std::stoi(kv.substr(eq + 1));
        p = sp == std::string::npos ? line.size() : sp + 1;
      }
    }
  }
  return r;
}

// A load_client child process.
struct load_client {
  node_test::process proc;
  std::string out;

  load_client(const std::string& dir, uint16_t port, const std::string& pool,
              const std::string& cls, int count, int inflight,
              const std::string& tag) {
    out = dir + "/" + tag + "-" + cls + ".out";
    auto err =
      proc.start({LOAD_CLIENT, "127.0.0.1", std::to_string(port), pool, cls,
                  std::to_string(count), std::to_string(inflight), tag},
                 out, out + ".err");
    if (!err.empty())
      CAF_FAIL("load_client: " << err);
  }

  // Waits for the client to finish; checks that each of its `sent`
  // requests got exactly one answer, a correct one.
  load_result finish(int sent) {
    auto rc = proc.wait(180s);
    auto r = parse_result(node_test::read_file(out));
    CAF_MESSAGE(out << ": " << r.raw);
    CAF_CHECK_EQUAL(rc, 0);
    CAF_CHECK_EQUAL(r.fields["sent"], sent);
    CAF_CHECK_EQUAL(r.fields["answered"], sent);
    CAF_CHECK_EQUAL(r.fields["ok"], sent);
    CAF_CHECK_EQUAL(r.fields["wrong"], 0);
    CAF_CHECK_EQUAL(r.fields["unanswered"], 0);
    CAF_CHECK_EQUAL(r.fields["twice"], 0);
    if (!r.errors.empty())
      CAF_ERROR("errors seen by " << out << ":\n" << r.errors);
    return r;
  }
};

struct fixture : node_test::client_fixture {
  pool::pool_actor orders;
  pool::pool_actor solo;

  // poold with the fixture's two pools plus "solo": one connection, no
  // aging unless a test configures it. These tests queue requests on
  // purpose (and a sanitizer build starts each client slowly): no load
  // shedding (queue-target 0), which would answer waiters with
  // `overloaded` (tests/unit, suite overload, covers shedding).
  fixture() {
    auto dsn = node_test::test_dsn();
    if (auto err = node.start(
          {"--pools.solo.conninfo=" + dsn, "--pools.solo.min-size=1",
           "--pools.solo.max-size=1", "--pools.solo.acquire-timeout=60s",
           "--pools.solo.priority-aging=1h", "--pools.solo.queue-target=0",
           "--pools.orders.queue-target=0",
           "--pools.orders.acquire-timeout=60s"});
        !err.empty())
      CAF_FAIL(err);
    orders = connect("orders");
    solo = connect("solo");
    for (auto sql : {"CREATE TABLE IF NOT EXISTS node_load_log (id bigserial "
                     "PRIMARY KEY, tag text, class text, seq int)",
                     "TRUNCATE node_load_log"}) {
      auto r = call<pool::query_result>(self, orders, 10s, pool::query_atom_v,
                                        pool::statement{sql});
      if (!r)
        CAF_FAIL(sql << ": " << pool::describe(r.error()));
    }
  }

  // Waits until `p` has `n` waiting requests.
  void await_waiting(const pool::pool_actor& p, uint64_t n) {
    auto [st, held] = pool_test::wait_for_stats(
      self, p, 10s, [n](const pool::pool_stats& s) { return s.waiting == n; },
      60s);
    if (!held)
      CAF_FAIL("expected " << n << " waiting requests; stats: " << st);
  }

  // The classes of the rows of `tag` in the order the server ran them.
  std::vector<std::string> classes_in_order(const std::string& tag) {
    auto r = call<pool::query_result>(
      self, orders, 10s, pool::query_atom_v,
      pool::statement{"SELECT class FROM node_load_log WHERE tag = $1 "
                      "ORDER BY id",
                      {tag}});
    if (!r)
      CAF_FAIL("reading node_load_log: " << pool::describe(r.error()));
    std::vector<std::string> xs;
    for (size_t i = 0; i < r->rows(); ++i)
      xs.push_back(r->at(i, 0));
    return xs;
  }

  // Takes the solo pool's only connection.
  pool::lease hold_solo() {
    auto l = call<pool::lease>(self, solo, 10s, pool::acquire_atom_v,
                               caf::timespan{10s});
    if (!l)
      CAF_FAIL("acquire on solo: " << pool::describe(l.error()));
    return *l;
  }

  void release(const pool::lease& l) {
    auto ok = call<caf::ok_atom>(self, solo, 10s, pool::release_atom_v, l.id);
    CAF_REQUIRE(ok);
  }
};

std::vector<std::string>
runs(std::initializer_list<std::pair<int, const char*>> xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.insert(out.end(), static_cast<size_t>(x.first), x.second);
  return out;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(load_tests, fixture)

CAF_TEST(waiting requests of other nodes are served by class) {
  // The only connection is held here; three client nodes queue 8 requests
  // each, lowest class first; on release the server runs them by class.
  auto l = hold_solo();
  load_client batch{node.dir(), node.port(), "solo", "batch", 8, 8, "order"};
  await_waiting(solo, 8);
  load_client normal{node.dir(), node.port(), "solo", "normal", 8, 8, "order"};
  await_waiting(solo, 16);
  load_client inter{node.dir(), node.port(), "solo", "interactive",
                    8,          8,           "order"};
  await_waiting(solo, 24);
  release(l);
  batch.finish(8);
  normal.finish(8);
  inter.finish(8);
  CAF_CHECK_EQUAL(classes_in_order("order"),
                  runs({{8, "interactive"}, {8, "normal"}, {8, "batch"}}));
  auto st = call<pool::pool_stats>(self, solo, 10s, pool::stats_atom_v);
  CAF_REQUIRE(st);
  // Normal: the 8 queries and this test's lease.
  CAF_CHECK_EQUAL(st->by_priority.at(0).acquired, 8u);
  CAF_CHECK_EQUAL(st->by_priority.at(1).acquired, 9u);
  CAF_CHECK_EQUAL(st->by_priority.at(2).acquired, 8u);
}

CAF_TEST(aging keeps the lowest class of another node from starving) {
  // Aging set remotely to 100 ms: batch requests that waited longer than
  // two steps rank as interactive and go before interactive requests that
  // arrived after them. Without aging (the test above) they go last.
  pool::pool_settings s;
  s.priority_aging = caf::timespan{100ms};
  CAF_REQUIRE(call<caf::ok_atom>(self, solo, 10s, pool::reconfigure_atom_v, s));
  auto l = hold_solo();
  load_client batch{node.dir(), node.port(), "solo", "batch", 5, 5, "aging"};
  await_waiting(solo, 5);
  std::this_thread::sleep_for(300ms); // at least 2 x 100 ms: fully aged
  load_client inter{node.dir(), node.port(), "solo", "interactive",
                    20,         20,          "aging"};
  await_waiting(solo, 25);
  release(l);
  batch.finish(5);
  inter.finish(20);
  CAF_CHECK_EQUAL(classes_in_order("aging"),
                  runs({{5, "batch"}, {20, "interactive"}}));
}

CAF_TEST(resize pause resume and reset under load answer every request once) {
  // Three client nodes keep 8 requests each in flight on "orders" while
  // this node resizes, pauses, resumes (also racing a pause) and resets it.
  constexpr int per_client = 6000;
  std::vector<std::unique_ptr<load_client>> clients;
  for (auto cls : {"interactive", "normal", "batch"})
    clients.emplace_back(std::make_unique<load_client>(
      node.dir(), node.port(), "orders", cls, per_client, 8, "ops"));
  auto [st0, busy] = pool_test::wait_for_stats(
    self, orders, 10s,
    [](const pool::pool_stats& s) { return s.acquired >= 300; }, 60s);
  CAF_REQUIRE(busy);
  auto ok = [&](const char* what, caf::expected<caf::ok_atom> r) {
    if (!r)
      CAF_ERROR(what << ": " << pool::describe(r.error()));
    else
      CAF_MESSAGE(what << ": ok");
  };
  ok("resize 1 2", call<caf::ok_atom>(self, orders, 10s, pool::resize_atom_v,
                                      uint64_t{1}, uint64_t{2}));
  std::this_thread::sleep_for(200ms);
  ok("resize 3 6", call<caf::ok_atom>(self, orders, 10s, pool::resize_atom_v,
                                      uint64_t{3}, uint64_t{6}));
  ok("pause", call<caf::ok_atom>(self, orders, 10s, pool::pause_atom_v,
                                 caf::timespan{5s}));
  std::this_thread::sleep_for(300ms); // requests are held meanwhile
  auto held = call<pool::pool_stats>(self, orders, 10s, pool::stats_atom_v);
  CAF_REQUIRE(held);
  CAF_CHECK(held->paused);
  CAF_CHECK_EQUAL(held->leased + held->busy, 0u);
  CAF_MESSAGE("while paused: waiting=" << held->waiting);
  CAF_CHECK_GREATER(held->waiting, 0u);
  ok("resume", call<caf::ok_atom>(self, orders, 10s, pool::resume_atom_v));
  ok("reset", call<caf::ok_atom>(self, orders, 10s, pool::reset_atom_v));
  // A pause and a resume sent back to back: the pause is answered (drained
  // or cancelled) and the pool serves again.
  auto racing =
    self->request(orders, 10s, pool::pause_atom_v, caf::timespan{5s});
  ok("racing resume",
     call<caf::ok_atom>(self, orders, 10s, pool::resume_atom_v));
  racing.receive([](caf::ok_atom) { CAF_MESSAGE("racing pause: drained"); },
                 [](caf::error& err) {
                   CAF_MESSAGE("racing pause: " << pool::describe(err));
                   CAF_CHECK(pool::is(err, pool::pool_errc::pause_cancelled));
                 });
  auto mid = call<pool::pool_stats>(self, orders, 10s, pool::stats_atom_v);
  CAF_REQUIRE(mid);
  if (mid->paused) // the pause drained before the resume arrived
    ok("resume", call<caf::ok_atom>(self, orders, 10s, pool::resume_atom_v));
  ok("resize 2 4", call<caf::ok_atom>(self, orders, 10s, pool::resize_atom_v,
                                      uint64_t{2}, uint64_t{4}));
  size_t running = 0;
  for (auto& c : clients)
    running += c->proc.running() ? 1 : 0;
  CAF_MESSAGE(running << " of 3 clients still running after the last step");
  CAF_CHECK_GREATER(running, 0u);
  for (auto& c : clients)
    c->finish(per_client);
  // Exactly once on the server too: one row per answer, none twice.
  auto rows = call<pool::query_result>(
    self, orders, 10s, pool::query_atom_v,
    pool::statement{"SELECT count(*), count(DISTINCT (class, seq)) FROM "
                    "node_load_log WHERE tag = 'ops'"});
  CAF_REQUIRE(rows);
  CAF_CHECK_EQUAL(rows->at(0, 0), std::to_string(3 * per_client));
  CAF_CHECK_EQUAL(rows->at(0, 1), std::to_string(3 * per_client));
  auto end = call<pool::pool_stats>(self, orders, 10s, pool::stats_atom_v);
  CAF_REQUIRE(end);
  CAF_MESSAGE("orders after the load: " << *end);
  CAF_CHECK(!end->paused);
  CAF_CHECK_GREATER_OR_EQUAL(end->connections_reset, 1u);
  CAF_CHECK_LESS_OR_EQUAL(end->total, 4u);
}

CAF_TEST_FIXTURE_SCOPE_END()
