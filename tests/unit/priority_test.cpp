// Priority classes: higher classes first, aging, per-class statistics.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE priority
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct priority_fixture : fixture {
  outcome_ptr<lease> acquire(const pool_actor& pool, priority prio,
                             caf::timespan wait = 60s) {
    auto l = ask<lease>(pool, acquire_atom::value, wait, prio);
    sched.run();
    return l;
  }

  void release(const pool_actor& pool, const lease& l) {
    auto r = ask<caf::ok_atom>(pool, release_atom::value, l.id);
    sched.run();
    CAF_CHECK(r->ok());
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(priority_tests, priority_fixture)

// Waiters of a higher class are served first, whatever their arrival order;
// within a class, FIFO.
CAF_TEST(higher classes are served first) {
  auto cfg = make_config(1, 1);
  cfg.priority_aging = caf::timespan{0}; // strict
  auto pool = start(cfg);
  auto holder = acquire(pool, priority::normal);
  CAF_REQUIRE(holder->ok());
  auto b1 = acquire(pool, priority::batch);
  auto n1 = acquire(pool, priority::normal);
  auto i1 = acquire(pool, priority::interactive);
  auto b2 = acquire(pool, priority::batch);
  auto i2 = acquire(pool, priority::interactive);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.by_priority[0].waiting, 2u);
  CAF_CHECK_EQUAL(st.by_priority[1].waiting, 1u);
  CAF_CHECK_EQUAL(st.by_priority[2].waiting, 2u);
  std::vector<outcome_ptr<lease>> expected{i1, i2, n1, b1, b2};
  auto current = holder;
  for (size_t k = 0; k < expected.size(); ++k) {
    for (size_t j = k; j < expected.size(); ++j)
      CAF_CHECK_EQUAL(expected[j]->answers, 0);
    release(pool, *current->value);
    CAF_REQUIRE(expected[k]->ok());
    current = expected[k];
  }
  st = stats(pool);
  CAF_CHECK_EQUAL(st.by_priority[0].acquired, 2u);
  CAF_CHECK_EQUAL(st.by_priority[1].acquired, 2u); // the holder, n1
  CAF_CHECK_EQUAL(st.by_priority[2].acquired, 2u);
  CAF_CHECK_EQUAL(st.by_priority[0].waiting + st.by_priority[1].waiting +
                    st.by_priority[2].waiting,
                  0u);
}

// A batch waiter is served within 2 x priority_aging although interactive
// requests keep arriving and a connection frees every 100 ms.
CAF_TEST(aging serves a low class within the bound) {
  auto cfg = make_config(1, 1);
  cfg.priority_aging = 1s;
  cfg.queue_target = caf::timespan{0}; // no load shedding: every one waits
  auto pool = start(cfg);
  auto current = acquire(pool, priority::interactive);
  CAF_REQUIRE(current->ok());
  auto t0 = now();
  auto batch = acquire(pool, priority::batch);
  std::vector<outcome_ptr<lease>> queue;
  caf::timespan served_at{0};
  for (int step = 0; step < 50 && served_at.count() == 0; ++step) {
    queue.push_back(acquire(pool, priority::interactive));
    advance_time(100ms);
    sched.run();
    release(pool, *current->value);
    if (batch->answers > 0) {
      served_at = now() - t0;
      current = batch;
      break;
    }
    // The oldest interactive waiter got it.
    auto next = std::find_if(queue.begin(), queue.end(),
                             [](auto& o) { return o->answers > 0; });
    CAF_REQUIRE(next != queue.end());
    current = *next;
    queue.erase(next);
  }
  CAF_REQUIRE(batch->ok());
  // Not before it aged to the top class, and right after.
  CAF_CHECK_GREATER_OR_EQUAL(served_at, caf::timespan{2s});
  CAF_CHECK_LESS_OR_EQUAL(served_at, caf::timespan{2100ms});
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.by_priority[2].acquired, 1u);
  // The interactive stream kept waiting behind it, none refused.
  CAF_CHECK_EQUAL(st.shed + st.rejected + st.acquire_timeouts, 0u);
  CAF_CHECK_EQUAL(st.by_priority[0].waiting, queue.size());
  CAF_CHECK_GREATER_OR_EQUAL(queue.size(), 1u);
}

// Per-class timeouts and wait time, and the plain forms count as normal.
CAF_TEST(per class statistics) {
  auto pool = start(make_config(1, 1));
  auto holder = acquire(pool, priority::interactive);
  CAF_REQUIRE(holder->ok());
  auto b = acquire(pool, priority::batch, 1s);
  auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  sched.run();
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.by_priority[2].waiting, 1u);
  CAF_CHECK_EQUAL(st.by_priority[1].waiting, 1u);
  advance_exact(1s);
  CAF_CHECK(b->failed_with(pool_errc::acquire_timeout));
  release(pool, *holder->value);
  CAF_CHECK(q->ok());
  st = stats(pool);
  CAF_CHECK_EQUAL(st.by_priority[2].acquire_timeouts, 1u);
  CAF_CHECK_EQUAL(st.by_priority[1].acquired, 1u);
  CAF_CHECK_EQUAL(st.by_priority[1].wait_time_total, caf::timespan{1s});
  CAF_CHECK_EQUAL(st.by_priority[0].acquired, 1u);
  auto text = to_string(st);
  CAF_CHECK_NOT_EQUAL(text.find("batch.acquire_timeouts=1"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(text.find("normal.wait_time_total=1000.000ms"),
                      std::string::npos);
}

CAF_TEST(priority forms of query and transaction) {
  auto pool = start(make_config(1, 1));
  auto q = ask<query_result>(pool, query_atom::value, priority::batch,
                             statement{"SELECT 1"});
  auto t = ask<std::vector<query_result>>(
    pool, transaction_atom::value, priority::interactive,
    std::vector<statement>{statement{"SELECT 2"}});
  auto bad = ask<query_result>(pool, query_atom::value,
                               static_cast<priority>(7), statement{"SELECT 3"});
  sched.run();
  CAF_CHECK(q->ok());
  CAF_CHECK(t->ok());
  CAF_REQUIRE(bad->failed_with(pool_errc::invalid_request));
  CAF_CHECK_NOT_EQUAL(error_message(bad->err).find("priority class 7"),
                      std::string::npos);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.by_priority[2].acquired, 1u);
  CAF_CHECK_EQUAL(st.by_priority[0].acquired, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
