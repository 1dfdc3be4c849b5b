// Operating a running pool on the real server: resize, pause/resume and
// reset under a load of several client actors (the chaos tests' load
// generator: each client has one request in flight and counts every answer,
// so a second answer or a missing one shows), and reset giving new backends.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE ops
#include "caf/test/unit_test.hpp"

#include <set>
#include <thread>

#include "../chaos/load.hpp"
#include "fixture.hpp"

using namespace it;

namespace {

chaos::load_options load_opts() {
  chaos::load_options lo;
  lo.clients = 8;
  return lo;
}

// Every request answered exactly once, by its deadline, and correctly; no
// errors at all (nothing here may fail a request).
void check_exactly_once(const chaos::load_report& rep) {
  CAF_MESSAGE(rep.summary());
  CAF_CHECK_GREATER(rep.sent, 0u);
  CAF_CHECK_EQUAL(rep.answered, rep.sent);
  CAF_CHECK_EQUAL(rep.duplicates, 0u);
  CAF_CHECK_EQUAL(rep.wrong_values, 0u);
  CAF_CHECK_EQUAL(rep.count(chaos::no_answer_kind), 0u);
  CAF_CHECK_EQUAL(rep.errors(), 0u);
  for (auto& kvp : rep.example)
    CAF_MESSAGE("example " << kvp.first << ": " << kvp.second);
}

// The backend pids of every connection of a pool of `n`: leases all of them
// at once and asks each.
std::set<std::string> backend_pids(fixture& f, const pool::pool_actor& p,
                                   size_t n) {
  std::vector<pool::lease> ls;
  std::set<std::string> pids;
  for (size_t i = 0; i < n; ++i) {
    auto l = f.acquire(p);
    IT_REQUIRE_OK(l);
    ls.push_back(*l);
    pids.insert(f.scalar(*l, "SELECT pg_backend_pid()"));
  }
  for (auto& l : ls)
    IT_REQUIRE_OK(f.release(p, l.id));
  CAF_CHECK_EQUAL(pids.size(), n);
  return pids;
}

// No load shedding: on a busy box, waits while connections are replaced
// or held by a pause may pass queue_target, and the load is then shed; here
// every request waits and must succeed.
pool::pool_config ops_config(fixture& f, size_t min_size, size_t max_size) {
  auto pc = f.make_config(min_size, max_size);
  pc.queue_target = caf::timespan{0};
  return pc;
}

// Waits until the pool opened its min_size connections (2 here): on a busy
// box connecting may take longer than the load's acquire wait.
void wait_until_ready(fixture& f, const pool::pool_actor& p) {
  CAF_REQUIRE(
    f.wait_for_stats(
       p, [](const pool::pool_stats& s) { return s.idle >= 2; }, 20000ms)
      .second);
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(ops_tests, fixture)

CAF_TEST(resize under load) {
  auto p = spawn(ops_config(*this, 2, 4));
  wait_until_ready(*this, p);
  chaos::load_generator load{sys, p, load_opts()};
  load.start();
  CAF_CHECK(load.wait_for_ok(50, 10000ms));
  IT_REQUIRE_OK(call<caf::ok_atom>(p, timeout, pool::resize_atom_v, uint64_t{1},
                                   uint64_t{2}));
  CAF_CHECK(
    wait_for_stats(
      p, [](const pool::pool_stats& st) { return st.total <= 2; }, 10000ms)
      .second);
  CAF_CHECK(load.wait_for_ok(50, 10000ms));
  IT_REQUIRE_OK(call<caf::ok_atom>(p, timeout, pool::resize_atom_v, uint64_t{5},
                                   uint64_t{8}));
  CAF_CHECK(
    wait_for_stats(
      p, [](const pool::pool_stats& st) { return st.total >= 5; }, 10000ms)
      .second);
  CAF_CHECK(load.wait_for_ok(50, 10000ms));
  CAF_CHECK(load.stop(15000ms));
  check_exactly_once(load.report());
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_LESS_OR_EQUAL(st->total, 8u);
  CAF_CHECK_EQUAL(st->leased, 0u);
}

CAF_TEST(pause and resume under load) {
  auto p = spawn(ops_config(*this, 2, 4));
  wait_until_ready(*this, p);
  chaos::load_generator load{sys, p, load_opts()};
  load.start();
  CAF_CHECK(load.wait_for_ok(50, 10000ms));
  for (int round = 0; round < 3; ++round) {
    IT_REQUIRE_OK(call<caf::ok_atom>(p, caf::timespan{20s}, pool::pause_atom_v,
                                     caf::timespan{10s}));
    auto st = stats(p);
    IT_REQUIRE_OK(st);
    CAF_CHECK(st->paused);
    CAF_CHECK_EQUAL(st->leased, 0u);
    CAF_CHECK_EQUAL(st->busy, 0u);
    // Paused and drained: nothing can succeed until resume.
    auto before = load.ok_count();
    std::this_thread::sleep_for(300ms);
    CAF_CHECK_EQUAL(load.ok_count(), before);
    IT_REQUIRE_OK(call<caf::ok_atom>(p, timeout, pool::resume_atom_v));
    CAF_CHECK(load.wait_for_ok(50, 10000ms));
  }
  // A resume racing a pause that drains: the pool never stays stuck.
  for (int round = 0; round < 20; ++round) {
    caf::anon_send(p, pool::pause_atom_v, caf::timespan{10s});
    caf::anon_send(p, pool::resume_atom_v);
  }
  CAF_CHECK(load.wait_for_ok(50, 10000ms));
  CAF_CHECK(load.stop(15000ms));
  check_exactly_once(load.report());
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK(!st->paused);
}

CAF_TEST(reset gives new backends while queries keep succeeding) {
  auto p = spawn(ops_config(*this, 2, 2));
  auto old_pids = backend_pids(*this, p, 2);
  IT_REQUIRE_OK(call<caf::ok_atom>(p, timeout, pool::reset_atom_v));
  CAF_CHECK(wait_for_stats(
              p,
              [](const pool::pool_stats& s) {
                return s.connections_reset == 2 && s.idle == 2;
              },
              10000ms)
              .second);
  auto new_pids = backend_pids(*this, p, 2);
  for (auto& pid : new_pids)
    CAF_CHECK_EQUAL(old_pids.count(pid), 0u);
  // Under load: every request still succeeds, each answered once.
  wait_until_ready(*this, p);
  chaos::load_generator load{sys, p, load_opts()};
  load.start();
  CAF_CHECK(load.wait_for_ok(50, 10000ms));
  for (int round = 0; round < 3; ++round) {
    IT_REQUIRE_OK(call<caf::ok_atom>(p, timeout, pool::reset_atom_v));
    CAF_CHECK(load.wait_for_ok(50, 10000ms));
  }
  CAF_CHECK(load.stop(15000ms));
  check_exactly_once(load.report());
  CAF_CHECK(wait_for_stats(
              p,
              [](const pool::pool_stats& s) {
                // The first reset under load replaced both connections
                // (no connect was under way then); later ones may find a
                // replacement still connecting, which they do not count.
                return s.connections_reset >= 2 + 2 && s.total == 2 &&
                       s.idle == 2;
              },
              10000ms)
              .second);
  auto last_pids = backend_pids(*this, p, 2);
  for (auto& pid : last_pids)
    CAF_CHECK_EQUAL(new_pids.count(pid), 0u);
}

CAF_TEST(reconfigure on a live pool) {
  auto p = spawn(1, 2);
  pool::pool_settings x;
  x.max_size = 3;
  x.min_size = 3;
  x.acquire_timeout = caf::timespan{3s};
  IT_REQUIRE_OK(call<caf::ok_atom>(p, timeout, pool::reconfigure_atom_v, x));
  CAF_CHECK(wait_for_stats(
              p, [](const pool::pool_stats& s) { return s.idle == 3; }, 10000ms)
              .second);
  pool::pool_settings bad;
  bad.query_timeout = caf::timespan{-1};
  auto res = call<caf::ok_atom>(p, timeout, pool::reconfigure_atom_v, bad);
  IT_CHECK_ERRC(res, pool::pool_errc::invalid_request);
  CAF_CHECK_EQUAL(scalar(p, "SELECT 1"), "1");
}

CAF_TEST_FIXTURE_SCOPE_END()
