#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE client
#include "fixture.hpp"

// pool::client under the test coordinator: deadlines kept by one sweep
// timer, the pool's death failing every pending request, CAF's bounce mapped
// to the pool's error, replies delivered once.

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

/// Queries that a stub pool accepted and holds unanswered.
struct held_queries {
  std::vector<caf::typed_response_promise<query_result>> promises;
};

/// A pool that accepts every query and answers none until it receives
/// `stats_atom`; every other request fails at once.
pool_actor::behavior_type stub_pool(pool_actor::pointer self,
                                    std::shared_ptr<held_queries> held) {
  auto no = [] { return make_error(pool_errc::invalid_request, "stub"); };
  return {
    [=](query_atom, statement&) -> caf::result<query_result> {
      auto rp = self->make_response_promise<query_result>();
      held->promises.push_back(rp);
      return rp;
    },
    [=](acquire_atom, caf::timespan) -> caf::result<lease> { return no(); },
    [=](release_atom, uint64_t) -> caf::result<caf::ok_atom> { return no(); },
    [=](transaction_atom, std::vector<statement>&)
      -> caf::result<std::vector<query_result>> { return no(); },
    // The test's trigger (sent with anon_send): answer every held query.
    [=](stats_atom) -> caf::result<pool_stats> {
      for (auto& rp : held->promises)
        rp.deliver(query_result{});
      held->promises.clear();
      return no();
    },
    [=](subscribe_atom) -> caf::result<caf::ok_atom> { return no(); },
    [=](shutdown_atom, caf::timespan) -> caf::result<caf::ok_atom> {
      return no();
    },
    [=](query_atom, priority, statement&) -> caf::result<query_result> {
      return no();
    },
    [=](acquire_atom, caf::timespan, priority) -> caf::result<lease> {
      return no();
    },
    [=](transaction_atom, priority, std::vector<statement>&)
      -> caf::result<std::vector<query_result>> { return no(); },
    [=](resize_atom, uint64_t, uint64_t) -> caf::result<caf::ok_atom> {
      return no();
    },
    [=](pause_atom, caf::timespan) -> caf::result<caf::ok_atom> {
      return no();
    },
    [=](resume_atom) -> caf::result<caf::ok_atom> { return no(); },
    [=](limit_atom, uint64_t) -> caf::result<caf::ok_atom> { return no(); },
    [=](reset_atom) -> caf::result<caf::ok_atom> { return no(); },
    [=](reconfigure_atom, pool_settings&) -> caf::result<caf::ok_atom> {
      return no();
    },
    [=](listen_atom, std::string&) -> caf::result<caf::ok_atom> {
      return no();
    },
    [=](unlisten_atom, std::string&) -> caf::result<caf::ok_atom> {
      return no();
    },
    [=](stream_atom, statement&, caf::actor&,
        uint32_t) -> caf::result<stream_end> { return no(); },
  };
}

/// What the client actor got back, one entry per request.
using query_outcomes = std::vector<outcome<query_result>>;

struct client_state {
  pool::client db;
  static const char* name;
};

const char* client_state::name = "client_test";

using client_actor = caf::stateful_actor<client_state>;

/// A client actor of `p` that sends `timeouts.size()` queries at start, the
/// i-th with `timeouts[i]`, and records each answer in `out[i]`.
caf::behavior client_impl(client_actor* self, pool_actor p,
                          std::vector<caf::timespan> timeouts,
                          std::shared_ptr<query_outcomes> out) {
  self->state.db = pool::client{self, p};
  out->resize(timeouts.size());
  for (size_t i = 0; i < timeouts.size(); ++i)
    self->state.db.request(timeouts[i], query_atom_v, statement{"SELECT 1"})
      .then(
        [=](const query_result& r) {
          auto& o = (*out)[i];
          ++o.answers;
          o.value = r;
        },
        [=](caf::error& e) {
          auto& o = (*out)[i];
          ++o.answers;
          o.err = std::move(e);
        });
  return {[](caf::ok_atom) {}};
}

struct client_fixture : fixture {
  std::shared_ptr<held_queries> held = std::make_shared<held_queries>();
  std::shared_ptr<query_outcomes> out = std::make_shared<query_outcomes>();
  pool_actor stub;
  caf::actor client;

  client_fixture() {
    stub = sys.spawn(stub_pool, held);
    sched.run();
  }

  ~client_fixture() override {
    held->promises.clear(); // they hold the stub and the client
    caf::anon_send_exit(stub, caf::exit_reason::kill);
  }

  /// Spawns a client actor sending one query per timeout, runs it.
  void spawn_client(pool_actor p, std::vector<caf::timespan> timeouts) {
    client = sys.spawn(client_impl, std::move(p), std::move(timeouts), out);
    clients.push_back(client);
    sched.run();
  }

  pool::client& db() { return deref<client_actor>(client).state.db; }

  size_t answered() {
    size_t n = 0;
    for (auto& o : *out)
      n += static_cast<size_t>(o.answers);
    return n;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(client_tests, client_fixture)

// (a) The sweep fails a request with request_timeout at its deadline, not
// before; a reply that comes later is dropped (the handler ran once).
CAF_TEST(the sweep fails a request at its deadline and not before) {
  spawn_client(stub, {1s});
  CAF_REQUIRE_EQUAL(held->promises.size(), 1u);
  CAF_CHECK_EQUAL(db().pending(), 1u);
  advance_time(1s - 1ms);
  sched.run();
  CAF_CHECK_EQUAL((*out)[0].answers, 0);
  CAF_CHECK_EQUAL(db().pending(), 1u);
  // The deadline rounded up to the 5 ms granularity.
  advance_time(1ms + 5ms);
  sched.run();
  CAF_REQUIRE_EQUAL((*out)[0].answers, 1);
  CAF_CHECK((*out)[0].failed_with(pool_errc::request_timeout));
  CAF_CHECK_EQUAL(describe((*out)[0].err),
                  "request_timeout: no answer by the caller's deadline");
  CAF_CHECK_EQUAL(db().pending(), 0u);
  CAF_CHECK_EQUAL(db().armed(), 0u);
  // The pool answers late: CAF drops it, the handler does not run again.
  caf::anon_send(stub, stats_atom_v);
  sched.run();
  CAF_CHECK(held->promises.empty());
  CAF_CHECK_EQUAL((*out)[0].answers, 1);
  CAF_CHECK(!(*out)[0].value);
}

// Requests with different deadlines each fail at their own deadline.
CAF_TEST(each request fails at its own deadline) {
  spawn_client(stub, {3s, 1s, 2s});
  advance_time(1s + 5ms);
  sched.run();
  CAF_CHECK_EQUAL((*out)[0].answers, 0);
  CAF_CHECK((*out)[1].failed_with(pool_errc::request_timeout));
  CAF_CHECK_EQUAL((*out)[2].answers, 0);
  CAF_CHECK_EQUAL(db().pending(), 2u);
  advance_time(1s);
  sched.run();
  CAF_CHECK_EQUAL((*out)[0].answers, 0);
  CAF_CHECK((*out)[2].failed_with(pool_errc::request_timeout));
  advance_time(1s);
  sched.run();
  CAF_CHECK((*out)[0].failed_with(pool_errc::request_timeout));
  CAF_CHECK_EQUAL(answered(), 3u);
  CAF_CHECK_EQUAL(db().pending(), 0u);
}

// (b) N requests pending, the pool dies: all N fail at once with pool_down,
// long before their deadline (no time passes at all).
CAF_TEST(the pool dies and every pending request fails at once) {
  spawn_client(stub, std::vector<caf::timespan>(5, caf::timespan{10s}));
  CAF_REQUIRE_EQUAL(held->promises.size(), 5u);
  CAF_CHECK_EQUAL(answered(), 0u);
  caf::anon_send_exit(stub, caf::exit_reason::kill);
  sched.run();
  for (auto& o : *out) {
    CAF_REQUIRE_EQUAL(o.answers, 1);
    CAF_CHECK(o.failed_with(pool_errc::pool_down));
    CAF_CHECK_EQUAL(error_message(o.err),
                    "the pool actor is gone (exit reason: "
                    "exit_reason(kill))");
  }
  CAF_CHECK_EQUAL(db().pending(), 0u);
  // The held promises die with the stub's state here; nothing else arrives.
  held->promises.clear();
  advance_time(11s);
  sched.run();
  CAF_CHECK_EQUAL(answered(), 5u);
}

// (c) A request to a pool that is already dead: CAF bounces it at once
// (request_receiver_down, enqueued while sending), before the companion's
// pool_down can arrive, so the client answers shutting_down.
CAF_TEST(a request to a dead pool fails with shutting_down) {
  caf::anon_send_exit(stub, caf::exit_reason::kill);
  sched.run();
  spawn_client(stub, {10s});
  CAF_REQUIRE_EQUAL((*out)[0].answers, 1);
  CAF_CHECK((*out)[0].failed_with(pool_errc::shutting_down));
  CAF_CHECK_EQUAL(error_message((*out)[0].err), "the pool has shut down");
  CAF_CHECK_EQUAL(db().pending(), 0u);
  advance_time(11s);
  sched.run();
  CAF_CHECK_EQUAL(answered(), 1u);
}

// The same against the real pool actor after a graceful shutdown (the path
// defect of issue 9, point 6: CAF's request_receiver_down reached the user).
CAF_TEST(a request after the pool shut down gets shutting_down) {
  auto p = start(make_config(1, 1));
  auto down = ask<caf::ok_atom>(p, shutdown_atom_v, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(down->ok());
  spawn_client(p, {10s});
  CAF_CHECK((*out)[0].failed_with(pool_errc::shutting_down));
  CAF_CHECK_EQUAL(answered(), 1u);
}

// (d) A normal reply is delivered once and leaves no pending entry; its
// deadline passing later changes nothing.
CAF_TEST(a reply is delivered once and leaves nothing pending) {
  auto p = start(make_config(1, 1));
  spawn_client(p, {10s, 10s});
  CAF_CHECK((*out)[0].ok());
  CAF_CHECK((*out)[1].ok());
  CAF_CHECK_EQUAL(db().pending(), 0u);
  advance(11s, 1s);
  CAF_CHECK_EQUAL((*out)[0].answers, 1);
  CAF_CHECK_EQUAL((*out)[1].answers, 1);
  CAF_CHECK_EQUAL(db().armed(), 0u);
}

// (e) One timer for many pending requests: the clock holds one event, not
// one per request; a later deadline arms nothing, the sweep re-arms once.
CAF_TEST(one timer is armed for many pending requests) {
  CAF_REQUIRE_EQUAL(sched.clock().schedule().size(), 0u);
  std::vector<caf::timespan> timeouts;
  for (int i = 0; i < 100; ++i)
    timeouts.push_back(caf::timespan{1s} + i * caf::timespan{100ms});
  spawn_client(stub, timeouts);
  CAF_CHECK_EQUAL(held->promises.size(), 100u);
  CAF_CHECK_EQUAL(db().pending(), 100u);
  CAF_CHECK_EQUAL(db().armed(), 1u);
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), 1u);
  // The first deadline: one request fails, the sweep arms the next timer.
  advance_time(1s + 5ms);
  sched.run();
  CAF_CHECK_EQUAL(answered(), 1u);
  CAF_CHECK_EQUAL(db().pending(), 99u);
  CAF_CHECK_EQUAL(db().armed(), 1u);
  CAF_CHECK_EQUAL(sched.clock().schedule().size(), 1u);
}

// The lease path: acquire through the client, a query on the lease's worker
// through `query(lease, ...)`, release; nothing stays pending.
CAF_TEST(the lease path goes through the client) {
  auto p = start(make_config(1, 1));
  auto got = std::make_shared<std::vector<std::string>>();
  client = sys.spawn([=](client_actor* self) -> caf::behavior {
    self->state.db = pool::client{self, p};
    auto& db = self->state.db;
    db.request(1s, acquire_atom_v, caf::timespan{1s})
      .then(
        [=](const lease& l) {
          got->push_back("lease");
          self->state.db.query(l, 1s, statement{"SELECT 2"})
            .then(
              [=](const query_result&) {
                got->push_back("query");
                self->state.db.request(1s, release_atom_v, l.id)
                  .then([=](caf::ok_atom) { got->push_back("released"); },
                        [=](caf::error& e) { got->push_back(describe(e)); });
              },
              [=](caf::error& e) { got->push_back(describe(e)); });
        },
        [=](caf::error& e) { got->push_back(describe(e)); });
    return {[](caf::ok_atom) {}};
  });
  clients.push_back(client);
  sched.run();
  std::vector<std::string> want{"lease", "query", "released"};
  CAF_CHECK_EQUAL(*got, want);
  CAF_CHECK_EQUAL(script->log_of(1), std::vector<std::string>{"SELECT 2"});
  CAF_CHECK_EQUAL(db().pending(), 0u);
}

// A typed actor can own a client; an empty lease and a non-positive timeout
// are refused with a clear error, without sending anything.
CAF_TEST(typed owner and bad input) {
  using typed_client = caf::typed_actor<caf::reacts_to<caf::ok_atom>>;
  auto errs = std::make_shared<std::vector<std::string>>();
  auto t =
    sys.spawn([=](typed_client::pointer self) -> typed_client::behavior_type {
      pool::client db{self, stub};
      db.query(lease{}, 1s, statement{"SELECT 1"})
        .then([](const query_result&) {},
              [=](caf::error& e) { errs->push_back(describe(e)); });
      db.request(0s, query_atom_v, statement{"SELECT 1"})
        .then([](const query_result&) {},
              [=](caf::error& e) { errs->push_back(describe(e)); });
      return {[](caf::ok_atom) {}};
    });
  sched.run();
  std::vector<std::string> want{
    "invalid_lease: empty lease",
    "invalid_request: the request's timeout must be positive"};
  CAF_CHECK_EQUAL(*errs, want);
  CAF_CHECK(held->promises.empty());
  caf::anon_send_exit(t, caf::exit_reason::kill);
  sched.run();
}

// The deadline table on its own: ids in order, tombstones compacted.
CAF_TEST(deadline table) {
  using table = pool::detail::deadline_table;
  table tb;
  table::time_point t0{};
  for (uint64_t i = 1; i <= 100; ++i)
    tb.add(i, t0 + std::chrono::seconds(i));
  CAF_CHECK_EQUAL(tb.size(), 100u);
  CAF_CHECK(tb.erase(1));
  CAF_CHECK(!tb.erase(1));
  CAF_CHECK(!tb.erase(1000));
  CAF_CHECK_EQUAL(tb.slots(), 99u); // the front tombstone is gone
  for (uint64_t i = 3; i <= 90; ++i)
    CAF_CHECK(tb.erase(i));
  CAF_CHECK_EQUAL(tb.size(), 11u);
  CAF_CHECK_LESS_OR_EQUAL(tb.slots(), 2 * tb.size() + 17);
  std::vector<uint64_t> expired;
  auto next = tb.expire(t0 + std::chrono::seconds(95), expired);
  CAF_CHECK_EQUAL(expired, (std::vector<uint64_t>{2, 91, 92, 93, 94, 95}));
  CAF_CHECK(next == t0 + std::chrono::seconds(96));
  CAF_CHECK_EQUAL(tb.size(), 5u);
  CAF_CHECK_EQUAL(tb.slots(), 5u);
  expired.clear();
  tb.clear(expired);
  CAF_CHECK_EQUAL(expired, (std::vector<uint64_t>{96, 97, 98, 99, 100}));
  CAF_CHECK_EQUAL(tb.size(), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
