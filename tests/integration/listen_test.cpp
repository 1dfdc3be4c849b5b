// LISTEN/NOTIFY against the real server: two actors listen to a channel and
// both get a notification sent with pg_notify (channel and payload as
// parameters); the listening backend is terminated (pg_terminate_backend):
// both hear that notifications may have been missed, and get the next one;
// a listener that dies is dropped.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE listen
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

#include "fixture.hpp"

using namespace it;

namespace {

/// What a listening actor received; the test thread waits on it.
struct inbox {
  std::mutex mx;
  std::condition_variable cv;
  int oks = 0;
  std::vector<caf::error> errors;
  std::vector<pool::notification> notes;
  std::vector<pool::notifications_missed> missed;

  template <class F>
  void update(F f) {
    std::lock_guard<std::mutex> guard{mx};
    f(*this);
    cv.notify_all();
  }

  /// Waits at most `limit` until `pred(*this)` holds; returns whether it did.
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> guard{mx};
    return cv.wait_for(guard, limit, [&] { return pred(*this); });
  }
};

using inbox_ptr = std::shared_ptr<inbox>;

/// An actor that listens to `channel` on `pool` and records what arrives.
caf::actor listener(caf::actor_system& sys, pool::pool_actor pool,
                    std::string channel, inbox_ptr box) {
  return sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    self->request(pool, std::chrono::seconds(15), pool::listen_atom_v, channel)
      .then([=](caf::ok_atom) { box->update([](inbox& b) { ++b.oks; }); },
            [=](caf::error& err) {
              box->update([&](inbox& b) { b.errors.push_back(err); });
            });
    return {
      [=](pool::notification& x) {
        box->update([&](inbox& b) { b.notes.push_back(std::move(x)); });
      },
      [=](pool::notifications_missed& x) {
        box->update([&](inbox& b) { b.missed.push_back(std::move(x)); });
      },
    };
  });
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(listen_tests, fixture)

CAF_TEST(two listeners get notifications and hear of a lost connection) {
  auto p = spawn(1, 4);
  // A channel of this process, with a capital and a quote: it is an
  // identifier, quoted as one.
  auto channel = "libpool \"It\" " + std::to_string(::getpid());
  auto a_box = std::make_shared<inbox>();
  auto b_box = std::make_shared<inbox>();
  auto a = listener(sys, p, channel, a_box);
  auto b = listener(sys, p, channel, b_box);
  auto subscribed = [](inbox& x) { return x.oks == 1 || !x.errors.empty(); };
  CAF_REQUIRE(a_box->wait(subscribed, 15000ms));
  CAF_REQUIRE(b_box->wait(subscribed, 15000ms));
  CAF_REQUIRE(a_box->errors.empty());
  CAF_REQUIRE(b_box->errors.empty());
  auto st = stats(p);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->listen.connections, 1u);
  CAF_CHECK_EQUAL(st->listen.subscriptions, 2u);
  // The server lists the channel on the listening session.
  auto listening =
    scalar(p, pool::statement{"SELECT count(*) FROM pg_stat_activity WHERE "
                              "query = 'LISTEN ' || quote_ident($1)",
                              {channel}});
  CAF_CHECK_EQUAL(listening, "1");

  // 1. A notification reaches both, with the sender's pid.
  auto notify = [&](const std::string& payload) {
    return scalar(p, pool::statement{"SELECT pg_notify($1, $2)::text || "
                                     "pg_backend_pid()",
                                     {channel, payload}});
  };
  auto sender = notify("first 'one'");
  auto got = [](size_t n) {
    return [n](inbox& x) { return x.notes.size() >= n; };
  };
  CAF_REQUIRE(a_box->wait(got(1), 5000ms));
  CAF_REQUIRE(b_box->wait(got(1), 5000ms));
  for (auto box : {a_box, b_box}) {
    std::lock_guard<std::mutex> guard{box->mx};
    CAF_CHECK_EQUAL(box->notes[0].channel, channel);
    CAF_CHECK_EQUAL(box->notes[0].payload, "first 'one'");
    CAF_CHECK_EQUAL(box->notes[0].pool, "pool");
    CAF_CHECK_EQUAL(std::to_string(box->notes[0].sender_pid), sender);
  }

  // 2. The listening backend is terminated: both hear that notifications
  // may have been missed, once the pool listens again.
  auto killed = scalar(
    p, pool::statement{"SELECT count(*) FILTER (WHERE "
                       "pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE query = 'LISTEN ' || quote_ident($1)",
                       {channel}});
  CAF_REQUIRE_EQUAL(killed, "1");
  auto missed = [](inbox& x) { return !x.missed.empty(); };
  CAF_REQUIRE(a_box->wait(missed, 10000ms));
  CAF_REQUIRE(b_box->wait(missed, 10000ms));
  {
    std::lock_guard<std::mutex> guard{a_box->mx};
    auto& m = a_box->missed[0];
    CAF_MESSAGE("missed: " << m.reason);
    CAF_CHECK(m.listening);
    CAF_CHECK_EQUAL(m.channels, std::vector<std::string>{channel});
    // The server's own words.
    CAF_CHECK_EQUAL(m.reason.rfind("the listening connection was lost: "
                                   "connection_lost [57P01]: ",
                                   0),
                    0u);
  }
  CAF_CHECK_EQUAL(
    scalar(p, pool::statement{"SELECT count(*) FROM pg_stat_activity WHERE "
                              "query = 'LISTEN ' || quote_ident($1)",
                              {channel}}),
    "1");
  notify("second");
  CAF_REQUIRE(a_box->wait(got(2), 5000ms));
  CAF_REQUIRE(b_box->wait(got(2), 5000ms));
  {
    std::lock_guard<std::mutex> guard{b_box->mx};
    CAF_CHECK_EQUAL(b_box->notes[1].payload, "second");
  }
  st = stats(p);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->listen.reconnects, 1u);
  CAF_CHECK_EQUAL(st->listen.connections, 1u);

  // 3. A listener that dies is dropped; the other still hears.
  caf::anon_send_exit(a, caf::exit_reason::kill);
  auto one_left = wait_for_stats(
    p, [](const pool::pool_stats& s) { return s.listen.subscriptions == 1; });
  CAF_CHECK(one_left.second);
  notify("third");
  CAF_REQUIRE(b_box->wait(got(3), 5000ms));
  caf::anon_send_exit(b, caf::exit_reason::kill);
  // Nobody listens: the connection goes back to the pool. The listener
  // reports that it stopped listening before its UNLISTEN * and release
  // reach the pool, so wait for both.
  auto none = wait_for_stats(p, [](const pool::pool_stats& s) {
    return s.listen.connections == 0 && s.leased == 0;
  });
  CAF_CHECK(none.second);
  CAF_CHECK_EQUAL(none.first.leased, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
