// The io scheduler's job queue on its own: order, growth, and every job
// taken exactly once while threads append and others take from both ends.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE job_queue
#include "caf/test/unit_test.hpp"

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "job_queue.hpp"

namespace {

// Jobs are never run here: the queue only stores the pointers, so fake ones
// (distinct addresses) are enough.
caf::resumable* job(uintptr_t i) {
  return reinterpret_cast<caf::resumable*>((i + 1) * 16);
}

uintptr_t index_of(caf::resumable* j) {
  return reinterpret_cast<uintptr_t>(j) / 16 - 1;
}

} // namespace

CAF_TEST(an empty queue gives nothing from either end) {
  pool::job_queue q;
  CAF_CHECK(q.empty());
  CAF_CHECK(q.take_head() == nullptr);
  CAF_CHECK(q.take_tail() == nullptr);
}

// 1,000 jobs outgrow the initial ring (256) twice, with the head moved
// first so that growing has to unwrap it.
CAF_TEST(jobs come out first in first out and survive growth) {
  pool::job_queue q;
  for (uintptr_t i = 0; i < 100; ++i)
    q.append(job(i));
  for (uintptr_t i = 0; i < 100; ++i)
    CAF_REQUIRE_EQUAL(index_of(q.take_head()), i);
  CAF_CHECK(q.empty());
  for (uintptr_t i = 0; i < 1000; ++i)
    q.append(job(i));
  CAF_CHECK(!q.empty());
  CAF_CHECK_EQUAL(index_of(q.take_tail()), 999u);
  for (uintptr_t i = 0; i < 999; ++i)
    CAF_REQUIRE_EQUAL(index_of(q.take_head()), i);
  CAF_CHECK(q.empty());
  CAF_CHECK(q.take_head() == nullptr);
}

// Three threads append 20,000 jobs each while the owner takes from the
// head and a thief from the tail: every job comes out exactly once.
CAF_TEST(concurrent appends and takes lose and duplicate nothing) {
  constexpr uintptr_t per_thread = 20000;
  constexpr uintptr_t producers = 3;
  constexpr uintptr_t total = per_thread * producers;
  pool::job_queue q;
  std::vector<std::atomic<int>> seen(total);
  std::atomic<uintptr_t> taken{0};
  auto take = [&](bool head) {
    while (taken.load() < total) {
      auto j = head ? q.take_head() : q.take_tail();
      if (j == nullptr)
        continue;
      seen[index_of(j)].fetch_add(1);
      taken.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  for (uintptr_t p = 0; p < producers; ++p)
    threads.emplace_back([&q, p] {
      for (uintptr_t i = 0; i < per_thread; ++i)
        q.append(job(p * per_thread + i));
    });
  threads.emplace_back(take, true);
  threads.emplace_back(take, false);
  for (auto& t : threads)
    t.join();
  CAF_CHECK_EQUAL(taken.load(), total);
  uintptr_t once = 0;
  for (auto& s : seen)
    if (s.load() == 1)
      ++once;
  CAF_CHECK_EQUAL(once, total);
  CAF_CHECK(q.empty());
}
