// The chaos load's own checks can fail: against a fake pool (no server) that
// answers some requests twice, or never, the load counts duplicates and
// missing answers. Without this, "every request answered exactly once" in the
// scenarios could be a counter that never moves.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE chaos_load_selftest
#include "caf/test/unit_test.hpp"

#include <atomic>
#include <memory>
#include <thread>

#include "caf/all.hpp"

#include "pool/all.hpp"

#include "lease_stub.hpp"
#include "live_support.hpp"
#include "load.hpp"

using namespace chaos;
using namespace std::chrono_literals;

namespace {

/// How the fake pool misbehaves.
struct fake_mode {
  /// Answer pooled queries, transactions, acquires and releases twice.
  bool twice = false;
  /// Never answer transactions.
  bool drop_transactions = false;
};

/// A result of one column and one row: the first parameter plus `add`.
pool::query_result echo(const pool::statement& st, int add = 0) {
  pool::query_result r;
  r.columns.push_back(pool::column{"x", 23});
  auto v = std::stol(st.params.at(0).text()) + add;
  r.cells.emplace_back(std::to_string(v));
  return r;
}

pool::lease_actor::behavior_type fake_worker() {
  return pool::testing::lease_stub(
    [](pool::query_atom, uint64_t, pool::statement& st) { return echo(st); });
}

/// Delivers `x` through `rp` and, if `twice`, through a copy of it as well
/// (each copy of a promise delivers once).
template <class T, class Promise>
Promise answer(Promise rp, bool twice, T x) {
  if (twice) {
    auto copy = rp;
    copy.deliver(x);
  }
  rp.deliver(std::move(x));
  return rp;
}

caf::error no() {
  return pool::make_error(pool::pool_errc::invalid_request, "fake pool");
}

pool::pool_actor::behavior_type fake_pool(pool::pool_actor::pointer self,
                                          std::shared_ptr<fake_mode> mode) {
  auto next_id = std::make_shared<uint64_t>(0);
  auto worker = self->spawn<caf::linked>(fake_worker);
  return {
    [=](pool::query_atom, pool::statement& st) {
      return answer(self->make_response_promise<pool::query_result>(),
                    mode->twice, echo(st));
    },
    [=](pool::acquire_atom, caf::timespan) {
      return answer(self->make_response_promise<pool::lease>(), mode->twice,
                    pool::lease{++*next_id, worker});
    },
    [=](pool::release_atom, uint64_t) {
      return answer(self->make_response_promise<caf::ok_atom>(), mode->twice,
                    caf::ok_atom::value);
    },
    [=](pool::transaction_atom, std::vector<pool::statement>& sts) {
      auto rp = self->make_response_promise<std::vector<pool::query_result>>();
      if (mode->drop_transactions)
        return rp; // never delivered
      return answer(
        rp, mode->twice,
        std::vector<pool::query_result>{echo(sts.at(0)), echo(sts.at(1), 1)});
    },
    [](pool::stats_atom) { return pool::pool_stats{}; },
    [](pool::subscribe_atom) { return caf::ok_atom::value; },
    [=](pool::shutdown_atom, caf::timespan) {
      self->quit();
      return caf::ok_atom::value;
    },
    // Not used by the load generator.
    [](pool::query_atom, pool::priority,
       pool::statement&) -> caf::result<pool::query_result> { return no(); },
    [](pool::acquire_atom, caf::timespan,
       pool::priority) -> caf::result<pool::lease> { return no(); },
    [](pool::transaction_atom, pool::priority, std::vector<pool::statement>&)
      -> caf::result<std::vector<pool::query_result>> { return no(); },
    [](pool::resize_atom, uint64_t, uint64_t) -> caf::result<caf::ok_atom> {
      return no();
    },
    [](pool::pause_atom, caf::timespan) -> caf::result<caf::ok_atom> {
      return no();
    },
    [](pool::resume_atom) -> caf::result<caf::ok_atom> { return no(); },
    [](pool::limit_atom, uint64_t) -> caf::result<caf::ok_atom> {
      return no();
    },
    [](pool::reset_atom) -> caf::result<caf::ok_atom> { return no(); },
    [](pool::reconfigure_atom,
       pool::pool_settings&) -> caf::result<caf::ok_atom> { return no(); },
    [](pool::listen_atom, std::string&) -> caf::result<caf::ok_atom> {
      return no();
    },
    [](pool::unlisten_atom, std::string&) -> caf::result<caf::ok_atom> {
      return no();
    },
    [](pool::stream_atom, pool::statement&, caf::actor&,
       uint32_t) -> caf::result<pool::stream_end> { return no(); },
  };
}

load_report run(caf::actor_system& sys, fake_mode mode) {
  auto m = std::make_shared<fake_mode>(mode);
  auto p = sys.spawn(fake_pool, m);
  load_options lo;
  lo.clients = 6;
  // Far above the fake pool's answer time even in a sanitizer build on a
  // busy box (300 ms missed twice under ASan: a late answer then counts as
  // a duplicate); `stop` waits for the deadline of a dropped transaction.
  lo.request_timeout = caf::timespan{2s};
  lo.grace = caf::timespan{500ms};
  load_generator load{sys, p, lo};
  load.start();
  std::this_thread::sleep_for(500ms);
  CAF_CHECK(load.stop(5000ms));
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  auto rep = load.report();
  CAF_MESSAGE(rep.summary());
  return rep;
}

} // namespace

CAF_TEST(an honest pool gives no duplicates and no missing answers) {
  pool_test::live_config cfg;
  caf::actor_system sys{cfg};
  auto rep = run(sys, fake_mode{});
  CAF_CHECK_GREATER(rep.sent, 0u);
  CAF_CHECK_EQUAL(rep.sent, rep.answered);
  CAF_CHECK_EQUAL(rep.duplicates, 0u);
  CAF_CHECK_EQUAL(rep.wrong_values, 0u);
  CAF_CHECK_EQUAL(rep.count(no_answer_kind), 0u);
  for (auto op :
       {op_query, op_acquire, op_lease_query, op_release, op_transaction})
    CAF_CHECK_GREATER(rep.count(op, ok_kind), 0u);
}

CAF_TEST(a pool answering twice is caught) {
  pool_test::live_config cfg;
  caf::actor_system sys{cfg};
  auto rep = run(sys, fake_mode{true, false});
  // Every answer of the pool (not of the lease worker) came twice.
  auto pool_answers = rep.answered - rep.count(op_lease_query, ok_kind);
  CAF_CHECK_GREATER(rep.duplicates, 0u);
  CAF_CHECK_EQUAL(rep.duplicates, pool_answers);
  CAF_CHECK_EQUAL(rep.wrong_values, 0u);
}

CAF_TEST(a pool that never answers is caught) {
  pool_test::live_config cfg;
  caf::actor_system sys{cfg};
  auto rep = run(sys, fake_mode{false, true});
  CAF_CHECK_GREATER(rep.count(op_transaction, no_answer_kind), 0u);
  CAF_CHECK_EQUAL(rep.count(op_transaction, ok_kind), 0u);
  CAF_CHECK_EQUAL(rep.duplicates, 0u);
}
