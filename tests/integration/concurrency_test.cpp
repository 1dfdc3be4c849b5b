// Many leases and many clients at once on a real server.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE concurrency
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <set>

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

namespace {

/// One client: asks the pool for 2 * i and reports to `collector` either
/// `(answer_atom, i, text)` or `(failed_atom, i, error text)`, then quits.
caf::behavior client(caf::event_based_actor* self, pool::pool_actor p,
                     caf::actor collector, int32_t i) {
  self
    ->request(p, 60s, pool::query_atom_v, statement{"SELECT $1::int * 2", {i}})
    .then(
      [=](pool::query_result& r) {
        auto text = r.rows() == 1 && r.columns.size() == 1 && !r.is_null(0, 0)
                      ? r.at(0, 0)
                      : std::string{"<bad shape>"};
        self->send(collector, answer_atom::value, i, std::move(text));
        self->quit();
      },
      [=](caf::error& err) {
        self->send(collector, failed_atom::value, i, pool::describe(err));
        self->quit();
      });
  return {
    [](caf::ok_atom) {
      // nop: alive until the reply came
    },
  };
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(concurrency_tests, fixture)

/// Proves: a pool grows to max_size = 100 for 100 concurrent acquires, every
/// lease has its own id and its own server session, and all 100 connections
/// return to idle after release.
CAF_TEST(one hundred leases at once) {
  constexpr size_t n = 100;
  auto p = spawn(2, n);
  // Send all 100 acquires before reading any reply.
  using handle_t = decltype(self->request(
    p, caf::timespan{1s}, pool::acquire_atom_v, caf::timespan{1s}));
  std::vector<handle_t> pending;
  for (size_t i = 0; i < n; ++i)
    pending.push_back(self->request(p, caf::timespan{60s}, pool::acquire_atom_v,
                                    caf::timespan{30s}));
  std::vector<pool::lease> leases;
  std::vector<std::string> errors;
  for (auto& h : pending)
    h.receive([&](pool::lease& l) { leases.push_back(std::move(l)); },
              [&](caf::error& err) { errors.push_back(pool::describe(err)); });
  CAF_CHECK_EQUAL(leases.size(), n);
  CAF_CHECK_EQUAL(errors.size(), 0u);
  if (!errors.empty())
    CAF_ERROR("first acquire error: " << errors.front());
  if (leases.empty())
    CAF_FAIL("no lease at all; first error: " << errors.front());
  std::set<uint64_t> ids;
  for (auto& l : leases)
    ids.insert(l.id);
  CAF_CHECK_EQUAL(ids.size(), leases.size());
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->leased, n);
  CAF_CHECK_EQUAL(st->total, n);
  CAF_CHECK_LESS_OR_EQUAL(st->total, n);
  CAF_CHECK_EQUAL(st->waiting, 0u);
  // Each lease runs on its own session: 100 distinct backend pids. The
  // queries run concurrently, too.
  using qhandle_t =
    decltype(self->request(leases.front().worker, caf::timespan{1s},
                           pool::query_atom_v, uint64_t{0}, statement{}));
  std::vector<qhandle_t> queries;
  for (auto& l : leases)
    queries.push_back(self->request(l.worker, caf::timespan{30s},
                                    pool::query_atom_v, l.id,
                                    statement{"SELECT pg_backend_pid()"}));
  std::set<std::string> pids;
  size_t query_errors = 0;
  for (auto& q : queries)
    q.receive(
      [&](pool::query_result& r) {
        if (r.rows() == 1)
          pids.insert(r.at(0, 0));
      },
      [&](caf::error& err) {
        if (query_errors++ == 0)
          CAF_ERROR("query on lease: " << pool::describe(err));
      });
  CAF_CHECK_EQUAL(query_errors, 0u);
  CAF_CHECK_EQUAL(pids.size(), n);
  // Release all of them; every release is answered ok.
  size_t released = 0;
  for (auto& l : leases)
    if (release(p, l.id))
      ++released;
  CAF_CHECK_EQUAL(released, leases.size());
  auto s = wait_for_stats(
    p, [](const pool::pool_stats& x) { return x.leased == 0 && x.idle == n; },
    10000ms);
  CAF_CHECK(s.second);
  CAF_CHECK_EQUAL(s.first.leased, 0u);
  CAF_CHECK_EQUAL(s.first.idle, n);
  CAF_CHECK_EQUAL(s.first.total, n);
  CAF_CHECK_GREATER_OR_EQUAL(s.first.acquired, n);
}

/// Proves: 1,000 concurrent event-based clients on a pool of 10 connections
/// each get exactly their own answer, nobody gets an error, the pool never
/// opens more than 10 connections, and nobody is left waiting.
CAF_TEST(one thousand clients on ten connections) {
  constexpr int32_t n = 1000;
  constexpr uint32_t max_size = 10;
  auto pc = make_config(2, max_size);
  pc.acquire_timeout = caf::timespan{50s};
  // Every client must get its answer: load shedding (tested on its own in
  // the unit tests) is off. Under ThreadSanitizer a burst of 1000 waits
  // longer than the default queue_target and would be shed.
  pc.queue_target = caf::timespan{0};
  auto p = spawn(pc);
  caf::actor collector{self};
  for (int32_t i = 0; i < n; ++i)
    sys.spawn(client, p, collector, i);
  int32_t correct = 0;
  int32_t wrong = 0;
  int32_t failed = 0;
  uint32_t max_total = 0;
  std::string first_problem;
  auto deadline = std::chrono::steady_clock::now() + 90s;
  auto received = [&] { return correct + wrong + failed; };
  while (received() < n && std::chrono::steady_clock::now() < deadline) {
    bool timed_out = false;
    self->receive(
      [&](answer_atom, int32_t i, std::string& text) {
        if (text == std::to_string(2 * i)) {
          ++correct;
        } else {
          ++wrong;
          if (first_problem.empty())
            first_problem = "client " + std::to_string(i) + " got " + text;
        }
      },
      [&](failed_atom, int32_t i, std::string& what) {
        ++failed;
        if (first_problem.empty())
          first_problem = "client " + std::to_string(i) + " failed: " + what;
      },
      caf::after(std::chrono::seconds(5)) >> [&] { timed_out = true; });
    // Sample the pool while the load runs: never above max_size.
    if (timed_out || received() % 100 == 0) {
      auto st = stats(p);
      if (!st)
        CAF_FAIL("stats during the load: " << pool::describe(st.error()));
      max_total = std::max(max_total, st->total);
    }
  }
  if (!first_problem.empty())
    CAF_ERROR("first problem: " << first_problem);
  CAF_CHECK_EQUAL(correct, n);
  CAF_CHECK_EQUAL(wrong, 0);
  CAF_CHECK_EQUAL(failed, 0);
  CAF_CHECK_EQUAL(received(), n);
  CAF_CHECK_LESS_OR_EQUAL(max_total, max_size);
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_LESS_OR_EQUAL(st->total, max_size);
  CAF_CHECK_EQUAL(st->waiting, 0u);
  CAF_CHECK_GREATER_OR_EQUAL(st->acquired, static_cast<uint64_t>(n));
  CAF_CHECK_EQUAL(st->acquire_timeouts, 0u);
  CAF_CHECK_EQUAL(st->rejected, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
