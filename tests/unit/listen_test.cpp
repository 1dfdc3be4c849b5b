// LISTEN/NOTIFY on fake backends: notifications reach the listeners of their
// channel; the listening connection counts toward max_size, is the pool's
// own lease (no lease_timeout, no pause wait) and is given back when nobody
// listens; listeners that die are dropped; after the connection is lost the
// pool listens again and says notifications may have been missed; bad
// channels are refused; shutdown ends listening.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE listen
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

/// What a listening test actor received.
struct heard {
  int oks = 0;
  std::vector<caf::error> errors;
  std::vector<notification> notes;
  std::vector<notifications_missed> missed;
};

using heard_ptr = std::shared_ptr<heard>;

/// Test actor → itself: listen to / unlisten from a channel now.
using do_listen_atom = caf::atom_constant<caf::atom("dolisten")>;
using do_unlisten_atom = caf::atom_constant<caf::atom("dounlisten")>;

struct listen_fixture : fixture {
  /// Spawns an actor that listens to `channels` on `pool` (plain sends, so
  /// that every answer is counted) and records what it receives.
  std::pair<caf::actor, heard_ptr> listener(const pool_actor& pool,
                                            std::vector<std::string> channels) {
    auto h = std::make_shared<heard>();
    auto a = sys.spawn([=](caf::event_based_actor* c) -> caf::behavior {
      c->set_error_handler([=](caf::error& e) { h->errors.push_back(e); });
      for (auto& ch : channels)
        c->send(pool, listen_atom::value, ch);
      return {
        [=](caf::ok_atom) { ++h->oks; },
        [=](notification& x) { h->notes.push_back(std::move(x)); },
        [=](notifications_missed& x) { h->missed.push_back(std::move(x)); },
        [=](do_listen_atom, std::string& ch) {
          c->send(pool, listen_atom::value, ch);
        },
        [=](do_unlisten_atom, std::string& ch) {
          c->send(pool, unlisten_atom::value, ch);
        },
      };
    });
    clients.push_back(a);
    sched.run();
    return {a, h};
  }

  /// The fake connection that listens, or 0.
  int listening_connection() {
    for (auto& kvp : script->listening)
      if (!kvp.second.empty() && script->broken.count(kvp.first) == 0)
        return kvp.first;
    return 0;
  }

  /// How many statements the fake ran with exactly this SQL.
  int count(const std::string& sql) {
    int n = 0;
    for (auto& line : script->log)
      if (line.substr(line.find(':') + 1) == sql)
        ++n;
    return n;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(listen_tests, listen_fixture)

CAF_TEST(notifications reach every listener of their channel) {
  auto pool = start(make_config(1, 3));
  auto [a, ha] = listener(pool, {"orders"});
  auto [b, hb] = listener(pool, {"orders", "other"});
  auto [c, hc] = listener(pool, {"other"});
  CAF_CHECK_EQUAL(ha->oks, 1);
  CAF_CHECK_EQUAL(hb->oks, 2);
  CAF_CHECK_EQUAL(hc->oks, 1);
  // One connection listens, once per channel.
  auto n = listening_connection();
  CAF_REQUIRE_NOT_EQUAL(n, 0);
  CAF_CHECK_EQUAL(script->listening[n],
                  (std::set<std::string>{"orders", "other"}));
  CAF_CHECK_EQUAL(count("LISTEN \"orders\""), 1);
  CAF_CHECK_EQUAL(count("LISTEN \"other\""), 1);
  CAF_CHECK_EQUAL(script->notify("orders", "42", 777), 1);
  sched.run();
  CAF_REQUIRE_EQUAL(ha->notes.size(), 1u);
  CAF_REQUIRE_EQUAL(hb->notes.size(), 1u);
  CAF_CHECK_EQUAL(hc->notes.size(), 0u);
  CAF_CHECK_EQUAL(ha->notes[0].pool, "pool");
  CAF_CHECK_EQUAL(ha->notes[0].channel, "orders");
  CAF_CHECK_EQUAL(ha->notes[0].payload, "42");
  CAF_CHECK_EQUAL(ha->notes[0].sender_pid, 777);
  CAF_CHECK_EQUAL(hb->notes[0].payload, "42");
  script->notify("other", "");
  sched.run();
  CAF_CHECK_EQUAL(hb->notes.size(), 2u);
  CAF_REQUIRE_EQUAL(hc->notes.size(), 1u);
  CAF_CHECK_EQUAL(hc->notes[0].payload, "");
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.listen.connections, 1u);
  CAF_CHECK_EQUAL(st.listen.channels, 2u);
  CAF_CHECK_EQUAL(st.listen.subscriptions, 4u);
  CAF_CHECK_EQUAL(st.listen.received, 2u);
  CAF_CHECK_EQUAL(st.listen.delivered, 4u);
  CAF_CHECK_EQUAL(st.leased, 1u);
  // Queries still run beside it.
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(q->ok());
  CAF_CHECK(ha->errors.empty() && hb->errors.empty() && hc->errors.empty());
}

CAF_TEST(the listening connection counts toward max_size until nobody listens) {
  auto pool = start(make_config(1, 2));
  auto [a, ha] = listener(pool, {"orders"});
  CAF_REQUIRE_EQUAL(ha->oks, 1);
  auto l1 = ask<lease>(pool, acquire_atom::value, caf::timespan{10s});
  auto l2 = ask<lease>(pool, acquire_atom::value, caf::timespan{10s});
  sched.run();
  CAF_CHECK(l1->ok());
  CAF_CHECK_EQUAL(l2->answers, 0); // both connections are taken
  CAF_CHECK_EQUAL(stats(pool).waiting, 1u);
  // The only listener leaves: the connection comes back clean and serves.
  caf::anon_send(a, do_unlisten_atom::value, std::string{"orders"});
  sched.run();
  CAF_CHECK_EQUAL(ha->oks, 2); // unlisten's ok
  CAF_CHECK_EQUAL(count("UNLISTEN \"orders\""), 1);
  CAF_CHECK_EQUAL(count("UNLISTEN *"), 1);
  CAF_CHECK(l2->ok());
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.listen.connections, 0u);
  CAF_CHECK_EQUAL(st.listen.channels, 0u);
  CAF_CHECK_EQUAL(listening_connection(), 0);
  // Unlisten of what one does not listen to is fine.
  caf::anon_send(a, do_unlisten_atom::value, std::string{"nothing"});
  sched.run();
  CAF_CHECK_EQUAL(ha->oks, 3);
}

CAF_TEST(an unlisten right after a listen leaves nothing listening) {
  auto pool = start(make_config(1, 3));
  auto h = std::make_shared<heard>();
  auto a = sys.spawn([=](caf::event_based_actor* c) -> caf::behavior {
    c->set_error_handler([=](caf::error& e) { h->errors.push_back(e); });
    c->send(pool, listen_atom::value, std::string{"orders"});
    c->send(pool, unlisten_atom::value, std::string{"orders"});
    return {
      [=](caf::ok_atom) { ++h->oks; },
      [=](notification& x) { h->notes.push_back(std::move(x)); },
    };
  });
  clients.push_back(a);
  sched.run();
  CAF_CHECK_EQUAL(h->oks, 2);
  CAF_CHECK(h->errors.empty());
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.listen.subscriptions, 0u);
  CAF_CHECK_EQUAL(st.listen.connections, 0u);
  CAF_CHECK_EQUAL(st.leased, 0u);
  script->notify("orders", "x");
  sched.run();
  CAF_CHECK(h->notes.empty());
}

CAF_TEST(a listener that dies is dropped) {
  auto pool = start(make_config(1, 3));
  auto [a, ha] = listener(pool, {"orders"});
  auto [b, hb] = listener(pool, {"orders", "other"});
  CAF_REQUIRE_EQUAL(ha->oks + hb->oks, 3);
  caf::anon_send_exit(b, caf::exit_reason::kill);
  sched.run();
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.listen.subscriptions, 1u);
  CAF_CHECK_EQUAL(st.listen.channels, 1u);
  CAF_CHECK_EQUAL(count("UNLISTEN \"other\""), 1);
  script->notify("orders", "x");
  sched.run();
  CAF_CHECK_EQUAL(ha->notes.size(), 1u);
  CAF_CHECK_EQUAL(st.listen.connections, 1u);
  caf::anon_send_exit(a, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK_EQUAL(stats(pool).listen.connections, 0u);
  CAF_CHECK_EQUAL(stats(pool).leased, 0u);
}

CAF_TEST(after the listening connection is lost it listens again and says so) {
  auto pool = start(make_config(1, 3));
  auto [a, ha] = listener(pool, {"orders", "other"});
  CAF_REQUIRE_EQUAL(ha->oks, 2);
  auto n = listening_connection();
  CAF_REQUIRE_NOT_EQUAL(n, 0);
  script->break_connection(n);
  advance(1s);
  auto m = listening_connection();
  CAF_REQUIRE_NOT_EQUAL(m, 0);
  CAF_CHECK_NOT_EQUAL(m, n);
  CAF_CHECK_EQUAL(script->listening[m],
                  (std::set<std::string>{"orders", "other"}));
  CAF_REQUIRE_EQUAL(ha->missed.size(), 1u);
  auto& x = ha->missed[0];
  CAF_CHECK_EQUAL(x.pool, "pool");
  CAF_CHECK_EQUAL(x.channels, (std::vector<std::string>{"orders", "other"}));
  CAF_CHECK(x.listening);
  CAF_CHECK_EQUAL(x.reason.rfind("the listening connection was lost: ", 0), 0u);
  CAF_CHECK_EQUAL(stats(pool).listen.reconnects, 1u);
  CAF_CHECK_EQUAL(script->notify("orders", "after"), 1);
  sched.run();
  CAF_REQUIRE_EQUAL(ha->notes.size(), 1u);
  CAF_CHECK_EQUAL(ha->notes[0].payload, "after");
  CAF_CHECK(ha->errors.empty());
}

CAF_TEST(while the server is down listeners wait and hear of the gap) {
  auto cfg = make_config(1, 3);
  cfg.acquire_timeout = 1s;
  cfg.breaker_threshold = 0;
  auto pool = start(cfg);
  auto [a, ha] = listener(pool, {"orders"});
  CAF_REQUIRE_EQUAL(ha->oks, 1);
  // The server goes away for a while: acquiring fails, the listener keeps
  // trying with backoff.
  script->connect_error = make_error(pool_errc::connect_failed, "refused");
  script->break_all();
  advance(5s);
  CAF_CHECK_EQUAL(listening_connection(), 0);
  CAF_CHECK(ha->missed.empty());
  // A new listener meanwhile learns why it does not listen.
  auto [b, hb] = listener(pool, {"orders"});
  advance(2s);
  CAF_CHECK_EQUAL(hb->oks, 0);
  CAF_REQUIRE_EQUAL(hb->errors.size(), 1u);
  // The server is back: listening resumes, the old listener hears of the
  // gap.
  script->connect_error = caf::error{};
  advance(15s);
  CAF_CHECK_NOT_EQUAL(listening_connection(), 0);
  CAF_REQUIRE_EQUAL(ha->missed.size(), 1u);
  CAF_CHECK(ha->missed[0].listening);
  CAF_CHECK(hb->missed.empty());
  script->notify("orders", "back");
  sched.run();
  CAF_CHECK_EQUAL(ha->notes.size(), 1u);
  CAF_CHECK_EQUAL(hb->notes.size(), 0u);
}

CAF_TEST(bad channels are refused naming why) {
  auto pool = start(make_config(1, 3));
  auto empty = ask<caf::ok_atom>(pool, listen_atom::value, std::string{});
  auto longer =
    ask<caf::ok_atom>(pool, listen_atom::value, std::string(64, 'x'));
  auto nul =
    ask<caf::ok_atom>(pool, listen_atom::value, std::string{"a\0b", 3});
  sched.run();
  CAF_REQUIRE(empty->failed_with(pool_errc::invalid_request));
  CAF_CHECK_EQUAL(error_message(empty->err), "listen: channel is empty");
  CAF_REQUIRE(longer->failed_with(pool_errc::invalid_request));
  CAF_CHECK_EQUAL(error_message(longer->err),
                  "listen: channel is 64 bytes long, at most 63 are allowed");
  CAF_REQUIRE(nul->failed_with(pool_errc::invalid_request));
  CAF_CHECK_EQUAL(error_message(nul->err), "listen: channel contains a NUL "
                                           "byte");
  CAF_CHECK_EQUAL(stats(pool).listen.connections, 0u);
  // A channel name is an identifier, quoted: case and quotes are kept.
  auto [a, ha] = listener(pool, {"Mixed\"Case"});
  CAF_CHECK_EQUAL(ha->oks, 1);
  CAF_CHECK_EQUAL(count("LISTEN \"Mixed\"\"Case\""), 1);
  CAF_CHECK_EQUAL(script->notify("Mixed\"Case", "q"), 1);
  sched.run();
  CAF_CHECK_EQUAL(ha->notes.size(), 1u);
}

CAF_TEST(the listening lease is the pool own) {
  auto cfg = make_config(1, 3);
  cfg.lease_timeout = 1s;
  cfg.leak_threshold = 1s;
  auto pool = start(cfg);
  auto [a, ha] = listener(pool, {"orders"});
  CAF_REQUIRE_EQUAL(ha->oks, 1);
  advance(5s);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.leases_timed_out, 0u);
  CAF_CHECK_EQUAL(st.leaks, 0u);
  CAF_CHECK_EQUAL(st.listen.connections, 1u);
  // A pause does not wait for it.
  auto p = ask<caf::ok_atom>(pool, pause_atom::value, caf::timespan{5s});
  sched.run();
  CAF_CHECK(p->ok());
  auto r = ask<caf::ok_atom>(pool, resume_atom::value);
  sched.run();
  CAF_CHECK(r->ok());
  // A reset moves it to a new connection; listeners hear of the gap.
  auto n = listening_connection();
  auto reset = ask<caf::ok_atom>(pool, reset_atom::value);
  advance(1s);
  CAF_CHECK(reset->ok());
  auto m = listening_connection();
  CAF_CHECK_NOT_EQUAL(m, 0);
  CAF_CHECK_NOT_EQUAL(m, n);
  CAF_REQUIRE_EQUAL(ha->missed.size(), 1u);
  CAF_CHECK_EQUAL(ha->missed[0].reason,
                  "the listening connection was replaced (reset or "
                  "max_lifetime)");
  script->notify("orders", "moved");
  sched.run();
  CAF_CHECK_EQUAL(ha->notes.size(), 1u);
}

CAF_TEST(shutdown ends listening and tells the listeners) {
  auto pool = start(make_config(1, 3));
  auto [a, ha] = listener(pool, {"orders"});
  CAF_REQUIRE_EQUAL(ha->oks, 1);
  auto s = ask<caf::ok_atom>(pool, shutdown_atom::value, caf::timespan{5s});
  advance(1s);
  CAF_CHECK(s->ok());
  CAF_REQUIRE_EQUAL(ha->missed.size(), 1u);
  CAF_CHECK(!ha->missed[0].listening);
  CAF_CHECK_EQUAL(ha->missed[0].reason, "the pool shuts down");
  // The pool is gone: a request gets CAF's answer for a dead receiver.
  auto late =
    ask_request<caf::ok_atom>(pool, listen_atom::value, std::string{"x"});
  sched.run();
  CAF_CHECK_EQUAL(late->answers, 1);
  CAF_CHECK(late->err);
}

CAF_TEST_FIXTURE_SCOPE_END()
