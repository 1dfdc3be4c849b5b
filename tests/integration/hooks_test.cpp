// Hooks against the real server, each one's effect seen by the server:
// after_connect sets session state on every connection (SQL and callback)
// and a bad statement fails the connect with the server's reason;
// before_acquire (SQL and callback) rejects a connection, which is closed
// and replaced by another backend; after_release (reset_query's verdict and
// the callback) discards one.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE hooks
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <memory>
#include <set>
#include <string>

#include "pool/hooks.hpp"

#include "fixture.hpp"

using namespace it;

namespace {

struct hooks_fixture : fixture {
  /// Leases a connection, runs `sql` on it (if any) and returns its
  /// backend pid; the lease is released.
  std::string lease_pid(const pool::pool_actor& p, std::string sql = {}) {
    auto l = acquire(p);
    IT_REQUIRE_OK(l);
    if (!sql.empty())
      scalar(*l, pool::statement{sql});
    auto pid = scalar(*l, pool::statement{"SELECT pg_backend_pid()"});
    IT_REQUIRE_OK(release(p, l->id));
    return pid;
  }

  uint64_t closed_by_hook(const pool::pool_actor& p) {
    auto st = stats(p);
    IT_REQUIRE_OK(st);
    return st
      ->connections_closed_by[static_cast<size_t>(pool::close_reason::hook)];
  }

  /// Whether the backend `pid` still exists, as the server sees it.
  bool alive(const pool::pool_actor& p, const std::string& pid) {
    return scalar(p, pool::statement{"SELECT count(*) FROM pg_stat_activity "
                                     "WHERE pid = $1::int",
                                     {pid}}) == "1";
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(hooks_tests, hooks_fixture)

/// Proves: the after_connect statements of the configuration and of the
/// callback (a parameter, no splicing) set session state on every
/// connection before its first use.
CAF_TEST(after_connect sets up every connection) {
  auto pc = make_config(2, 2);
  pc.after_connect_sql = {"SET application_name = 'libpool-hooks'",
                          "SET lock_timeout = '1234ms'"};
  auto h = std::make_shared<pool::pool_hooks>();
  h->after_connect = [](const pool::connection_info& c) {
    return std::vector<pool::statement>{
      {"SELECT set_config('app.conn_id', $1, false)", {std::to_string(c.id)}}};
  };
  pc.hooks = h;
  auto p = spawn(std::move(pc));
  std::set<std::string> ids;
  auto a = acquire(p);
  auto b = acquire(p);
  IT_REQUIRE_OK(a);
  IT_REQUIRE_OK(b);
  for (auto* l : {&*a, &*b}) {
    CAF_CHECK_EQUAL(scalar(*l, pool::statement{"SHOW application_name"}),
                    "libpool-hooks");
    CAF_CHECK_EQUAL(scalar(*l, pool::statement{"SHOW lock_timeout"}), "1234ms");
    ids.insert(
      scalar(*l, pool::statement{"SELECT current_setting('app.conn_id')"}));
  }
  CAF_CHECK_EQUAL(ids.size(), 2u);
  IT_REQUIRE_OK(release(p, a->id));
  IT_REQUIRE_OK(release(p, b->id));
  CAF_CHECK_EQUAL(scalar(p, pool::statement{"SELECT count(*) FROM "
                                            "pg_stat_activity WHERE "
                                            "application_name = "
                                            "'libpool-hooks'"}),
                  "2");
}

/// Proves: an after_connect statement the server refuses fails the connect
/// with connect_failed, the statement and the server's reason; a request
/// gets an error (not a hang) and the breaker opens.
CAF_TEST(a bad after_connect statement fails the connect) {
  auto pc = make_config(1, 1);
  pc.after_connect_sql = {"SET lock_timeout = 'soon'"};
  pc.breaker_threshold = 2;
  pc.backoff_min = caf::timespan{10ms};
  pc.backoff_max = caf::timespan{20ms};
  pc.acquire_timeout = caf::timespan{2s};
  auto p = spawn(std::move(pc));
  auto r = query(p, pool::statement{"SELECT 1"});
  CAF_REQUIRE(!r);
  CAF_MESSAGE("the query got: " << pool::describe(r.error()));
  auto [st, opened] = wait_for_stats(
    p, [](const pool::pool_stats& x) { return x.breaker_opened >= 1; });
  CAF_CHECK(opened);
  CAF_CHECK_EQUAL(st.idle, 0u);
  CAF_MESSAGE("last connect error: " << st.last_connect_error);
  CAF_CHECK_NOT_EQUAL(
    st.last_connect_error.find("after_connect: SET lock_timeout = 'soon': "),
    std::string::npos);
  CAF_CHECK_NOT_EQUAL(st.last_connect_error.find("22023"), std::string::npos);
}

/// Proves: before_acquire as SQL reads the session's state before each
/// hand-out; a connection whose check says false is closed on the server
/// and the lease gets another backend.
CAF_TEST(before_acquire SQL rejects a connection the server marks) {
  auto pc = make_config(1, 1);
  pc.before_acquire_sql =
    "SELECT current_setting('app.usable', true) IS DISTINCT FROM 'no'";
  auto p = spawn(std::move(pc));
  auto first = lease_pid(p);
  CAF_CHECK_EQUAL(lease_pid(p), first); // the check said yes
  auto marked = lease_pid(p, "SELECT set_config('app.usable', 'no', false)");
  CAF_CHECK_EQUAL(marked, first);
  auto next = lease_pid(p);
  CAF_CHECK_NOT_EQUAL(next, first);
  CAF_CHECK_EQUAL(closed_by_hook(p), 1u);
  auto [st, gone] = wait_for_stats(
    p, [&](const pool::pool_stats&) { return !alive(p, first); });
  CAF_CHECK(gone);
  CAF_CHECK_EQUAL(st.total, 1u);
}

/// Proves: a before_acquire callback that allows one use per connection
/// gives every lease a new backend; after_release that says no discards
/// the connection when it comes back.
CAF_TEST(before_acquire and after_release callbacks decide per connection) {
  auto pc = make_config(1, 1);
  auto h = std::make_shared<pool::pool_hooks>();
  h->before_acquire = [](const pool::connection_info& c) {
    return c.uses == 0;
  };
  pc.hooks = h;
  auto p = spawn(std::move(pc));
  std::set<std::string> pids;
  for (int i = 0; i < 3; ++i)
    pids.insert(lease_pid(p));
  CAF_CHECK_EQUAL(pids.size(), 3u);
  CAF_CHECK_EQUAL(closed_by_hook(p), 2u);

  auto pc2 = make_config(1, 1);
  auto h2 = std::make_shared<pool::pool_hooks>();
  h2->after_release = [](const pool::connection_info&) { return false; };
  pc2.hooks = h2;
  auto p2 = spawn(std::move(pc2));
  auto a = lease_pid(p2);
  auto b = lease_pid(p2);
  CAF_CHECK_NOT_EQUAL(a, b);
  auto [st, gone] =
    wait_for_stats(p2, [&](const pool::pool_stats&) { return !alive(p, a); });
  CAF_CHECK(gone);
  CAF_CHECK(
    st.connections_closed_by[static_cast<size_t>(pool::close_reason::hook)] >=
    1u);
}

/// Proves: a reset_query whose answer is false discards the connection
/// after the lease (a session the application marked as tainted); one that
/// says true keeps it.
CAF_TEST(reset_query discards a connection it judges tainted) {
  auto pc = make_config(1, 1);
  pc.reset_query =
    "SELECT current_setting('app.tainted', true) IS DISTINCT FROM 'yes'";
  auto p = spawn(std::move(pc));
  auto a = lease_pid(p);
  CAF_CHECK_EQUAL(lease_pid(p), a);
  CAF_CHECK_EQUAL(lease_pid(p, "SELECT set_config('app.tainted', 'yes', "
                               "false)"),
                  a);
  auto b = lease_pid(p);
  CAF_CHECK_NOT_EQUAL(b, a);
  CAF_CHECK_EQUAL(closed_by_hook(p), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
