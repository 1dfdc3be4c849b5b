// Scenario 1: the pool's backends are killed on the server
// (pg_terminate_backend) every 200 ms for 10 s under load.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE chaos_terminate
#include "caf/test/unit_test.hpp"

#include <thread>

#include "fixture.hpp"
#include "invariants.hpp"
#include "load.hpp"

using namespace chaos;

CAF_TEST_FIXTURE_SCOPE(chaos_terminate_tests, fixture)

/// Proves: with every pool backend terminated 5 times a second under a load
/// of pooled queries, leases (acquire, query, release) and transactions,
/// every request is answered exactly once by its deadline; only work in
/// flight fails (connection_lost, at most one per terminated backend; a
/// lease whose connection was lost answers invalid_lease to its release, or
/// its worker is gone), the pool keeps serving meanwhile, and afterwards it
/// is back in [min, max], every connection a live backend, no lease left.
CAF_TEST(backends terminated repeatedly under load) {
  loaded_pool lp{*this, make_config(pg.pool_conninfo())};
  auto fault_start = clock_type::now();
  int terminated = 0, rounds = 0, failed_rounds = 0;
  while (clock_type::now() < fault_start + 10s) {
    auto n = pg.terminate_pool_backends();
    ++rounds;
    if (n < 0) {
      ++failed_rounds;
      CAF_MESSAGE("terminate round failed: " << pg.last_error());
    } else {
      terminated += n;
    }
    std::this_thread::sleep_for(200ms);
  }
  auto fault_end = clock_type::now();
  CAF_MESSAGE("terminated " << terminated << " backends in " << rounds
                            << " rounds over " << ms_since(fault_start)
                            << " ms (" << failed_rounds
                            << " rounds failed to run)");
  CAF_CHECK_EQUAL(failed_rounds, 0);
  CAF_CHECK_GREATER_OR_EQUAL(terminated, rounds); // it hit the pool
  check_size_in_range(*this, lp.p, lp.pc.min_size, lp.pc.max_size, 10000ms,
                      fault_end);
  CAF_CHECK(lp.load.wait_for_ok(100, 5000ms)); // serving after the fault
  auto rep = lp.stop_load();
  CAF_MESSAGE("fault from +" << rep.at(fault_start) << " ms to +"
                             << rep.at(fault_end)
                             << " ms (from the load's start)");
  check_answers("terminate", rep,
                {"connection_lost", "invalid_lease", receiver_down_kind});
  // In-flight work only: a terminated backend can fail at most the one
  // request running on it. With pipelining several are in flight, but the
  // server's FATAL names the statement it stopped on; those behind it never
  // started and are run on another connection instead of failing.
  CAF_MESSAGE("connection_lost " << rep.count("connection_lost") << " <= "
                                 << terminated << " terminated backends");
  CAF_CHECK_LESS_OR_EQUAL(rep.count("connection_lost"),
                          static_cast<uint64_t>(terminated));
  // The pool kept serving during the fault.
  auto during = rep.sent_between(fault_start, fault_end);
  size_t ok_during = 0;
  for (auto& r : during)
    if (r.kind == ok_kind)
      ++ok_during;
  CAF_MESSAGE("during the fault: " << ok_during << " of " << during.size()
                                   << " requests succeeded");
  CAF_CHECK_GREATER_OR_EQUAL(ok_during * 2, during.size());
  lp.check_final(*this);
}

CAF_TEST_FIXTURE_SCOPE_END()
