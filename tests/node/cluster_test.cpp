// Three poold nodes in one cluster in front of the test server (issue 13):
// the pool "orders" of each shares one budget ("auto": the server's
// max_connections minus a reserve chosen so that the budget is 12). A
// sampler reads pg_stat_activity every 20 ms throughout: the cluster's
// connections never exceed the budget. Under a steady load from clients
// that fail over between the nodes, the leader is killed with -9: its share
// moves to the two others, the clients are served through them, and every
// request gets exactly one answer (an error for those in flight on the dead
// node). The node comes back: the shares rebalance.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE cluster

#include <libpq-fe.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "caf/io/middleman.hpp"
#include "caf/test/dsl.hpp"

#include "../metrics/live.hpp"
#include "node_fixture.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using pool_test::call;

namespace {

constexpr uint32_t budget = 12;

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t)
    .count();
}

// Counts the cluster's connections of pool "orders" on the server every
// 20 ms on a plain libpq connection of its own (not counted).
class sampler {
 public:
  sampler() {
    conn_ = PQconnectdb(node_test::test_dsn().c_str());
    if (PQstatus(conn_) != CONNECTION_OK)
      CAF_FAIL("sampler: " << PQerrorMessage(conn_));
    thread_ = std::thread{[this] { run(); }};
  }

  ~sampler() {
    stop();
    PQfinish(conn_);
  }

  void stop() {
    done_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  /// The server's max_connections (read on the sampler's connection before
  /// it starts).
  static uint32_t max_connections() {
    auto c = PQconnectdb(node_test::test_dsn().c_str());
    auto r = PQexec(c, "SHOW max_connections");
    uint32_t n = PQresultStatus(r) == PGRES_TUPLES_OK
                   ? static_cast<uint32_t>(std::stoul(PQgetvalue(r, 0, 0)))
                   : 0;
    PQclear(r);
    PQfinish(c);
    return n;
  }

  uint32_t peak() const { return peak_; }
  uint32_t samples() const { return samples_; }
  uint32_t last() const { return last_; }

 private:
  void run() {
    while (!done_) {
      auto r =
        PQexec(conn_, "SELECT count(*) FROM pg_stat_activity WHERE "
                      "application_name LIKE 'libpool-cluster/%/orders'");
      if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        auto n = static_cast<uint32_t>(std::stoul(PQgetvalue(r, 0, 0)));
        last_ = n;
        peak_ = std::max<uint32_t>(peak_, n);
        ++samples_;
      }
      PQclear(r);
      std::this_thread::sleep_for(20ms);
    }
  }

  PGconn* conn_ = nullptr;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<uint32_t> peak_{0};
  std::atomic<uint32_t> samples_{0};
  std::atomic<uint32_t> last_{0};
};

// What the clients saw: per request id, its answers.
struct ledger {
  std::mutex mx;
  std::map<uint64_t, int> answers;
  uint64_t ok = 0;
  std::map<std::string, uint64_t> errors; // by error code text
  uint64_t timeouts = 0;                  // no answer within 10 s
  clock_type::time_point last_error{};

  void add(uint64_t id, const caf::error* err) {
    std::lock_guard<std::mutex> guard{mx};
    ++answers[id];
    if (err == nullptr) {
      ++ok;
    } else if (*err == caf::sec::request_timeout) {
      ++timeouts;
    } else {
      ++errors[pool::describe(*err).substr(0, 40)];
      last_error = clock_type::now();
    }
  }
};

struct cluster_fixture {
  node_test::node_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::vector<uint16_t> ports;
  std::vector<std::unique_ptr<node_test::poold_node>> nodes;
  uint32_t reserve = 0;

  cluster_fixture() {
    if (node_test::test_dsn().empty())
      CAF_FAIL("POOL_TEST_DSN is not set (scripts/test sets it)");
    auto mc = sampler::max_connections();
    CAF_REQUIRE_GREATER(mc, budget + 10);
    reserve = mc - budget;
    for (int i = 0; i < 3; ++i) {
      ports.push_back(metrics_test::closed_port());
      nodes.emplace_back(std::make_unique<node_test::poold_node>());
    }
  }

  ~cluster_fixture() {
    for (auto& n : nodes)
      if (n->proc().running() && n->stop() != 0)
        CAF_ERROR("a poold did not stop cleanly; log:\n" << n->log());
  }

  // Starts node i ("n1", "n2", "n3") with the two others as peers.
  void start(size_t i) {
    std::string peers = "[";
    for (size_t k = 0; k < ports.size(); ++k)
      if (k != i)
        peers += std::string{peers.size() > 1 ? ", " : ""} +
                 "\"127.0.0.1:" + std::to_string(ports[k]) + "\"";
    peers += "]";
    auto err = nodes[i]->start(
      {"--node.port=" + std::to_string(ports[i]),
       "--cluster.node=n" + std::to_string(i + 1), "--cluster.peers=" + peers,
       "--pools.orders.max-size=10", "--pools.orders.cluster-budget=auto",
       "--pools.orders.cluster-reserve=" + std::to_string(reserve),
       "--pools.orders.acquire-timeout=3s"});
    if (!err.empty())
      CAF_FAIL("node n" << (i + 1) << ": " << err);
  }

  // Node i's pool "orders" through a relay of its own (for stats).
  pool::pool_actor direct(size_t i) {
    auto p = pool::connect_pool(sys, "127.0.0.1", ports[i], "orders");
    if (!p)
      CAF_FAIL("connect to n" << (i + 1) << ": " << pool::describe(p.error()));
    return *p;
  }

  // Node i's view of the cluster, through its directory.
  pool::cluster_view view(size_t i) {
    auto dir =
      sys.middleman().remote_actor<pool::node_actor>("127.0.0.1", ports[i]);
    if (!dir)
      CAF_FAIL("directory of n" << (i + 1) << ": "
                                << pool::describe(dir.error()));
    auto member = call<caf::actor>(self, *dir, 5s, pool::cluster_atom_v);
    if (!member)
      CAF_FAIL("member of n" << (i + 1) << ": "
                             << pool::describe(member.error()));
    auto v = call<pool::cluster_view>(self, *member, 5s, pool::cluster_atom_v);
    if (!v)
      CAF_FAIL("view of n" << (i + 1) << ": " << pool::describe(v.error()));
    return *v;
  }

  // Waits until each node in `which` may hold `share` (its pool's max_open
  // one less: the watch connection); returns whether they did in `limit`.
  bool await_shares(const std::vector<size_t>& which, uint32_t share,
                    std::chrono::milliseconds limit) {
    auto deadline = clock_type::now() + limit;
    std::vector<pool::pool_actor> ps;
    for (auto i : which)
      ps.push_back(direct(i));
    for (;;) {
      bool all = true;
      for (auto& p : ps) {
        auto st = call<pool::pool_stats>(self, p, 2s, pool::stats_atom_v);
        all = all && st && st->limited && st->max_open == share - 1;
      }
      if (all)
        return true;
      if (clock_type::now() >= deadline)
        return false;
      std::this_thread::sleep_for(20ms);
    }
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_tests, cluster_fixture)

CAF_TEST(three nodes share one budget through a kill and a restart) {
  sampler samples;
  for (size_t i = 0; i < 3; ++i)
    start(i);
  CAF_REQUIRE(await_shares({0, 1, 2}, budget / 3, 20s));
  // The view of another node: three live nodes, n1 leads, 4 each.
  auto v = view(2);
  CAF_CHECK_EQUAL(v.node, "n3");
  CAF_CHECK_EQUAL(v.leader, "n1");
  CAF_CHECK_EQUAL(v.nodes.size(), 3u);
  for (auto& n : v.nodes)
    CAF_CHECK(n.live);
  CAF_CHECK_EQUAL(v.shares.size(), 3u);
  for (auto& s : v.shares) {
    CAF_CHECK_EQUAL(s.pool, "orders");
    CAF_CHECK_EQUAL(s.limit, budget / 3);
    CAF_CHECK_EQUAL(s.budget, budget);
  }
  // Steady load: 6 clients, each with the nodes in its own order.
  std::vector<pool::node_address> all;
  for (auto p : ports)
    all.push_back(pool::node_address{"127.0.0.1", p});
  ledger book;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> next_id{0};
  std::vector<std::thread> clients;
  for (size_t c = 0; c < 6; ++c) {
    auto order = all;
    std::rotate(order.begin(), order.begin() + (c % 3), order.end());
    auto p = pool::connect_pool(sys, order, "orders", 10s);
    CAF_REQUIRE(p);
    clients.emplace_back([&, p = *p] {
      caf::scoped_actor me{sys};
      while (!stop) {
        auto id = next_id++;
        me->request(p, 10s, pool::query_atom_v,
                    pool::statement{"SELECT $1::bigint, pg_sleep(0.002)",
                                    {static_cast<int64_t>(id)}})
          .receive([&](pool::query_result&) { book.add(id, nullptr); },
                   [&](caf::error& err) { book.add(id, &err); });
      }
    });
  }
  std::this_thread::sleep_for(1s);
  // Kill the leader.
  auto before = book.ok;
  auto killed = clock_type::now();
  nodes[0]->kill9();
  CAF_REQUIRE(await_shares({1, 2}, budget / 2, 15s));
  auto resized_ms = ms_since(killed);
  // Full service: requests succeed again on the remaining nodes.
  auto served_after = [&] {
    std::lock_guard<std::mutex> guard{book.mx};
    return book.ok;
  };
  auto ok_at_resize = served_after();
  std::this_thread::sleep_for(1s);
  CAF_CHECK_GREATER(served_after(), ok_at_resize + 50);
  double errors_until_ms = 0;
  {
    std::lock_guard<std::mutex> guard{book.mx};
    if (book.last_error > killed)
      errors_until_ms =
        std::chrono::duration<double, std::milli>(book.last_error - killed)
          .count();
  }
  // Restart it: the shares come back to 4 each.
  auto restarted = clock_type::now();
  start(0);
  CAF_CHECK(await_shares({0, 1, 2}, budget / 3, 20s));
  auto rebalanced_ms = ms_since(restarted);
  std::this_thread::sleep_for(500ms);
  stop = true;
  for (auto& t : clients)
    t.join();
  samples.stop();
  std::lock_guard<std::mutex> guard{book.mx};
  uint64_t twice = 0;
  for (auto& kv : book.answers)
    if (kv.second != 1)
      ++twice;
  uint64_t errors = 0;
  std::string error_list;
  for (auto& kv : book.errors) {
    errors += kv.second;
    error_list += " [" + kv.first + "] x" + std::to_string(kv.second);
  }
  CAF_MESSAGE("cluster: " << next_id << " requests, " << book.ok << " ok ("
                          << before << " before the kill), " << errors
                          << " errors:" << error_list << "; " << book.timeouts
                          << " unanswered in 10 s");
  CAF_MESSAGE("cluster: kill -9 of the leader: shares 6+6 after "
              << resized_ms << " ms; last client error " << errors_until_ms
              << " ms after the kill; restart: 4+4+4 after " << rebalanced_ms
              << " ms");
  CAF_MESSAGE("cluster: peak " << samples.peak() << " connections of budget "
                               << budget << " in " << samples.samples()
                               << " samples");
  CAF_CHECK_EQUAL(book.answers.size(), next_id.load());
  CAF_CHECK_EQUAL(twice, 0u);
  CAF_CHECK_EQUAL(book.timeouts, 0u);
  CAF_CHECK_LESS_OR_EQUAL(samples.peak(), budget);
  CAF_CHECK_GREATER(samples.samples(), 100u);
  CAF_CHECK_GREATER(book.ok, before);
  // Errors only for what was in flight on the dead node: at most two per
  // client (the request on the node, and one sent before the handle saw
  // the loss), of the kinds a lost node gives.
  CAF_CHECK_LESS_OR_EQUAL(errors, 12u);
  for (auto& kv : book.errors)
    if (kv.first.rfind("pool_down", 0) != 0 &&
        kv.first.find("request_receiver_down") == std::string::npos)
      CAF_ERROR("an unexpected error: " << kv.first);
}

CAF_TEST_FIXTURE_SCOPE_END()
