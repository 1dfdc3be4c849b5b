// Statements that would be sent on a session the server had already ended
// (its goodbye is on the socket, the worker has not heard of it yet): the
// worker finds out before sending, so pooled queries and transactions run on
// another connection; lease queries cannot move and get connection_lost.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE ended_session
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

struct ended_fixture : fixture {
  /// A pool of exactly `size` connections without validation pings, so the
  /// fake's log holds the clients' statements only.
  pool_config make_fixed_config(size_t size, size_t depth = 1) {
    auto cfg = make_config(size, size);
    cfg.validate_after_idle = caf::timespan{0};
    cfg.pipeline_depth = depth;
    return cfg;
  }

  /// Ends the session of every open connection without waking anyone.
  void end_all_quietly() {
    auto open_ones = script->wakers;
    for (auto& kvp : open_ones)
      script->end_session_quietly(kvp.first);
  }

  /// Statements run on connections 1 .. `n`.
  size_t statements_on_first(int n) const {
    size_t result = 0;
    for (int i = 1; i <= n; ++i)
      result += script->log_of(i).size();
    return result;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(ended_session_tests, ended_fixture)

// The fake on its own: a quiet end wakes nobody, so only a check before
// sending can find it (the tests below rely on that).
CAF_TEST(a quiet end of a session wakes nobody) {
  auto pool = start(make_fixed_config(1));
  auto before = stats(pool);
  CAF_REQUIRE_EQUAL(before.idle, 1u);
  script->end_session_quietly(1);
  sched.run();
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.idle, 1u); // nobody noticed
  CAF_CHECK_EQUAL(st.connections_closed, 0u);
  CAF_CHECK_EQUAL(script->send_checks, 0);
}

// Every idle connection's session ended; the queries that follow at once run
// on new connections, and none is answered with an error.
CAF_TEST(queries on ended sessions run on new connections) {
  auto pool = start(make_fixed_config(2));
  end_all_quietly();
  auto q1 = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
  auto q2 = ask<query_result>(pool, query_atom::value, statement{"SELECT 2"});
  sched.run();
  CAF_CHECK(q1->ok());
  CAF_CHECK(q2->ok());
  // Nothing was sent on the ended sessions.
  CAF_CHECK_EQUAL(statements_on_first(2), 0u);
  CAF_CHECK_GREATER_OR_EQUAL(script->send_checks, 2);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_closed, 2u);
  CAF_CHECK_EQUAL(st.connections_created, 4u);
  CAF_CHECK_EQUAL(st.idle, 2u);
}

// A transaction is handed back before its BEGIN went out.
CAF_TEST(a transaction on an ended session runs on a new connection) {
  auto pool = start(make_fixed_config(1));
  script->end_session_quietly(1);
  std::vector<statement> sts{"INSERT 1", "INSERT 2"};
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  CAF_REQUIRE(t->ok());
  CAF_CHECK_EQUAL(t->value->size(), 2u);
  CAF_CHECK(script->log_of(1).empty());
  std::vector<std::string> want{"BEGIN", "INSERT 1", "INSERT 2", "COMMIT"};
  CAF_CHECK_EQUAL(script->log_of(2), want);
}

// A lease lives on one session: its query cannot move and gets
// connection_lost; the pool replaces the connection.
CAF_TEST(a lease query on an ended session gets connection_lost) {
  auto pool = start(make_fixed_config(1));
  auto l = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(l->ok());
  script->end_session_quietly(1);
  auto q = ask<query_result>(l->value->worker, query_atom::value, l->value->id,
                             statement{"SELECT 1"});
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::connection_lost));
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.connections_closed, 1u);
  CAF_CHECK_EQUAL(st.idle, 1u);
}

// Pipelined queries on ended sessions also move, and the check is made once
// per connection that was idle, not once per pipelined query.
CAF_TEST(pipelined queries on ended sessions run on new connections) {
  script->pipelining = true;
  auto pool = start(make_fixed_config(1, 4));
  std::vector<outcome_ptr<query_result>> qs;
  for (int i = 0; i < 4; ++i)
    qs.push_back(
      ask<query_result>(pool, query_atom::value, statement{"SELECT 1"}));
  sched.run();
  for (auto& q : qs)
    CAF_CHECK(q->ok());
  CAF_CHECK_EQUAL(script->max_in_flight, 4u); // they did share the pipeline
  CAF_CHECK_EQUAL(script->send_checks, 1);
  CAF_CHECK_GREATER(stats(pool).pipelined, 0u);
  script->end_session_quietly(1);
  qs.clear();
  for (int i = 0; i < 4; ++i)
    qs.push_back(
      ask<query_result>(pool, query_atom::value, statement{"SELECT 1"}));
  sched.run();
  for (auto& q : qs)
    CAF_CHECK(q->ok());
  CAF_CHECK_EQUAL(script->log_of(1).size(), 4u); // only the first four
  CAF_CHECK_EQUAL(script->log_of(2).size(), 4u);
  CAF_CHECK_EQUAL(script->misuse, 0);
}

// In request/response mode every query starts on an idle connection: each
// is checked.
CAF_TEST(request response checks before every query) {
  auto pool = start(make_fixed_config(1));
  for (int i = 0; i < 3; ++i) {
    auto q = ask<query_result>(pool, query_atom::value, statement{"SELECT 1"});
    sched.run();
    CAF_CHECK(q->ok());
  }
  CAF_CHECK_EQUAL(script->send_checks, 3);
}

CAF_TEST_FIXTURE_SCOPE_END()
