// Scenario 2: PostgreSQL restarts (fast mode) twice under load.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE chaos_restart
#include "caf/test/unit_test.hpp"

#include <thread>

#include "fixture.hpp"
#include "invariants.hpp"
#include "load.hpp"

using namespace chaos;

namespace {

/// What one restart looked like.
struct restart_times {
  time_point begin;     // pg_ctl restart called
  time_point back;      // pg_ctl restart returned: the server accepts
  time_point full;      // the pool at its size before, all new connections
  long long to_full_ms; // back -> full, -1 if not within the bound
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(chaos_restart_tests, fixture)

/// Proves: under pooled queries, leases (acquire, query, release) and
/// transactions, a fast restart fails only the work in flight around it (no
/// errors once the pool is refilled; every request answered exactly once by
/// its deadline), and the pool returns to the size it had before, with
/// fresh connections, without anyone touching it. Prints,
/// per restart, the time from the server being back to the pool at full
/// size.
CAF_TEST(server restarted twice under load) {
  loaded_pool lp{*this, make_config(pg.pool_conninfo())};
  constexpr ms full_bound = 10000ms;
  std::vector<restart_times> restarts;
  for (int k = 1; k <= 2; ++k) {
    std::this_thread::sleep_for(1500ms); // steady state under load
    auto before = stats(lp.p);
    if (!before) {
      CAF_ERROR("stats before restart " << k << ": "
                                        << pool::describe(before.error()));
      break;
    }
    auto size_before = before->total - before->connecting;
    auto created_before = before->connections_created;
    CAF_MESSAGE("restart " << k << ": before: " << describe(*before));
    restart_times t;
    t.begin = clock_type::now();
    auto restarted = pg.restart_fast();
    t.back = clock_type::now();
    CAF_CHECK(restarted);
    if (!restarted) {
      CAF_ERROR("pg_ctl restart failed");
      break;
    }
    // Full size = as many open connections as before, every one of them
    // opened after the restart (so a pool that has not noticed its dead
    // connections yet does not count as full).
    auto res = wait_for_stats(
      lp.p,
      [&](const pool::pool_stats& st) {
        return st.total - st.connecting >= size_before &&
               st.connections_created - created_before >= size_before;
      },
      full_bound);
    t.full = clock_type::now();
    t.to_full_ms =
      res.second ? std::chrono::duration_cast<ms>(t.full - t.back).count() : -1;
    CAF_MESSAGE(
      "restart " << k << ": pg_ctl restart took "
                 << std::chrono::duration_cast<ms>(t.back - t.begin).count()
                 << " ms; pool back at full size (" << size_before << ") "
                 << (res.second ? std::to_string(t.to_full_ms) + " ms"
                                : std::string{"NOT within 10000 ms"})
                 << " after the server was back: " << describe(res.first));
    CAF_CHECK(res.second);
    restarts.push_back(t);
  }
  std::this_thread::sleep_for(1000ms);
  CAF_CHECK(lp.load.wait_for_ok(100, 5000ms));
  auto rep = lp.stop_load();
  check_answers("restart", rep,
                {"connection_lost", "connect_failed", "circuit_open",
                 "invalid_lease", receiver_down_kind});
  // Errors only around each restart: none for requests sent once the pool
  // was back at full size (plus 500 ms for answers already under way).
  for (size_t i = 0; i < restarts.size(); ++i) {
    auto& t = restarts[i];
    auto around = rep.sent_between(t.begin - 1s, t.full);
    std::map<std::string, size_t> kinds;
    for (auto& r : around)
      if (r.kind != ok_kind)
        ++kinds[r.kind];
    std::string text;
    for (auto& kv : kinds)
      text += " " + kv.first + "=" + std::to_string(kv.second);
    CAF_MESSAGE("restart " << i + 1 << ": at +" << rep.at(t.begin)
                           << " ms, server back at +" << rep.at(t.back)
                           << " ms, pool full at +" << rep.at(t.full)
                           << " ms (from the load's start)");
    CAF_MESSAGE("restart " << i + 1 << ": errors around it:"
                           << (text.empty() ? std::string{" none"} : text));
    // Until 1 s before the next restart (its in-flight work is its own).
    auto until =
      i + 1 < restarts.size() ? restarts[i + 1].begin - 1s : clock_type::now();
    size_t late_errors = 0;
    for (auto& r : rep.sent_between(t.full + 500ms, until))
      if (r.kind != ok_kind)
        ++late_errors;
    CAF_MESSAGE("restart " << i + 1 << ": errors once the pool was full: "
                           << late_errors);
    CAF_CHECK_EQUAL(late_errors, 0u);
  }
  lp.check_final(*this);
}

CAF_TEST_FIXTURE_SCOPE_END()
