// The relay's own stream (libpool/src/wire.hpp) on real sockets and a real
// actor system, under CAF's default scheduler (the poller thread) and under
// the io scheduler: a relay and a gateway in front of a stand-in pool that
// answers each query with its SQL text. (The whole path across two
// processes against PostgreSQL: tests/node, suite node.remote.)

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE wire
#include "caf/test/unit_test.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caf/all.hpp"

#include "pool/all.hpp"
#include "pool/remote.hpp"

#include "relay.hpp"
#include "results.hpp"
#include "wire.hpp"

using namespace std::chrono_literals;
using namespace pool;
using pool::testing::one_value;

namespace {

struct wire_config : caf::actor_system_config {
  explicit wire_config(bool io) {
    pool::add_message_types(*this);
    set("scheduler.max-threads", 2);
    if (io)
      pool::use_io_scheduler(*this);
  }
};

/// Stands in for a pool: a query's answer is its SQL text ("hang" is never
/// answered; "fail" fails); a transaction's answers are its statements'.
caf::behavior fake_pool(caf::event_based_actor*) {
  return {
    [](query_atom, priority, statement& s) -> caf::result<query_result> {
      if (s.sql == "hang")
        return caf::delegated<query_result>{};
      if (s.sql == "fail")
        return make_error(pool_errc::query_failed, "failed as asked", "42000");
      return one_value(s.sql);
    },
    [](transaction_atom, priority, std::vector<statement>& ss) {
      std::vector<query_result> rs;
      for (auto& s : ss)
        rs.push_back(one_value(s.sql));
      return rs;
    },
  };
}

/// Counts the batches that reach it through the node link (none should:
/// they travel on the stream).
caf::behavior counting_gateway(caf::event_based_actor*,
                               std::shared_ptr<std::atomic<int>> batches) {
  return {
    [=](relay_atom, std::vector<detail::relay_query>&) { ++*batches; },
  };
}

/// A relay and a gateway joined by a socket pair.
struct joined {
  caf::actor_system& sys;
  pool_actor pool;
  caf::actor inbox;
  caf::actor gateway;
  caf::actor stand_in; // the relay's "gateway" handle: counts link batches
  std::shared_ptr<std::atomic<int>> link_batches =
    std::make_shared<std::atomic<int>>(0);
  pool_actor relay;

  explicit joined(caf::actor_system& s) : sys(s) {
    int fds[2];
    CAF_REQUIRE_EQUAL(
      ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    pool = caf::actor_cast<pool_actor>(sys.spawn(fake_pool));
    inbox = detail::spawn_relay_inbox(sys);
    gateway = detail::spawn_relay_gateway(sys, pool, inbox, caf::actor{}, 0);
    caf::anon_send(gateway, relay_atom::value,
                   std::make_shared<detail::wire>(fds[1]));
    stand_in = sys.spawn(counting_gateway, link_batches);
    relay = detail::spawn_relay(sys, pool, stand_in, inbox,
                                std::make_shared<detail::wire>(fds[0]));
  }

  ~joined() {
    for (auto& a : {caf::actor_cast<caf::actor>(relay), gateway, stand_in,
                    caf::actor_cast<caf::actor>(pool)})
      caf::anon_send_exit(a, caf::exit_reason::kill);
  }
};

template <class F>
void for_both_schedulers(F f) {
  for (bool io : {false, true}) {
    CAF_MESSAGE((io ? "io scheduler" : "default scheduler"));
    wire_config cfg{io};
    caf::actor_system sys{cfg};
    f(sys);
  }
}

/// A non-blocking TCP connection to 127.0.0.1:port that sends nothing.
std::shared_ptr<detail::wire> connect_raw(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return nullptr;
  auto w = std::make_shared<detail::wire>(fd);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return nullptr;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
  return w;
}

} // namespace

CAF_TEST(queries and transactions travel on the stream of the relay) {
  for_both_schedulers([](caf::actor_system& sys) {
    joined j{sys};
    caf::scoped_actor self{sys};
    constexpr int n = 600; // more than one batch of 256
    for (int i = 0; i < n; ++i)
      self->send(j.relay, query_atom::value, statement{std::to_string(i)});
    self->send(j.relay, transaction_atom::value, priority::batch,
               std::vector<statement>{{"a"}, {"b"}});
    self->send(j.relay, query_atom::value, statement{"fail"});
    int right = 0;
    int wrong = 0;
    for (int i = 0; i < n; ++i)
      self->receive(
        [&](query_result& r) {
          if (r.at(0, 0) == std::to_string(i))
            ++right;
          else
            ++wrong;
        },
        [&](caf::error&) { ++wrong; }, caf::after(10s) >> [&] { ++wrong; });
    CAF_CHECK_EQUAL(right, n);
    CAF_CHECK_EQUAL(wrong, 0);
    self->receive(
      [&](std::vector<query_result>& rs) {
        CAF_REQUIRE_EQUAL(rs.size(), 2u);
        CAF_CHECK_EQUAL(rs[0].at(0, 0), "a");
        CAF_CHECK_EQUAL(rs[1].at(0, 0), "b");
      },
      [&](caf::error& err) {
        CAF_FAIL("transaction failed: " << describe(err));
      },
      caf::after(10s) >> [&] { CAF_FAIL("no answer to the transaction"); });
    self->receive(
      [&](query_result&) { CAF_FAIL("'fail' succeeded"); },
      [&](caf::error& err) { CAF_CHECK_EQUAL(sqlstate(err), "42000"); },
      caf::after(10s) >> [&] { CAF_FAIL("no answer to 'fail'"); });
    CAF_CHECK_EQUAL(j.link_batches->load(), 0);
  });
}

CAF_TEST(an answer larger than the socket buffers crosses in pieces) {
  for_both_schedulers([](caf::actor_system& sys) {
    joined j{sys};
    caf::scoped_actor self{sys};
    std::string big(4 * 1024 * 1024, 'x');
    for (size_t i = 0; i < big.size(); i += 4096)
      big[i] = static_cast<char>('a' + (i / 4096) % 26);
    for (int i = 0; i < 3; ++i)
      self->send(j.relay, query_atom::value, statement{big});
    for (int i = 0; i < 3; ++i)
      self->receive(
        [&](query_result& r) { CAF_CHECK(r.at(0, 0) == big); },
        [&](caf::error& err) { CAF_FAIL("failed: " << describe(err)); },
        caf::after(10s) >> [&] { CAF_FAIL("no answer"); });
  });
}

CAF_TEST(a broken stream fails the queries the relay holds and stops it) {
  for_both_schedulers([](caf::actor_system& sys) {
    joined j{sys};
    caf::scoped_actor self{sys};
    self->monitor(j.relay);
    self->send(j.relay, query_atom::value, statement{"hang"});
    // The gateway's end closes with the gateway; the relay's monitors (pool,
    // stand-in gateway) see nothing: only the stream tells.
    std::this_thread::sleep_for(50ms);
    caf::anon_send_exit(j.gateway, caf::exit_reason::kill);
    self->receive(
      [&](query_result&) { CAF_FAIL("'hang' was answered"); },
      [&](caf::error& err) {
        CAF_CHECK_EQUAL(
          describe(err),
          "pool_down: the relay's stream to the pool node closed (the "
          "node stopped, or lost contact with this node)");
      },
      caf::after(10s) >> [&] { CAF_FAIL("the held query was not failed"); });
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; },
                  caf::after(10s) >> [] {});
    CAF_CHECK(down);
  });
}

CAF_TEST(the acceptor hands a stream only to the gateway of its token) {
  for_both_schedulers([](caf::actor_system& sys) {
    uint16_t port = 0;
    auto acceptor = detail::spawn_wire_acceptor(sys, "127.0.0.1", port);
    CAF_REQUIRE(acceptor);
    CAF_REQUIRE_NOT_EQUAL(port, 0);
    auto pool = caf::actor_cast<pool_actor>(sys.spawn(fake_pool));
    auto inbox = detail::spawn_relay_inbox(sys);
    auto gateway =
      detail::spawn_relay_gateway(sys, pool, inbox, acceptor, port);
    caf::scoped_actor self{sys};
    detail::wire_token token{};
    uint16_t offered = 0;
    self->request(gateway, 5s, relay_atom::value)
      .receive(
        [&](uint16_t p, uint64_t t0, uint64_t t1) {
          offered = p;
          token = {t0, t1};
        },
        [&](caf::error& err) { CAF_FAIL(describe(err)); });
    CAF_REQUIRE_EQUAL(offered, port);
    // Is the peer's end closed within `limit`?
    auto closed_by_peer = [](detail::wire& w, std::chrono::seconds limit) {
      auto deadline = std::chrono::steady_clock::now() + limit;
      while (std::chrono::steady_clock::now() < deadline) {
        char c;
        auto n = ::recv(w.fd(), &c, 1, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
          return true;
        std::this_thread::sleep_for(10ms);
      }
      return false;
    };
    // A wrong token, garbage and silence are closed; the node keeps going.
    auto wrong =
      detail::wire_connect("127.0.0.1", port, {token[0] ^ 1, token[1]}, 5s);
    CAF_REQUIRE(wrong);
    CAF_CHECK(closed_by_peer(*wrong, 5s));
    auto garbage = detail::wire_connect("127.0.0.1", port,
                                        {0x4141414141414141u, 0xffffffffu}, 5s);
    CAF_REQUIRE(garbage);
    CAF_CHECK(closed_by_peer(*garbage, 5s));
    // A peer that connects and says nothing is closed after the handshake's
    // two seconds.
    auto silent = connect_raw(port);
    CAF_REQUIRE(silent);
    CAF_CHECK(closed_by_peer(*silent, 5s));
    // The right token opens the stream; queries run through it.
    auto w = detail::wire_connect("127.0.0.1", port, token, 5s);
    CAF_REQUIRE(w);
    auto batches = std::make_shared<std::atomic<int>>(0);
    auto stand_in = sys.spawn(counting_gateway, batches);
    auto relay = detail::spawn_relay(sys, pool, stand_in, inbox, w);
    self->request(relay, 5s, query_atom::value, statement{"hello"})
      .receive([&](query_result& r) { CAF_CHECK_EQUAL(r.at(0, 0), "hello"); },
               [&](caf::error& err) { CAF_FAIL(describe(err)); });
    CAF_CHECK_EQUAL(batches->load(), 0);
    // A token opens one stream only.
    auto again = detail::wire_connect("127.0.0.1", port, token, 5s);
    CAF_REQUIRE(again);
    CAF_CHECK(closed_by_peer(*again, 5s));
    for (auto& a : {caf::actor_cast<caf::actor>(relay), gateway, stand_in,
                    acceptor, caf::actor_cast<caf::actor>(pool)})
      caf::anon_send_exit(a, caf::exit_reason::kill);
  });
}
