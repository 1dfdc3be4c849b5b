// Clients that fail over between pool nodes (connect_pool with a node list):
// two poold child processes serving "orders" of the test database; a steady
// stream of queries from a few client actors through one failover handle;
// kill -9 of the node it uses. Every request is answered exactly once,
// what ran on the lost node fails, new requests go to the other node; a
// lease on the lost node is reported lost to its holder. Also the errors of
// connect_pool: no reachable node, an empty list, no such pool.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE failover

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "caf/test/dsl.hpp"

#include "node_fixture.hpp"

using namespace std::chrono_literals;
using pool_test::call;

namespace {

using fo_clock = std::chrono::steady_clock;
/// Steady client → test: (client, request id, "ok" or the error).
using fo_answer_atom = caf::atom_constant<caf::atom("fo_answer")>;
/// Steady client → itself: send the next request.
using fo_next_atom = caf::atom_constant<caf::atom("fo_next")>;
/// Test → steady client: stop sending; replies the number of ids sent.
using fo_stop_atom = caf::atom_constant<caf::atom("fo_stop")>;
/// Lease holder → test: what happened to its lease.
using fo_lease_atom = caf::atom_constant<caf::atom("fo_lease")>;
/// Listener → test: what it heard.
using fo_heard_atom = caf::atom_constant<caf::atom("fo_heard")>;
/// Breaker subscriber → test: "<no> <what>".
using fo_event_atom = caf::atom_constant<caf::atom("fo_event")>;

// Keeps 4 queries in flight (`SELECT id`), each request with its own id,
// through pool::client; reports every answer to `test`.
caf::behavior fo_steady_client(caf::event_based_actor* me, pool::pool_actor p,
                               caf::actor test, int no) {
  auto c = std::make_shared<pool::client>(me, p);
  auto next = std::make_shared<int>(0);
  auto running = std::make_shared<bool>(true);
  auto send_one = [=] {
    auto id = (*next)++;
    auto again = [=] {
      if (*running)
        me->delayed_send(me, 20ms, fo_next_atom::value);
    };
    c->request(caf::timespan{10s}, pool::query_atom_v,
               pool::statement{"SELECT $1::int", {id}})
      .then(
        [=](const pool::query_result& r) {
          auto ok = r.rows() == 1 && r.at(0, 0) == std::to_string(id);
          me->send(test, fo_answer_atom::value, no, id,
                   ok ? std::string{"ok"} : "wrong row: " + r.at(0, 0));
          again();
        },
        [=](caf::error& err) {
          me->send(test, fo_answer_atom::value, no, id, pool::describe(err));
          again();
        });
  };
  for (int i = 0; i < 4; ++i)
    send_one();
  return {
    [=](fo_next_atom) {
      if (*running)
        send_one();
    },
    [=](fo_stop_atom) {
      *running = false;
      return *next;
    },
  };
}

// Leases a connection through `p` and watches its worker; `(query_atom,
// sql, deadline)` runs `sql` on the lease through pool::client. Reports each
// event to `test`.
caf::behavior fo_lease_holder(caf::event_based_actor* me, pool::pool_actor p,
                              caf::actor test) {
  auto c = std::make_shared<pool::client>(me, p);
  auto l = std::make_shared<pool::lease>();
  auto report = [=](std::string what) {
    me->send(test, fo_lease_atom::value, std::move(what));
  };
  c->acquire(10s, 5s, pool::priority::normal)
    .then(
      [=](pool::lease& x) {
        *l = x;
        me->monitor(x.worker);
        report("leased");
      },
      [=](caf::error& err) { report("acquire: " + pool::describe(err)); });
  me->set_down_handler([=](caf::down_msg& dm) {
    if (l->worker && dm.source == l->worker.address())
      report("worker down: " + pool::describe(dm.reason));
  });
  return {
    [=](pool::query_atom, const std::string& sql, caf::timespan deadline) {
      c->query(*l, deadline, pool::statement{sql})
        .then(
          [=](const pool::query_result&) { report("query ok"); },
          [=](caf::error& err) { report("query: " + pool::describe(err)); });
    },
  };
}

// Listens to `channel` through `p`; reports the answer, each notification
// and each notifications_missed to `test`.
caf::behavior fo_listener(caf::event_based_actor* me, pool::pool_actor p,
                          caf::actor test, std::string channel) {
  auto report = [=](std::string what) {
    me->send(test, fo_heard_atom::value, std::move(what));
  };
  me->request(p, caf::timespan{10s}, pool::listen_atom_v, channel)
    .then([=](caf::ok_atom) { report("listening"); },
          [=](caf::error& err) { report("listen: " + pool::describe(err)); });
  return {
    [=](const pool::notification& n) {
      report("notification " + n.channel + " " + n.payload);
    },
    [=](const pool::notifications_missed& m) {
      report(
        std::string{m.listening ? "missed, listening: " : "missed, ended: "} +
        m.reason);
    },
  };
}

// Subscribes to breaker events through `p`; reports the answer and each
// event to `test` as "<no> subscribed", "<no> subscribe: <error>" or "<no>
// event <pool> <previous>-><state>".
caf::behavior fo_subscriber(caf::event_based_actor* me, pool::pool_actor p,
                            caf::actor test, int no) {
  auto report = [=](std::string what) {
    me->send(test, fo_event_atom::value, std::to_string(no) + " " + what);
  };
  me->request(p, caf::timespan{30s}, pool::subscribe_atom_v)
    .then(
      [=](caf::ok_atom) { report("subscribed"); },
      [=](caf::error& err) { report("subscribe: " + pool::describe(err)); });
  return {
    [=](const pool::breaker_event& e) {
      report("event " + e.pool + " " + pool::to_string(e.previous) + "->" +
             pool::to_string(e.state));
    },
  };
}

// The first breaker subscriber report that `pred` takes within `wait` (the
// others are dropped), or "<none>".
std::string fo_event_if(caf::scoped_actor& self,
                        const std::function<bool(const std::string&)>& pred,
                        caf::timespan wait = caf::timespan{15s}) {
  auto deadline = fo_clock::now() + wait;
  std::string what = "<none>";
  while (what == "<none>" && fo_clock::now() < deadline)
    self->receive(
      [&](fo_event_atom, std::string& x) {
        if (pred(x))
          what = std::move(x);
      },
      caf::after(100ms) >> [] {});
  return what;
}

// The first breaker subscriber report that starts with `prefix`.
std::string fo_event_of(caf::scoped_actor& self, const std::string& prefix,
                        caf::timespan wait = caf::timespan{15s}) {
  return fo_event_if(
    self,
    [&](const std::string& x) {
      return x.compare(0, prefix.size(), prefix) == 0;
    },
    wait);
}

// The text of the next (Atom, text) report to the test within `wait`, or
// "<none>".
template <class Atom>
std::string fo_next(caf::scoped_actor& self,
                    caf::timespan wait = caf::timespan{15s}) {
  std::string what = "<none>";
  self->receive([&](Atom, std::string& x) { what = std::move(x); },
                caf::after(wait) >> [] {});
  return what;
}

// NOTIFY `channel` with `payload`, through `p`.
caf::expected<pool::query_result> fo_notify(caf::scoped_actor& self,
                                            const pool::pool_actor& p,
                                            const std::string& channel,
                                            const std::string& payload) {
  return call<pool::query_result>(
    self, p, 10s, pool::query_atom_v,
    pool::statement{"SELECT pg_notify($1, $2)", {channel, payload}});
}

// A TCP port of 127.0.0.1 that nothing listens on (it was free a moment ago).
uint16_t fo_closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string fo_where(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

/// Two poold nodes: `node` (a, first in the list) and `second` (b), both
/// also serving the pools of `more_pools` (INI sections).
struct failover_fixture : node_test::client_fixture {
  node_test::poold_node second;

  explicit failover_fixture(const std::string& more_pools = "") {
    node.more_pools = more_pools;
    second.more_pools = more_pools;
    if (auto err = node.start(); !err.empty())
      CAF_FAIL(err);
    if (auto err = second.start(); !err.empty())
      CAF_FAIL(err);
  }

  ~failover_fixture() {
    if (second.proc().running() && second.stop() != 0)
      CAF_ERROR("the second poold did not stop cleanly:\n" << second.log());
  }

  std::vector<pool::node_address> both() {
    return {{"127.0.0.1", node.port()}, {"127.0.0.1", second.port()}};
  }
};

/// Two poold nodes that also serve "broken", a pool whose server is not
/// there: its breaker opens at the first failed connect and cycles (open,
/// half-open, open...) every 300 ms, sending an event each time.
struct failover_breaker_fixture : failover_fixture {
  failover_breaker_fixture()
    : failover_fixture("[pools.broken]\nconninfo=\"host=127.0.0.1 port=" +
                       std::to_string(fo_closed_port()) +
                       " dbname=none connect_timeout=2\"\nmin-size=1\n"
                       "max-size=1\nbreaker-threshold=1\n"
                       "breaker-cooldown=300ms\n") {}
};

/// One poold node (started).
struct failover_one_node_fixture : node_test::client_fixture {
  failover_one_node_fixture() {
    if (auto err = node.start(); !err.empty())
      CAF_FAIL(err);
  }
};

/// No poold at all.
struct failover_offline_fixture {
  node_test::node_config cfg;
  caf::actor_system sys{cfg};
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(failover_tests, failover_fixture)

CAF_TEST(
  a killed node is replaced by the next and every request is answered once) {
  auto h = pool::connect_pool(sys, both(), "orders", 5s);
  CAF_REQUIRE(h);
  auto handle = *h;
  auto direct_b = pool::connect_pool(sys, "127.0.0.1", second.port(), "orders");
  CAF_REQUIRE(direct_b);
  auto test = caf::actor_cast<caf::actor>(self);
  // A lease through the handle (on node a), used once.
  auto holder = sys.spawn(fo_lease_holder, handle, test);
  auto next_lease_event = [&] { return fo_next<fo_lease_atom>(self); };
  CAF_REQUIRE_EQUAL(next_lease_event(), "leased");
  self->send(holder, pool::query_atom_v, std::string{"SELECT 1"},
             caf::timespan{3s});
  CAF_CHECK_EQUAL(next_lease_event(), "query ok");
  // A listener through a handle of the pool "reports" (it listens on node
  // a with a connection of that pool; "orders" keeps one free for the
  // steady stream below).
  auto next_heard = [&] { return fo_next<fo_heard_atom>(self); };
  auto reports = pool::connect_pool(sys, both(), "reports", 5s);
  CAF_REQUIRE(reports);
  auto listener = sys.spawn(fo_listener, *reports, test, "fo_chan");
  CAF_REQUIRE_EQUAL(next_heard(), "listening");
  auto notify = [&](const std::string& payload) {
    return fo_notify(self, handle, "fo_chan", payload);
  };
  CAF_REQUIRE(notify("before"));
  CAF_CHECK_EQUAL(next_heard(), "notification fo_chan before");
  // A query on the lease that is still running when the node dies.
  self->send(holder, pool::query_atom_v, std::string{"SELECT pg_sleep(20)"},
             caf::timespan{30s});
  // Two slow requests on node a: a query (delegated to the relay) and a
  // pooled stream (held by the failover handle until answered).
  auto base = pool_test::wait_for_stats(
    self, handle, 5s, [](const pool::pool_stats&) { return true; }, 5000ms);
  CAF_REQUIRE(base.second);
  auto receiver = sys.spawn([] {
    return caf::behavior{[](pool::stream_chunk&) {}, [](pool::stream_end&) {}};
  });
  auto slow = sys.spawn([=](caf::event_based_actor* me) {
    auto report = [=](int id, std::string what) {
      me->send(test, fo_answer_atom::value, 100, id, std::move(what));
    };
    me->request(handle, 60s, pool::query_atom_v,
                pool::statement{"SELECT pg_sleep(20)"})
      .then([=](const pool::query_result&) { report(0, "ok"); },
            [=](caf::error& err) { report(0, pool::describe(err)); });
    me->request(handle, 60s, pool::stream_atom_v,
                pool::statement{"SELECT pg_sleep(20)"}, receiver, uint32_t{10})
      .then([=](const pool::stream_end&) { report(1, "ok"); },
            [=](caf::error& err) { report(1, pool::describe(err)); });
  });
  auto acquired = base.first.acquired;
  auto running = pool_test::wait_for_stats(
    self, handle, 5s,
    [acquired](const pool::pool_stats& s) {
      return s.acquired >= acquired + 2 && s.waiting == 0;
    },
    15000ms);
  CAF_REQUIRE(running.second);
  auto b_before = pool_test::wait_for_stats(
    self, *direct_b, 5s, [](const pool::pool_stats&) { return true; }, 5000ms);
  CAF_REQUIRE(b_before.second);
  // The steady stream.
  std::vector<caf::actor> clients;
  for (int no = 0; no < 3; ++no)
    clients.push_back(sys.spawn(fo_steady_client, handle, test, no));
  // answers[client][id] = every answer that request got.
  std::map<int, std::map<int, std::vector<std::string>>> answers;
  size_t ok_after_kill = 0;
  bool killed = false;
  // Receives answers until `done` holds or `limit` passes.
  auto collect = [&](caf::timespan limit, const std::function<bool()>& done) {
    auto deadline = fo_clock::now() + limit;
    while (!done() && fo_clock::now() < deadline) {
      self->receive(
        [&](fo_answer_atom, int no, int id, std::string& what) {
          if (killed && no < 100 && what == "ok")
            ++ok_after_kill;
          answers[no][id].push_back(std::move(what));
        },
        caf::after(100ms) >> [] {});
    }
    return done();
  };
  collect(1s, [] { return false; });
  size_t ok_before = 0;
  for (int no = 0; no < 3; ++no)
    for (auto& kv : answers[no])
      ok_before += kv.second == std::vector<std::string>{"ok"};
  CAF_MESSAGE("answered before the kill: " << ok_before);
  CAF_CHECK_GREATER(ok_before, 10u);
  auto t0 = fo_clock::now();
  node.kill9();
  killed = true;
  // Served again by node b within 10 s, with no action by the caller.
  CAF_CHECK(collect(10s, [&] { return ok_after_kill >= 20; }));
  auto served_after = fo_clock::now() - t0;
  CAF_MESSAGE(
    "20 queries served after the kill within "
    << std::chrono::duration_cast<std::chrono::milliseconds>(served_after)
         .count()
    << " ms");
  // The slow requests in flight on node a failed with pool_down.
  CAF_CHECK(collect(10s, [&] { return answers[100].size() == 2; }));
  for (auto& kv : answers[100]) {
    CAF_MESSAGE("slow request " << kv.first << ": " << kv.second.at(0));
    CAF_CHECK_EQUAL(kv.second.size(), 1u);
    CAF_CHECK(kv.second.at(0).find("pool_down") != std::string::npos);
  }
  // The lease on node a is lost: its worker is reported down, and the
  // query running on it fails with connection_lost long before its 30 s
  // deadline (pool::client monitors a remote worker; CAF alone drops
  // messages to a lost node's proxy without an answer).
  std::vector<std::string> lease_events{next_lease_event(), next_lease_event()};
  auto lost_after = fo_clock::now() - t0;
  std::sort(lease_events.begin(), lease_events.end());
  for (auto& x : lease_events)
    CAF_MESSAGE("lease holder: " << x);
  CAF_CHECK(lease_events[0].find("query: connection_lost") == 0);
  CAF_CHECK(lease_events[1].find("worker down") == 0);
  CAF_CHECK_LESS(lost_after, 15s);
  CAF_MESSAGE(
    "lease reported lost "
    << std::chrono::duration_cast<std::chrono::milliseconds>(lost_after).count()
    << " ms after the kill");
  // A later query on the lost lease fails the same way at once, not at its
  // deadline (request_timeout after 20 s).
  self->send(holder, pool::query_atom_v, std::string{"SELECT 1"},
             caf::timespan{20s});
  auto after = next_lease_event();
  CAF_MESSAGE("lease holder, later query: " << after);
  CAF_CHECK(after.find("query: connection_lost") == 0);
  // The listener keeps listening: the handle listened again through node
  // b and says what may have been missed; a notification on b arrives.
  auto heard = next_heard();
  CAF_MESSAGE("listener: " << heard);
  CAF_CHECK(heard.find("missed, listening: ") == 0);
  CAF_CHECK(heard.find(fo_where(second.port())) != std::string::npos);
  CAF_CHECK(notify("after"));
  CAF_CHECK_EQUAL(next_heard(), "notification fo_chan after");
  // A listener that dies is dropped: node b stops listening for it.
  auto with_listener = pool_test::wait_for_stats(
    self, *reports, 5s,
    [](const pool::pool_stats& s) { return s.listen.channels == 1; }, 5000ms);
  CAF_CHECK(with_listener.second);
  caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
  auto without = pool_test::wait_for_stats(
    self, *reports, 5s,
    [](const pool::pool_stats& s) { return s.listen.channels == 0; }, 10000ms);
  CAF_CHECK(without.second);
  // Node b served what came after the kill.
  auto b_after = pool_test::wait_for_stats(
    self, *direct_b, 5s, [](const pool::pool_stats&) { return true; }, 5000ms);
  CAF_REQUIRE(b_after.second);
  CAF_CHECK_GREATER_OR_EQUAL(b_after.first.acquired,
                             b_before.first.acquired + 20);
  // Stop the stream; every id sent has exactly one answer.
  std::map<int, int> sent;
  for (int no = 0; no < 3; ++no)
    self->request(clients[no], 5s, fo_stop_atom::value)
      .receive([&](int n) { sent[no] = n; },
               [&](caf::error& err) { CAF_FAIL(sys.render(err)); });
  auto all_answered = [&] {
    for (int no = 0; no < 3; ++no)
      if (answers[no].size() < static_cast<size_t>(sent[no]))
        return false;
    return true;
  };
  CAF_CHECK(collect(20s, all_answered));
  collect(300ms, [] { return false; }); // a doubled answer would come now
  std::map<std::string, size_t> errors;
  for (int no = 0; no < 3; ++no) {
    CAF_CHECK_EQUAL(answers[no].size(), static_cast<size_t>(sent[no]));
    // One check per client, not per answer: a passing check is a line of
    // the log, and the log is what CI shows of a failure.
    CAF_CHECK(
      std::all_of(answers[no].begin(), answers[no].end(), [&](auto& kv) {
        return kv.first >= 0 && kv.first < sent[no];
      }));
    for (auto& [id, xs] : answers[no]) {
      if (xs.size() != 1)
        CAF_ERROR("client " << no << " request " << id << " answered "
                            << xs.size() << " times");
      else if (xs[0] != "ok")
        ++errors[xs[0].substr(0, xs[0].find(':'))];
    }
  }
  for (auto& [kind, n] : errors) {
    CAF_MESSAGE("steady stream error " << kind << ": " << n);
    // What ran on the lost node: pool_down from the relay; shutting_down is
    // pool::client's name for a request that reached the relay as it stopped.
    CAF_CHECK(kind == "pool_down" || kind == "shutting_down");
  }
  CAF_MESSAGE("steady stream: " << sent[0] + sent[1] + sent[2] << " requests, "
                                << ok_after_kill << " served after the kill");
  // Node b killed too: a request waits, then fails naming both nodes. A
  // request that races the loss's detection fails as one in flight on the
  // lost node (the relay's pool_down, or CAF's request_receiver_down from a
  // relay that just stopped): the next one is sent after it.
  second.kill9();
  auto none = call<pool::query_result>(self, handle, 30s, pool::query_atom_v,
                                       pool::statement{"SELECT 1"});
  for (int i = 0; i < 5 && !none &&
                  pool::error_message(none.error()).find("no node of the") ==
                    std::string::npos;
       ++i) {
    CAF_MESSAGE("in flight at the loss: " << pool::describe(none.error()));
    none = call<pool::query_result>(self, handle, 30s, pool::query_atom_v,
                                    pool::statement{"SELECT 1"});
  }
  CAF_REQUIRE(!none);
  CAF_MESSAGE("with no node: " << pool::describe(none.error()));
  CAF_CHECK(pool::is(none.error(), pool::pool_errc::pool_down));
  auto text = pool::error_message(none.error());
  CAF_CHECK(text.find("'orders'") != std::string::npos);
  CAF_CHECK(text.find(fo_where(node.port())) != std::string::npos);
  CAF_CHECK(text.find(fo_where(second.port())) != std::string::npos);
  for (auto& c : clients)
    caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  for (auto& a : {holder, slow, receiver})
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  for (auto& h : {handle, *reports, *direct_b})
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
}

CAF_TEST(a listener keeps listening when its node stops gracefully) {
  // "orders": its idle connections (min-size 2) take the LISTEN and the
  // NOTIFY at once on either node.
  auto h = pool::connect_pool(sys, both(), "orders", 5s);
  CAF_REQUIRE(h);
  auto test = caf::actor_cast<caf::actor>(self);
  auto heard = [&](caf::timespan wait = caf::timespan{15s}) {
    return fo_next<fo_heard_atom>(self, wait);
  };
  auto notify = [&](const std::string& payload) {
    return fo_notify(self, *h, "fo_rolling", payload);
  };
  auto listener = sys.spawn(fo_listener, *h, test, "fo_rolling");
  CAF_REQUIRE_EQUAL(heard(), "listening");
  CAF_REQUIRE(notify("one"));
  CAF_CHECK_EQUAL(heard(), "notification fo_rolling one");
  // SIGTERM: node a's pool ends its listening (listening false, which the
  // handle keeps to itself), shuts down, and the handle listens through b.
  CAF_CHECK_EQUAL(node.stop(), 0);
  auto missed = heard();
  CAF_MESSAGE("listener: " << missed);
  CAF_CHECK(missed.find("missed, listening: ") == 0);
  CAF_CHECK(missed.find(fo_where(second.port())) != std::string::npos);
  auto two = notify("two");
  CAF_CHECK_EQUAL(pool_test::describe(two), "ok");
  CAF_CHECK_EQUAL(heard(), "notification fo_rolling two");
  // Nothing else reached the listener (no "listening ended").
  CAF_CHECK_EQUAL(heard(caf::timespan{1s}), "<none>");
  caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(*h, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(failover_breaker_tests, failover_breaker_fixture)

CAF_TEST(breaker subscribers keep receiving events after a failover) {
  auto h = pool::connect_pool(sys, both(), "broken", 5s);
  CAF_REQUIRE(h);
  auto test = caf::actor_cast<caf::actor>(self);
  // Two subscribers through the handle (on node a): both hear node a's
  // breaker.
  std::vector<caf::actor> subs{sys.spawn(fo_subscriber, *h, test, 1),
                               sys.spawn(fo_subscriber, *h, test, 2)};
  std::set<std::string> answers;
  for (int i = 0; i < 2; ++i)
    answers.insert(fo_event_if(self, [](const std::string& x) {
      return x.find(" subscribe") != std::string::npos;
    }));
  CAF_REQUIRE_EQUAL(answers,
                    (std::set<std::string>{"1 subscribed", "2 subscribed"}));
  auto first = fo_event_of(self, "1 event");
  CAF_MESSAGE("subscriber 1, on node a: " << first);
  CAF_CHECK(first.find("1 event broken ") == 0);
  CAF_CHECK(fo_event_of(self, "2 event").find("2 event broken ") == 0);
  // Node a killed: once the handle serves through node b, the events that
  // come are b's (what a sent before it died is dropped first).
  node.kill9();
  auto served = call<pool::pool_stats>(self, *h, 10s, pool::stats_atom_v);
  for (int i = 0; i < 20 && !served; ++i) {
    CAF_MESSAGE("stats at the loss: " << pool::describe(served.error()));
    self->receive(caf::after(200ms) >> [] {});
    served = call<pool::pool_stats>(self, *h, 10s, pool::stats_atom_v);
  }
  CAF_REQUIRE(served);
  fo_event_of(self, "<drop>", caf::timespan{500ms});
  for (auto no : {"1", "2"}) {
    auto prefix = std::string{no} + " event";
    auto next = fo_event_of(self, prefix);
    CAF_MESSAGE("subscriber " << no << ", after the failover: " << next);
    CAF_CHECK(next.find(prefix + " broken ") == 0);
  }
  // A subscriber that dies is dropped; the other keeps hearing.
  caf::anon_send_exit(subs[0], caf::exit_reason::user_shutdown);
  fo_event_of(self, "<drop>", caf::timespan{500ms});
  CAF_CHECK(fo_event_of(self, "2 event").find("2 event broken ") == 0);
  CAF_CHECK_EQUAL(fo_event_of(self, "1 event", caf::timespan{1s}), "<none>");
  // No node left: a new subscribe waits and fails with pool_down naming
  // both nodes. One that races the loss's detection may still be taken by
  // node b's subscription: the next one is sent after it.
  second.kill9();
  std::string refused = "<none>";
  for (int i = 0; i < 5; ++i) {
    auto no = 10 + i;
    subs.push_back(sys.spawn(fo_subscriber, *h, test, no));
    auto prefix = std::to_string(no) + " subscribe";
    refused = fo_event_of(self, prefix, caf::timespan{30s});
    CAF_MESSAGE("subscriber " << no << ": " << refused);
    if (refused.find("no node of the") != std::string::npos)
      break;
  }
  CAF_CHECK(refused.find("subscribe: pool_down") != std::string::npos);
  CAF_CHECK(refused.find(fo_where(node.port())) != std::string::npos);
  CAF_CHECK(refused.find(fo_where(second.port())) != std::string::npos);
  for (auto& s : subs)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(*h, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(failover_one_node_tests, failover_one_node_fixture)

CAF_TEST(a pool that no node serves is an invalid request naming the nodes) {
  auto dead = fo_closed_port();
  std::vector<pool::node_address> nodes{{"127.0.0.1", dead},
                                        {"127.0.0.1", node.port()}};
  auto h = pool::connect_pool(sys, nodes, "nosuch", 5s);
  CAF_REQUIRE(!h);
  CAF_MESSAGE(pool::describe(h.error()));
  CAF_CHECK(pool::is(h.error(), pool::pool_errc::invalid_request));
  auto text = pool::error_message(h.error());
  CAF_CHECK(text.find(fo_where(dead)) != std::string::npos);
  CAF_CHECK(text.find(fo_where(node.port()) + ": this node has no pool named "
                                              "'nosuch'") != std::string::npos);
  // The dead node first: the handle connects to the second, and serves.
  auto ok = pool::connect_pool(sys, nodes, "orders", 5s);
  CAF_REQUIRE(ok);
  auto r = call<pool::query_result>(self, *ok, 10s, pool::query_atom_v,
                                    pool::statement{"SELECT 7"});
  CAF_CHECK(r && r->at(0, 0) == "7");
  caf::anon_send_exit(*ok, caf::exit_reason::user_shutdown);
}

CAF_TEST(a dropped handle stops and its node stops listening for it) {
  auto direct = pool::connect_pool(sys, "127.0.0.1", node.port(), "orders");
  CAF_REQUIRE(direct);
  auto channels_are = [&](size_t n) {
    return pool_test::wait_for_stats(
             self, *direct, 5s,
             [n](const pool::pool_stats& s) { return s.listen.channels == n; },
             10000ms)
      .second;
  };
  caf::actor_addr weak;
  {
    auto h =
      pool::connect_pool(sys, {{"127.0.0.1", node.port()}}, "orders", 5s);
    CAF_REQUIRE(h);
    weak = caf::actor_cast<caf::actor_addr>(*h);
    // Requests that the handle sends to the node itself: a listen (this
    // test's actor listens) and stats.
    auto listened = call<caf::ok_atom>(self, *h, 10s, pool::listen_atom_v,
                                       std::string{"fo_dropped"});
    CAF_REQUIRE(listened);
    auto stats = call<pool::pool_stats>(self, *h, 10s, pool::stats_atom_v);
    CAF_REQUIRE(stats);
    CAF_CHECK(channels_are(1));
  } // the last reference to the handle is dropped here, with no exit message
  // The handle stopped, and so did what the node saw of it: the node stops
  // listening to the channel.
  CAF_CHECK(!caf::actor_cast<caf::actor>(weak));
  CAF_CHECK(channels_are(0));
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(failover_offline_tests, failover_offline_fixture)

CAF_TEST(no reachable node is pool_down naming each node) {
  auto p1 = fo_closed_port();
  auto p2 = fo_closed_port();
  auto h = pool::connect_pool(sys, {{"127.0.0.1", p1}, {"127.0.0.1", p2}},
                              "orders", 2s);
  CAF_REQUIRE(!h);
  CAF_MESSAGE(pool::describe(h.error()));
  CAF_CHECK(pool::is(h.error(), pool::pool_errc::pool_down));
  auto text = pool::error_message(h.error());
  CAF_CHECK(text.find("no node of the cluster serves 'orders'") !=
            std::string::npos);
  CAF_CHECK(text.find(fo_where(p1) + ": ") != std::string::npos);
  CAF_CHECK(text.find(fo_where(p2) + ": ") != std::string::npos);
}

CAF_TEST(an empty node list is an invalid request) {
  auto h = pool::connect_pool(sys, std::vector<pool::node_address>{}, "orders");
  CAF_REQUIRE(!h);
  CAF_CHECK(pool::is(h.error(), pool::pool_errc::invalid_request));
}

CAF_TEST_FIXTURE_SCOPE_END()
