// Failures between nodes: a client node killed while it holds a lease, a
// poold killed while requests wait, a silent network between the two
// (heartbeats), and garbage on poold's port.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE failure

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include "caf/io/middleman.hpp"
#include "caf/test/dsl.hpp"

#include "../chaos/tcp_forwarder.hpp"
#include "node_fixture.hpp"

using namespace std::chrono_literals;
using node_test::wall_ms;
using pool_test::call;

namespace {

using clock_type = std::chrono::steady_clock;

long long ms_since(clock_type::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           clock_type::now() - t0)
    .count();
}

struct fixture : node_test::client_fixture {
  pool::pool_actor orders;

  fixture() {
    if (auto err = node.start(); !err.empty())
      CAF_FAIL(err);
    orders = connect("orders");
    auto made = call<pool::query_result>(
      self, orders, 10s, pool::query_atom_v,
      pool::statement{"CREATE TABLE IF NOT EXISTS node_test_rows "
                      "(tag text NOT NULL)"});
    if (!made)
      CAF_FAIL("create table: " << pool::describe(made.error()));
  }

  /// Rows of node_test_rows with `tag`.
  std::string rows_with(const std::string& tag) {
    auto r = call<pool::query_result>(
      self, orders, 10s, pool::query_atom_v,
      pool::statement{"SELECT count(*) FROM node_test_rows WHERE tag = $1",
                      {tag}});
    return r ? r->at(0, 0) : "<" + pool_test::describe(r) + ">";
  }

  /// Starts a lease_holder on `port` and waits for its lease.
  std::string start_holder(node_test::process& holder, uint16_t port,
                           const std::string& tag) {
    auto out = node.dir() + "/holder-" + tag + ".out";
    auto err = holder.start({node_test::lease_holder_path(), "127.0.0.1",
                             std::to_string(port), "orders", tag},
                            out, node.dir() + "/holder-" + tag + ".err");
    if (!err.empty())
      return err;
    if (!node_test::wait_for_text(out, "LEASED", 20s))
      return "lease_holder did not report its lease: " +
             node_test::read_file(out) +
             node_test::read_file(node.dir() + "/holder-" + tag + ".err");
    return {};
  }

  /// The port of the node's relay streams (tests/io, suite wire): asks the
  /// directory for a gateway, and the gateway where its stream connects.
  uint16_t wire_port() {
    auto dir =
      sys.middleman().remote_actor<pool::node_actor>("127.0.0.1", node.port());
    if (!dir)
      CAF_FAIL("remote_actor: " << sys.render(dir.error()));
    auto inbox = sys.spawn([] { return caf::behavior{[](caf::ok_atom) {}}; });
    caf::actor gateway;
    self
      ->request(*dir, 5s, pool::relay_atom::value, std::string{"orders"}, inbox)
      .receive([&](caf::actor& g) { gateway = g; },
               [&](caf::error& err) { CAF_FAIL(pool::describe(err)); });
    uint16_t port = 0;
    self->request(gateway, 5s, pool::relay_atom::value)
      .receive([&](uint16_t p, uint64_t, uint64_t) { port = p; },
               [&](caf::error& err) { CAF_FAIL(pool::describe(err)); });
    caf::anon_send_exit(inbox, caf::exit_reason::user_shutdown);
    return port;
  }

  pool::pool_stats stats() {
    auto st = call<pool::pool_stats>(self, orders, 10s, pool::stats_atom_v);
    if (!st)
      CAF_FAIL("stats: " << pool::describe(st.error()));
    return *st;
  }
};

// Sends `bytes` on a fresh TCP connection to 127.0.0.1:port; returns the
// socket (the caller closes it) or -1.
int send_raw(uint16_t port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  if (!bytes.empty())
    if (::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) {
      // the node may close first; the connection still counts
    }
  return fd;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(failure_tests, fixture)

CAF_TEST(
  the lease of a killed client node comes back and its transaction rolls back) {
  node_test::process holder;
  if (auto err = start_holder(holder, node.port(), "killed"); !err.empty())
    CAF_FAIL(err);
  CAF_CHECK_EQUAL(stats().leased, 1u);
  auto t0 = clock_type::now();
  holder.signal(SIGKILL);
  CAF_CHECK_EQUAL(holder.wait(10s), 128 + SIGKILL);
  auto res = pool_test::wait_for_stats(
    self, orders, 5s, [](const pool::pool_stats& s) { return s.leased == 0; },
    15000ms);
  auto took = ms_since(t0);
  CAF_CHECK(res.second);
  CAF_MESSAGE("RESULT lease_back_after_client_kill_ms=" << took);
  CAF_CHECK_EQUAL(res.first.leases_reclaimed, 1u);
  // the holder's INSERT was inside BEGIN: rolled back
  CAF_CHECK_EQUAL(rows_with("killed"), "0");
  CAF_CHECK(node.log().find("reclaimed: its holder died") != std::string::npos);
}

/// Proves: an actor on a client node listens to a channel on poold's pool
/// and gets a notification sent through the pool (pg_notify with
/// parameters); when its node dies (kill -9) poold drops its subscription
/// and gives the listening connection back.
CAF_TEST(a listener on a killed client node is dropped) {
  node_test::process holder;
  auto out = node.dir() + "/listener.out";
  auto err = holder.start({node_test::lease_holder_path(), "127.0.0.1",
                           std::to_string(node.port()), "orders",
                           "listen:node_test_channel"},
                          out, node.dir() + "/listener.err");
  CAF_REQUIRE(err.empty());
  CAF_REQUIRE(node_test::wait_for_text(out, "LISTENING", 20s));
  auto st = stats();
  CAF_CHECK_EQUAL(st.listen.subscriptions, 1u);
  CAF_CHECK_EQUAL(st.listen.connections, 1u);
  auto sent =
    call<pool::query_result>(self, orders, 10s, pool::query_atom_v,
                             pool::statement{"SELECT pg_notify($1, $2)::text",
                                             {std::string{"node_test_channel"},
                                              std::string{"from the test"}}});
  CAF_REQUIRE(sent);
  CAF_CHECK(node_test::wait_for_text(out, "NOTE from the test", 10s));
  auto t0 = clock_type::now();
  holder.signal(SIGKILL);
  CAF_CHECK_EQUAL(holder.wait(10s), 128 + SIGKILL);
  auto res = pool_test::wait_for_stats(
    self, orders, 5s,
    [](const pool::pool_stats& s) {
      // The listener gives up its connection at once and returns it after
      // UNLISTEN *: until then the connection still counts as leased.
      return s.listen.subscriptions == 0 && s.listen.connections == 0 &&
             s.leased == 0;
    },
    15000ms);
  CAF_CHECK(res.second);
  CAF_MESSAGE("RESULT listener_dropped_after_client_kill_ms=" << ms_since(t0));
  CAF_CHECK_EQUAL(res.first.listen.subscriptions, 0u);
  CAF_CHECK_EQUAL(res.first.leased, 0u);
}

CAF_TEST(requests pending on a killed poold fail promptly with pool_down) {
  // A client actor sends four slow queries with 60 s deadlines through
  // pool::client, and reports each answer to the test.
  using answer_atom = caf::atom_constant<caf::atom("answer")>;
  auto base = stats().acquired;
  auto test = caf::actor_cast<caf::actor>(self);
  auto p = orders;
  auto client = sys.spawn([test, p](caf::event_based_actor* me) {
    auto c = std::make_shared<pool::client>(me, p);
    for (int i = 0; i < 4; ++i)
      c->request(caf::timespan{60s}, pool::query_atom_v,
                 pool::statement{"SELECT pg_sleep(30)"})
        .then(
          [=](const pool::query_result&) {
            me->send(test, answer_atom::value, std::string{"ok"});
          },
          [=](caf::error& err) {
            me->send(test, answer_atom::value, pool::describe(err));
          });
    return caf::behavior{[c](caf::ok_atom) {}};
  });
  // Wait until the pool has handed all four to connections (pipelined
  // queries share a connection, so `busy` may stay below 4).
  auto busy = pool_test::wait_for_stats(
    self, orders, 5s,
    [base](const pool::pool_stats& s) {
      return s.acquired >= base + 4 && s.waiting == 0;
    },
    15000ms);
  CAF_REQUIRE(busy.second);
  auto t0 = clock_type::now();
  node.kill9();
  std::vector<std::string> answers;
  while (answers.size() < 4) {
    bool got = false;
    self->receive(
      [&](answer_atom, std::string& a) {
        answers.push_back(std::move(a));
        got = true;
      },
      caf::after(std::chrono::seconds(20)) >> [] {});
    if (!got)
      break;
  }
  auto took = ms_since(t0);
  CAF_MESSAGE("RESULT pending_fail_after_poold_kill_ms=" << took);
  CAF_REQUIRE_EQUAL(answers.size(), 4u);
  for (auto& a : answers) {
    CAF_MESSAGE("answer: " << a);
    CAF_CHECK(a.find("pool_down") != std::string::npos);
  }
  // Well before the requests' own 60 s deadline (and the 30 s queries).
  CAF_CHECK_LESS(took, 10000);
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  // The server's backends are freed by PostgreSQL itself when poold's
  // sockets close; nothing to stop here.
}

CAF_TEST(a silent network is noticed by heartbeats on both sides) {
  chaos::tcp_forwarder fwd{node.port()};
  if (!fwd.ok())
    CAF_FAIL("tcp_forwarder: " << fwd.error());
  node_test::process holder;
  if (auto err = start_holder(holder, fwd.port(), "silent"); !err.empty())
    CAF_FAIL(err);
  CAF_CHECK_EQUAL(stats().leased, 1u);
  auto paused_at = wall_ms();
  auto t0 = clock_type::now();
  fwd.pause();
  // poold's side: the holder's node goes silent; its lease is reclaimed.
  auto res = pool_test::wait_for_stats(
    self, orders, 5s, [](const pool::pool_stats& s) { return s.leased == 0; },
    15000ms);
  auto pool_side = ms_since(t0);
  CAF_CHECK(res.second);
  CAF_MESSAGE("RESULT silent_peer_lease_reclaimed_ms=" << pool_side);
  // The client's side: its monitor on the pool fires.
  auto out = node.dir() + "/holder-silent.out";
  CAF_CHECK(node_test::wait_for_text(out, "DOWN", 15s));
  auto text = node_test::read_file(out);
  auto pos = text.find("DOWN ");
  if (pos != std::string::npos) {
    auto client_side = std::stoll(text.substr(pos + 5)) - paused_at;
    CAF_MESSAGE("RESULT silent_peer_client_down_ms="
                << client_side << " (" << text.substr(pos) << ")");
    // About a second (connection-timeout 1 s, heartbeats every 250 ms),
    // with room for a loaded 2-core box.
    CAF_CHECK_LESS(client_side, 8000);
  }
  CAF_CHECK_LESS(pool_side, 8000);
  CAF_CHECK_EQUAL(rows_with("silent"), "0");
  fwd.resume();
  holder.signal(SIGKILL);
  holder.wait(10s);
}

CAF_TEST(garbage on the port neither crashes poold nor stalls others) {
  std::vector<int> fds;
  std::string random(4096, '\0');
  uint32_t x = 12345;
  for (auto& c : random) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  fds.push_back(send_raw(node.port(), random));
  // A truncated handshake: a few bytes of a header, then silence.
  fds.push_back(send_raw(node.port(), std::string("\x00\x00\x00", 3)));
  // A header whose payload length is huge.
  fds.push_back(send_raw(node.port(), std::string(64, '\xff')));
  // A connection that sends nothing at all.
  fds.push_back(send_raw(node.port(), ""));
  // The same on the port of the relays' own streams, and a wrong token.
  auto wp = wire_port();
  CAF_REQUIRE_NOT_EQUAL(wp, 0);
  fds.push_back(send_raw(wp, random));
  fds.push_back(send_raw(wp, std::string(16, '\xff')));
  fds.push_back(send_raw(wp, ""));
  for (auto fd : fds)
    CAF_CHECK_GREATER_OR_EQUAL(fd, 0);
  // Meanwhile a real client is served, through a fresh connection too.
  for (int i = 0; i < 20; ++i) {
    auto r = call<pool::query_result>(self, orders, 5s, pool::query_atom_v,
                                      pool::statement{"SELECT $1::int", {i}});
    CAF_CHECK(r && r->at(0, 0) == std::to_string(i));
  }
  node_test::process holder;
  if (auto err = start_holder(holder, node.port(), "garbage"); !err.empty())
    CAF_ERROR(err);
  holder.signal(SIGKILL);
  holder.wait(10s);
  for (auto fd : fds)
    if (fd >= 0)
      ::close(fd);
  CAF_CHECK(node.proc().running());
  CAF_CHECK_EQUAL(node.proc().wait(0ms), -1);
}

CAF_TEST_FIXTURE_SCOPE_END()
