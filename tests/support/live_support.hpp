#pragma once

// Helpers shared by the fixtures of the tests against a live PostgreSQL
// server (tests/integration, tests/chaos): the actor system's configuration,
// a bounded request from a scoped actor, polling a pool's stats, and
// rendering an expected for test messages.

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include "caf/all.hpp"

#include "pool/all.hpp"

namespace pool_test {

/// Whether the tests run on libpool's io scheduler (POOL_TEST_SCHEDULER=io,
/// set by CTest for the `*.io.*` copies of the live suites) instead of CAF's
/// default scheduler with the pool's poller thread.
inline bool io_scheduler_wanted() {
  const char* v = std::getenv("POOL_TEST_SCHEDULER");
  return v != nullptr && std::string{v} == "io";
}

/// The actor system's configuration: the pool's types, two scheduler
/// threads (this box has two cores, shared with the server) and, if
/// `io_scheduler_wanted()`, the io scheduler with a long park timeout, so
/// that a lost wake-up shows as a stall that fails a deadline instead of
/// hiding as a little latency.
struct live_config : caf::actor_system_config {
  live_config() {
    pool::add_message_types(*this);
    set("scheduler.max-threads", 2);
    if (io_scheduler_wanted()) {
      pool::io_scheduler_options opts;
      opts.park_timeout = std::chrono::seconds(1);
      pool::use_io_scheduler(*this, opts);
    }
  }
};

/// Sends a request from `self` and waits at most `t` for the reply of type
/// `T` (or the error).
template <class T, class Handle, class... Ts>
caf::expected<T> call(caf::scoped_actor& self, const Handle& h, caf::timespan t,
                      Ts&&... xs) {
  caf::expected<T> result{caf::error{caf::sec::bad_function_call}};
  self->request(h, t, std::forward<Ts>(xs)...)
    .receive([&](T x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Polls the stats of `p` (each request waits at most `t`) every 20 ms until
/// `pred` holds or `limit` passed; returns the last snapshot and whether
/// `pred` held.
inline std::pair<pool::pool_stats, bool>
wait_for_stats(caf::scoped_actor& self, const pool::pool_actor& p,
               caf::timespan t,
               const std::function<bool(const pool::pool_stats&)>& pred,
               std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  pool::pool_stats last;
  for (;;) {
    auto st = call<pool::pool_stats>(self, p, t, pool::stats_atom_v);
    if (st) {
      last = *st;
      if (pred(last))
        return {last, true};
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return {last, false};
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// Renders an expected's error (or "ok") for test messages.
template <class T>
std::string describe(const caf::expected<T>& x) {
  return x ? std::string{"ok"} : pool::describe(x.error());
}

} // namespace pool_test
