#pragma once

// Shared fixture of the deterministic unit tests: a pool on the fake backend
// under CAF's test coordinator (virtual time, no threads, no sleeps).

#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <memory>
#include <string>
#include <vector>

#include "caf/all.hpp"

#include "fake_backend.hpp"
#include "pool/all.hpp"

namespace pool::testing {

struct test_config : caf::actor_system_config {
  test_config() { pool::add_message_types(*this); }
};

/// What a client actor received for its request, counted, so that a test
/// can check that the request was answered exactly once.
struct outcome_base {
  virtual ~outcome_base() = default;
  /// Answers of the expected kinds (a value of the reply type, or an error).
  int answers = 0;
  /// Messages of any other kind the client received, and the last of them.
  int unexpected = 0;
  std::string unexpected_what;
  /// The request, for failure messages.
  std::string what;
  /// The client actor that sent the request (it holds a lease it acquired).
  caf::actor client;
};

/// The outcome of one request whose reply is a `T`.
template <class T>
struct outcome : outcome_base {
  caf::optional<T> value;
  caf::error err;

  bool ok() const {
    return answers == 1 && unexpected == 0 && static_cast<bool>(value);
  }
  bool failed_with(pool_errc code) const {
    return answers == 1 && unexpected == 0 && is(err, code);
  }
};

template <class T>
using outcome_ptr = std::shared_ptr<outcome<T>>;

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  std::vector<pool_actor> pools;
  std::vector<caf::actor> clients;
  /// Every request sent with `ask` or `ask_request`; checked for duplicate
  /// and unexpected answers when the test ends.
  std::vector<std::shared_ptr<outcome_base>> outcomes;

  /// A valid configuration on the fake backend.
  pool_config make_config(size_t min_size, size_t max_size) {
    pool_config result;
    result.conninfo = "host=fake dbname=test";
    result.min_size = min_size;
    result.max_size = max_size;
    result.connection_backend = std::make_shared<fake_backend>(script);
    return result;
  }

  /// Spawns a pool and lets it open its min_size connections.
  pool_actor start(pool_config cfg) {
    auto res = spawn_pool(sys, std::move(cfg));
    if (!res)
      CAF_FAIL("spawn_pool failed: " << describe(res.error()));
    pools.push_back(*res);
    sched.run();
    return *res;
  }

  /// Sends a request from a new client actor with a plain asynchronous
  /// `send`, not `request`, and counts every answer the client receives.
  ///
  /// Why `send`: CAF 0.17.6 drops a response to a request id the requester
  /// no longer waits for, so a client using `request(...).then` would never
  /// see a second answer. For an asynchronous message, the receiver's
  /// response promise (made explicitly or from a handler's return value,
  /// errors included; delegation keeps the original sender and message id)
  /// sends its answer with an asynchronous message id
  /// (`message_id::response_id()` returns an asynchronous id for a
  /// non-request; read in 0.17.6's message_id.hpp and response_promise.cpp,
  /// and shown by the `fixture` suite's self-test), so every answer,
  /// a duplicate included, arrives as an ordinary message and is counted.
  ///
  /// The client stays alive (it may hold a lease) until the test ends or
  /// kills it. Runs nothing: call `sched.run()` to deliver.
  template <class T, class Handle, class... Ts>
  outcome_ptr<T> ask(const Handle& dest, Ts... xs) {
    auto o = make_outcome<T>(xs...);
    o->client = sys.spawn([=](caf::event_based_actor* c) -> caf::behavior {
      count_unexpected(c, o);
      // An error answer is a message holding one `error`: CAF 0.17.6 hands
      // it to the error handler, not the behaviour (the default handler
      // would make the client quit).
      c->set_error_handler([=](caf::error& e) {
        ++o->answers;
        o->err = std::move(e);
      });
      c->send(dest, xs...);
      return {
        [=](T& x) {
          ++o->answers;
          o->value = std::move(x);
        },
      };
    });
    clients.push_back(o->client);
    return o;
  }

  /// Like `ask`, but sends a `request` (with a one-day timeout): for the few
  /// tests about what CAF itself answers to a request (e.g. one that reaches
  /// an actor that is gone: `request_receiver_down`). A duplicate answer
  /// would be dropped by CAF here, so this does not prove "exactly once".
  template <class T, class Handle, class... Ts>
  outcome_ptr<T> ask_request(const Handle& dest, Ts... xs) {
    auto o = make_outcome<T>(xs...);
    o->client = sys.spawn([=](caf::event_based_actor* c) -> caf::behavior {
      count_unexpected(c, o);
      c->request(dest, std::chrono::seconds(86400), xs...)
        .then(
          [=](T& x) {
            ++o->answers;
            o->value = std::move(x);
          },
          [=](caf::error& e) {
            ++o->answers;
            o->err = std::move(e);
          });
      return {[](caf::ok_atom) {}};
    });
    clients.push_back(o->client);
    return o;
  }

  /// Advances virtual time by `total` in steps of `step`, running all
  /// messages after each step (timers fire in order, at the step's end).
  void advance(caf::timespan total,
               caf::timespan step = std::chrono::milliseconds(10)) {
    for (caf::timespan t{0}; t < total; t += step) {
      advance_time(std::min(step, total - t));
      sched.run();
    }
  }

  /// Advances virtual time by `total`, firing each timer at exactly its own
  /// time (and running all messages after each), so that times the fake
  /// records are exact rather than rounded up to a step.
  void advance_exact(caf::timespan total) {
    auto& clk = sched.clock();
    auto end = clk.now() + total;
    sched.run();
    while (clk.has_pending_timeout() && clk.schedule().begin()->first <= end) {
      clk.trigger_timeout();
      sched.run();
    }
    if (clk.now() < end)
      clk.advance_time(end - clk.now()); // fires nothing: none are due
    sched.run();
  }

  /// Returns the current virtual time.
  caf::timespan now() { return sched.clock().now().time_since_epoch(); }

  /// Subscribes a recorder to the pool's breaker events.
  std::shared_ptr<std::vector<breaker_event>> record_events(pool_actor pool) {
    auto events = std::make_shared<std::vector<breaker_event>>();
    auto subscribed = std::make_shared<int>(0);
    clients.push_back(sys.spawn([=](caf::event_based_actor* c) {
      c->request(pool, std::chrono::seconds(10), subscribe_atom::value)
        .then([=](caf::ok_atom) { ++*subscribed; },
              [=](caf::error& err) {
                CAF_FAIL("subscribe failed: " << describe(err));
              });
      return caf::behavior{
        [=](const breaker_event& ev) { events->push_back(ev); }};
    }));
    sched.run();
    if (*subscribed != 1)
      CAF_FAIL("subscribe was not answered");
    return events;
  }

  /// Returns the last statement the fake ran on connection `n`, or "".
  std::string last_statement(int n) {
    auto log = script->log_of(n);
    return log.empty() ? std::string{} : log.back();
  }

  /// Asks `pool` for its statistics and returns them.
  pool_stats stats(const pool_actor& pool) {
    auto o = ask<pool_stats>(pool, stats_atom::value);
    sched.run();
    if (!o->ok())
      CAF_FAIL("no stats: " << o->answers << " answers, " << describe(o->err));
    return *o->value;
  }

  ~fixture() override {
    // Whatever is still in the mailboxes arrives now: a second answer to any
    // request of this test fails it.
    sched.run();
    for (auto& o : outcomes) {
      if (o->answers > 1)
        CAF_ERROR(o->answers << " answers to " << o->what);
      if (o->unexpected > 0)
        CAF_ERROR(o->unexpected << " unexpected message(s), last "
                                << o->unexpected_what << ", for " << o->what);
      CAF_CHECK_LESS_OR_EQUAL(o->answers, 1);
      CAF_CHECK_EQUAL(o->unexpected, 0);
    }
    for (auto& c : clients)
      caf::anon_send_exit(c, caf::exit_reason::kill);
    for (auto& p : pools)
      caf::anon_send_exit(p, caf::exit_reason::kill);
    sched.run();
  }

 private:
  template <class T, class... Ts>
  outcome_ptr<T> make_outcome(const Ts&... xs) {
    auto o = std::make_shared<outcome<T>>();
    o->what = caf::deep_to_string(std::forward_as_tuple(xs...));
    outcomes.push_back(o);
    return o;
  }

  // Counts messages the client did not expect instead of dropping them.
  static void count_unexpected(caf::event_based_actor* c,
                               std::shared_ptr<outcome_base> o) {
    c->set_default_handler(
      [o](caf::scheduled_actor*,
          caf::message_view& x) -> caf::result<caf::message> {
        ++o->unexpected;
        o->unexpected_what = x.content().stringify();
        return caf::message{};
      });
  }
};

} // namespace pool::testing
