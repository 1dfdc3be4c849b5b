// Idle pool connections whose server backends were terminated
// (pg_terminate_backend), then queries at once: a statement sent on a
// session that had already ended never ran, so the pool runs it on another
// connection instead of answering connection_lost.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE terminate_idle
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

#include <libpq-fe.h>

#include "fixture.hpp"

using namespace it;

namespace {

using conn_ptr = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using result_ptr = std::unique_ptr<PGresult, decltype(&PQclear)>;

constexpr size_t pool_size = 4;
constexpr int rounds = 20;

/// Blocks both scheduler threads of an actor system until released: the
/// pool reads nothing from its sockets meanwhile, as on a box too busy to
/// run it. (Fault injection: the pool itself never blocks a thread.)
struct scheduler_stall {
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  std::atomic<bool> released{false};

  /// Releases the threads and waits until every blocking actor let go of
  /// this object (one may still be in its 1 ms sleep after `release`).
  ~scheduler_stall() {
    released = true;
    for (int i = 0; i < 5000 && finished < started; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  /// Starts blocking `threads` scheduler threads of `sys`; returns once all
  /// are blocked.
  void start(caf::actor_system& sys, int threads) {
    for (int i = 0; i < threads; ++i)
      sys.spawn([this] {
        ++started;
        while (!released)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ++finished;
      });
    for (int i = 0; i < 5000 && started < threads; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (started < threads)
      CAF_FAIL("could not block " << threads << " scheduler threads");
  }

  void release() { released = true; }
};

struct terminate_fixture : fixture {
  /// The application_name of this test's pool connections.
  std::string app = "libpool_ti_" + std::to_string(::getpid());
  /// The test's own libpq connection, outside the pool.
  conn_ptr admin{nullptr, PQfinish};

  terminate_fixture() {
    admin.reset(PQconnectdb(dsn.c_str()));
    if (PQstatus(admin.get()) != CONNECTION_OK)
      CAF_FAIL("admin connection: " << PQerrorMessage(admin.get()));
  }

  /// A pool of `pool_size` connections named `app`, without validation
  /// before handout (so nothing but the queries touches a connection).
  pool::pool_actor spawn_named(size_t depth) {
    auto pc = make_config(pool_size, pool_size);
    pc.conninfo = dsn + " application_name=" + app;
    pc.validate_after_idle = caf::timespan{0};
    pc.pipeline_depth = depth;
    return spawn(std::move(pc));
  }

  /// Runs `sql` on the admin connection; returns the first column of every
  /// row (the test aborts on error).
  std::vector<std::string> admin_query(const std::string& sql) {
    result_ptr r{PQexec(admin.get(), sql.c_str()), PQclear};
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK)
      CAF_FAIL("'" << sql << "': " << PQresultErrorMessage(r.get()));
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(r.get()); ++i)
      out.emplace_back(PQgetvalue(r.get(), i, 0));
    return out;
  }

  /// The server pids of the pool's connections.
  std::set<std::string> pool_pids() {
    auto v = admin_query("SELECT pid FROM pg_stat_activity "
                         "WHERE application_name = '" +
                         app + "'");
    return {v.begin(), v.end()};
  }

  /// Waits until the pool has `pool_size` idle connections and the server
  /// shows that many sessions for it; returns their pids.
  std::set<std::string> wait_idle(const pool::pool_actor& p) {
    auto [st, ok] = wait_for_stats(
      p, [](const pool::pool_stats& s) { return s.idle == pool_size; },
      10000ms);
    if (!ok)
      CAF_FAIL("the pool did not get back to "
               << pool_size << " idle connections (idle " << st.idle << ")");
    for (int i = 0; i < 250; ++i) {
      auto pids = pool_pids();
      if (pids.size() == pool_size)
        return pids;
      std::this_thread::sleep_for(20ms);
    }
    CAF_FAIL("the server does not show " << pool_size << " sessions of "
                                         << app);
  }

  /// Terminates every backend of the pool: with `wait`, the 2-argument
  /// form, which returns once each backend has exited. Returns how many
  /// were terminated.
  size_t terminate_all(bool wait) {
    auto sql = std::string{"SELECT pg_terminate_backend(pid"} +
               (wait ? ", 5000" : "") +
               ") FROM pg_stat_activity WHERE application_name = '" + app + "'";
    auto v = admin_query(sql);
    for (auto& x : v)
      if (x != "t")
        CAF_FAIL("pg_terminate_backend returned " << x);
    return v.size();
  }

  /// Sends `pool_size` queries at once (each asks for its server pid); with
  /// `stall`, releases it once they are sent. Collects every answer.
  std::vector<caf::expected<pool::query_result>>
  burst(const pool::pool_actor& p, scheduler_stall* stall = nullptr) {
    std::vector<caf::expected<pool::query_result>> out;
    out.reserve(pool_size);
    using handle = decltype(self->request(p, timeout, pool::query_atom_v,
                                          pool::statement{}));
    std::vector<handle> pending;
    for (size_t i = 0; i < pool_size; ++i)
      pending.push_back(self->request(p, timeout, pool::query_atom_v,
                                      pool::statement{"SELECT "
                                                      "pg_backend_pid()"}));
    if (stall != nullptr)
      stall->release();
    for (auto& h : pending) {
      out.emplace_back(caf::error{caf::sec::bad_function_call});
      auto& slot = out.back();
      h.receive([&](pool::query_result& r) { slot = std::move(r); },
                [&](caf::error& e) { slot = std::move(e); });
    }
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(terminate_idle_tests, terminate_fixture)

/// Proves: a query sent right after its idle connection's backend was
/// terminated (the 2-argument form returns only once the backend exited, so
/// the session provably ended before the query was sent) never fails: 20
/// times over, all connections are terminated and as many queries follow at
/// once; every one is answered with a row from a backend that was not
/// terminated, and the pool replaced every terminated connection. In every
/// other round the pool's threads are blocked while the backends end, so the
/// queries reach it before it has read its sockets (the 2-argument form
/// waits in steps of 100 ms, time enough for an idle pool to notice).
CAF_TEST(queries right after idle backends were terminated never fail) {
  for (size_t depth : {size_t{1}, size_t{4}}) {
    CAF_MESSAGE("pipeline_depth " << depth);
    auto p = spawn_named(depth);
    wait_idle(p);
    auto before = stats(p);
    IT_REQUIRE_OK(before);
    size_t errors = 0, answered = 0, terminated = 0;
    for (int round = 0; round < rounds; ++round) {
      auto dead = wait_idle(p);
      scheduler_stall stall;
      bool stalled = round % 2 == 1;
      if (stalled)
        stall.start(sys, 2); // pool_test::live_config: 2 threads
      terminated += terminate_all(true);
      for (auto& r : burst(p, stalled ? &stall : nullptr)) {
        if (!r) {
          ++errors;
          CAF_MESSAGE("round " << round << ": " << describe(r));
          continue;
        }
        ++answered;
        if (r->rows() != 1 || dead.count(r->at(0, 0)) > 0)
          CAF_ERROR("round " << round << ": answered by terminated backend "
                             << (r->rows() == 1 ? r->at(0, 0) : "?"));
      }
    }
    CAF_CHECK_EQUAL(terminated, rounds * pool_size);
    CAF_CHECK_EQUAL(errors, 0u);
    CAF_CHECK_EQUAL(answered, rounds * pool_size);
    wait_idle(p);
    auto after = stats(p);
    IT_REQUIRE_OK(after);
    CAF_MESSAGE("connections created " << before->connections_created << " -> "
                                       << after->connections_created
                                       << ", closed "
                                       << before->connections_closed << " -> "
                                       << after->connections_closed);
    CAF_CHECK_GREATER_OR_EQUAL(after->connections_closed -
                                 before->connections_closed,
                               rounds * pool_size);
    CAF_CHECK_GREATER_OR_EQUAL(after->connections_created -
                                 before->connections_created,
                               rounds * pool_size);
    shutdown(p);
  }
}

/// With the 1-argument form (no wait) a query may reach a backend that is
/// still shutting down, which may have started it: such a query is answered
/// connection_lost. Proves: every query is answered, and nothing but
/// connection_lost; reports how many failed.
CAF_TEST(queries racing with terminations get only connection_lost) {
  auto p = spawn_named(1);
  size_t errors = 0, answered = 0;
  std::map<std::string, size_t> kinds; // error text -> count
  for (int round = 0; round < rounds; ++round) {
    wait_idle(p);
    terminate_all(false);
    for (auto& r : burst(p)) {
      ++answered;
      if (r)
        continue;
      ++errors;
      ++kinds[describe(r)];
      if (!pool::is(r.error(), pool::pool_errc::connection_lost))
        CAF_ERROR("round " << round << ": " << describe(r));
    }
  }
  CAF_MESSAGE("no-wait terminations: " << errors << " of " << answered
                                       << " queries failed");
  for (auto& kvp : kinds)
    CAF_MESSAGE(kvp.second << " x " << kvp.first);
  CAF_CHECK_EQUAL(answered, rounds * pool_size);
}

CAF_TEST_FIXTURE_SCOPE_END()
