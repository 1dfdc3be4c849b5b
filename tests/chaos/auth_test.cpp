// Scenario 5: a pool configured with a wrong password (role pool_auth, which
// scripts/lib.sh pg_start makes require scram-sha-256 over TCP).

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE chaos_auth
#include "caf/test/unit_test.hpp"

#include <sstream>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "breaker_watch.hpp"
#include "fixture.hpp"
#include "invariants.hpp"
#include "load.hpp"

using namespace chaos;

namespace {

/// The wrong password: distinctive, so that finding it in a message means
/// it leaked (a plain "wrong" would also match unrelated text).
constexpr const char* wrong_password = "Chaos_Wr0ng_Pw_q7Zx";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(chaos_auth_tests, fixture)

/// Proves: with a wrong password, requests fail fast with auth_failed (or
/// circuit_open carrying the auth error once the breaker opened) long
/// before their deadline; the pool does not retry in a tight loop; and the
/// password appears in no error, stats field, breaker event or log line.
CAF_TEST(wrong password) {
  // The setup: pool_auth logs in with its password, and a wrong one is
  // rejected by the server (not trust).
  auto good = pg_control::try_connect(
    pg.tcp_conninfo(pg.env().port, "user=pool_auth password=pool_auth_pw"));
  if (!good.empty())
    CAF_FAIL("role pool_auth cannot log in with its password ("
             << good
             << "): scripts/lib.sh pg_start must create it and require "
                "scram-sha-256 for it over TCP");
  auto conninfo = pg.tcp_conninfo(
    pg.env().port, std::string{"user=pool_auth password="} + wrong_password);
  auto bad = pg_control::try_connect(conninfo);
  CAF_MESSAGE("libpq with the wrong password: " << bad);
  if (!contains(bad, "password authentication failed"))
    CAF_FAIL("the server does not reject the wrong password: '" << bad << "'");
  // The pool, with its log captured.
  std::ostringstream log_text;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text);
  auto logger = std::make_shared<spdlog::logger>("chaos-auth", sink);
  logger->set_level(spdlog::level::debug);
  auto pc = make_config(conninfo);
  pc.logger = logger;
  // Deadlines far from the 3 s within which answers must come.
  pc.acquire_timeout = caf::timespan{5s};
  auto p = spawn(pc);
  breaker_watch watch{sys, p};
  auto sub = watch.wait_subscribed(5000ms);
  if (!sub.empty())
    CAF_ERROR("subscribe_atom: " << sub);
  load_options lo;
  lo.clients = 8;
  lo.pause = caf::timespan{20ms};
  lo.request_timeout = caf::timespan{10s};
  load_generator load{sys, p, lo};
  auto t0 = clock_type::now();
  load.start();
  std::this_thread::sleep_for(1000ms);
  auto st1 = stats(p);
  std::this_thread::sleep_for(3000ms);
  auto st = stats(p);
  auto window = ms_since(t0);
  CAF_CHECK(load.stop(12000ms));
  auto rep = load.report();
  check_answers("auth", rep, {"auth_failed", "circuit_open"}, false);
  CAF_CHECK_EQUAL(rep.count(ok_kind), 0u);
  CAF_CHECK_GREATER(rep.count("auth_failed") + rep.count("circuit_open"), 0u);
  // Quickly: every answer within 3 s, far below the 5 s acquire_timeout
  // and the 10 s request timeout.
  long long worst = 0;
  size_t circuit_without_auth = 0;
  for (auto& r : rep.records) {
    worst = std::max<long long>(worst, r.latency().count());
    if (r.kind == "circuit_open" && !contains(r.message, "auth"))
      ++circuit_without_auth;
  }
  CAF_MESSAGE("slowest answer " << worst << " ms; median "
                                << median_latency(rep.records) << " ms");
  CAF_CHECK_LESS(worst, 3000);
  CAF_CHECK_EQUAL(circuit_without_auth, 0u);
  // No tight retry loop. Expected: one first wave of at most max_size
  // connects in parallel (the load asks for all 8 before the breaker
  // opens), then at most one probe per breaker_cooldown (1 s). Over the
  // 4 s window that is at most max_size + 4 = 12, and from 1 s to 4 s at
  // most 3 probes + 1 in flight = 4; a loop without backoff would make
  // hundreds.
  if (st && st1) {
    CAF_MESSAGE("after 1 s: " << describe(*st1));
    CAF_MESSAGE("after " << window << " ms: " << describe(*st));
    auto later = st->connect_failures - st1->connect_failures;
    CAF_MESSAGE("connect failures: " << st->connect_failures << " in " << window
                                     << " ms, " << later
                                     << " of them after the first second");
    CAF_CHECK_LESS_OR_EQUAL(st->connect_failures, pc.max_size + 4);
    CAF_CHECK_LESS_OR_EQUAL(later, 4u);
    CAF_CHECK_GREATER_OR_EQUAL(st->connect_failures, 1u);
    CAF_CHECK(contains(st->last_connect_error, "auth"));
  } else {
    CAF_ERROR("stats: " << describe(st1) << " / " << describe(st));
  }
  CAF_MESSAGE("breaker events: " << watch.summary(t0));
  // The password leaks nowhere.
  size_t leaks = 0;
  auto scan = [&](const std::string& where, const std::string& text) {
    if (contains(text, wrong_password)) {
      ++leaks;
      CAF_ERROR("the password appears in " << where << ": " << text);
    }
  };
  for (auto& r : rep.records)
    scan("an error message", r.message);
  auto fin = stats(p);
  if (!fin)
    CAF_FAIL("final stats: " << pool::describe(fin.error()));
  scan("stats.last_connect_error", fin->last_connect_error);
  scan("stats", caf::deep_to_string(*fin) + " " + describe(*fin));
  for (auto& e : watch.events())
    scan("a breaker event", e.event.reason);
  check_no_leases(*this, p, 5000ms);
  // Pool size and idle pings are not checked here: no connection can open.
  shutdown(p);
  logger->flush();
  auto log = log_text.str();
  scan("the pool's log", log);
  CAF_MESSAGE("pool log: " << std::count(log.begin(), log.end(), '\n')
                           << " lines, first: "
                           << log.substr(0, log.find('\n')));
  CAF_CHECK_EQUAL(leaks, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
