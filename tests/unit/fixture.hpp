#pragma once

// Shared fixture of the deterministic unit tests: a pool on the fake backend
// under CAF's test coordinator (virtual time, no threads, no sleeps).

#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <memory>
#include <vector>

#include "caf/all.hpp"

#include "fake_backend.hpp"
#include "pool/all.hpp"

namespace pool::testing {

struct test_config : caf::actor_system_config {
  test_config() { pool::add_message_types(*this); }
};

/// What a client actor got back: each answer is counted, so a test can check
/// that a request was answered exactly once.
template <class T>
struct outcome {
  int answers = 0;
  caf::optional<T> value;
  caf::error err;
  /// The client actor that sent the request (it holds a lease it acquired).
  caf::actor client;

  bool ok() const { return answers == 1 && static_cast<bool>(value); }
  bool failed_with(pool_errc code) const {
    return answers == 1 && is(err, code);
  }
};

template <class T>
using outcome_ptr = std::shared_ptr<outcome<T>>;

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<fake_script> script = std::make_shared<fake_script>();
  std::vector<pool_actor> pools;
  std::vector<caf::actor> clients;

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

  /// Sends a request from a new client actor; the reply lands in the result.
  /// The client stays alive (it may hold a lease) until the test ends or
  /// kills it. Runs nothing: call `sched.run()` to deliver.
  template <class T, class Handle, class... Ts>
  outcome_ptr<T> ask(const Handle& dest, Ts... xs) {
    auto o = std::make_shared<outcome<T>>();
    o->client = sys.spawn([=](caf::event_based_actor* c) -> caf::behavior {
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
  /// messages after each step (timers fire in order).
  void advance(caf::timespan total,
               caf::timespan step = std::chrono::milliseconds(10)) {
    for (caf::timespan t{0}; t < total; t += step) {
      advance_time(std::min(step, total - t));
      sched.run();
    }
  }

  /// Subscribes a recorder to the pool's breaker events.
  std::shared_ptr<std::vector<breaker_event>> record_events(pool_actor pool) {
    auto events = std::make_shared<std::vector<breaker_event>>();
    clients.push_back(sys.spawn([=](caf::event_based_actor* c) {
      c->request(pool, std::chrono::seconds(10), subscribe_atom::value)
        .then([](caf::ok_atom) {});
      return caf::behavior{
        [=](const breaker_event& ev) { events->push_back(ev); }};
    }));
    sched.run();
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
      CAF_FAIL("no stats: " << describe(o->err));
    return *o->value;
  }

  ~fixture() override {
    for (auto& c : clients)
      caf::anon_send_exit(c, caf::exit_reason::kill);
    for (auto& p : pools)
      caf::anon_send_exit(p, caf::exit_reason::kill);
    sched.run();
  }
};

} // namespace pool::testing
