#pragma once

// Shared fixture of the integration tests: a real actor system (not the test
// coordinator) talking to the PostgreSQL server named by POOL_TEST_DSN, which
// scripts/test starts and exports.

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "caf/all.hpp"
#include "caf/test/unit_test.hpp"

#include "pool/all.hpp"

#include "live_support.hpp"

namespace it {

using namespace std::chrono_literals;

/// Local atoms of the tests' helper actors (never sent to the pool).
using answer_atom = caf::atom_constant<caf::atom("answer")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;

/// Returns POOL_TEST_DSN, or fails the running test with a message telling
/// the reader to run scripts/test.
inline std::string test_dsn() {
  const char* dsn = std::getenv("POOL_TEST_DSN");
  if (dsn == nullptr || *dsn == '\0') {
    static constexpr const char* msg =
      "POOL_TEST_DSN is not set: the integration tests need the PostgreSQL "
      "server that scripts/test starts. Run them with scripts/test (or "
      "export POOL_TEST_DSN=\"host=... port=... user=postgres "
      "dbname=pooltest\" yourself).";
    std::cerr << "\n*** " << msg << "\n" << std::endl;
    CAF_FAIL(msg);
  }
  return dsn;
}

/// Returns the environment variable `name`, one of the two TCP ports (on
/// 127.0.0.1) of the test cluster's primary (POOL_TEST_PGPORT) and its
/// streaming replica (POOL_TEST_REPLICA_PORT), or fails the running test
/// with a message saying what `suite` needs them for and how to get them.
inline std::string cluster_port(const char* name, const char* suite) {
  auto x = std::getenv(name);
  if (x == nullptr || *x == '\0') {
    std::string msg = std::string{name} + " is not set: the " + suite +
                      " tests need the primary and the streaming replica "
                      "that scripts/test (scripts/lib.sh pg_start) starts "
                      "and exports; with your own server in POOL_TEST_DSN, "
                      "run a replica of it and export POOL_TEST_PGPORT and "
                      "POOL_TEST_REPLICA_PORT (TCP ports on 127.0.0.1).";
    std::cerr << "\n*** " << msg << "\n" << std::endl;
    CAF_FAIL(msg);
  }
  return x;
}

/// A name for a test table that no concurrently running test binary uses.
inline std::string table_name(const std::string& prefix) {
  return "it_" + prefix + "_" + std::to_string(::getpid());
}

/// The actor system's configuration: the pool's types and two scheduler
/// threads.
using config = pool_test::live_config;

/// Renders an expected's error (or "ok") for test messages.
using pool_test::describe;

/// Fails the test (aborting it) if `x` holds an error, printing the error.
/// Evaluates `x` once.
#define IT_REQUIRE_OK(x)                                                       \
  do {                                                                         \
    auto&& it_res_ = (x);                                                      \
    if (!it_res_)                                                              \
      CAF_FAIL(#x " failed: " << pool::describe(it_res_.error()));             \
  } while (false)

/// Checks that `x` holds an error of the pool category with code `code`.
/// Evaluates `x` once.
#define IT_CHECK_ERRC(x, code)                                                 \
  do {                                                                         \
    auto&& it_res_ = (x);                                                      \
    if (it_res_)                                                               \
      CAF_ERROR(#x ": expected error " #code ", got a result");                \
    else if (!pool::is(it_res_.error(), code))                                 \
      CAF_ERROR(#x ": expected error " #code ", got "                          \
                << pool::describe(it_res_.error()));                           \
    else                                                                       \
      CAF_CHECK(pool::is(it_res_.error(), code));                              \
  } while (false)

struct fixture {
  /// Read first: without it the test fails before starting anything.
  std::string dsn;
  config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  /// Pools spawned by this test and not yet shut down.
  std::vector<pool::pool_actor> pools;

  /// Default time a single request may take before the test gives up.
  caf::timespan timeout = caf::timespan{15s};

  fixture() : dsn(test_dsn()), sys(cfg), self(sys) {
    // nop
  }

  ~fixture() {
    // Every pool must stop so that ~actor_system can return.
    for (auto& p : pools) {
      auto res = call<caf::ok_atom>(p, caf::timespan{20s},
                                    pool::shutdown_atom_v, caf::timespan{5s});
      if (!res) {
        CAF_ERROR("pool shutdown failed: " << pool::describe(res.error()));
        caf::anon_send_exit(p, caf::exit_reason::kill);
      }
    }
    pools.clear();
  }

  /// A configuration for the test server.
  pool::pool_config make_config(size_t min_size, size_t max_size) {
    pool::pool_config pc;
    pc.conninfo = dsn;
    pc.min_size = min_size;
    pc.max_size = max_size;
    pc.acquire_timeout = caf::timespan{10s};
    pc.connect_timeout = caf::timespan{10s};
    return pc;
  }

  /// Spawns a pool (the test aborts if that fails); the fixture shuts it down
  /// at the end unless the test did.
  pool::pool_actor spawn(pool::pool_config pc) {
    auto p = pool::spawn_pool(sys, std::move(pc));
    IT_REQUIRE_OK(p);
    pools.push_back(*p);
    return *p;
  }

  pool::pool_actor spawn(size_t min_size, size_t max_size) {
    return spawn(make_config(min_size, max_size));
  }

  /// Shuts `p` down now and checks the reply.
  void shutdown(const pool::pool_actor& p) {
    auto res = call<caf::ok_atom>(p, caf::timespan{20s}, pool::shutdown_atom_v,
                                  caf::timespan{5s});
    CAF_CHECK(res);
    if (!res)
      CAF_ERROR("shutdown: " << pool::describe(res.error()));
    for (auto i = pools.begin(); i != pools.end(); ++i)
      if (*i == p) {
        pools.erase(i);
        break;
      }
  }

  /// Sends a request from the scoped actor and waits at most `t` for the
  /// reply of type `T` (or the error).
  template <class T, class Handle, class... Ts>
  caf::expected<T> call(const Handle& h, caf::timespan t, Ts&&... xs) {
    return pool_test::call<T>(self, h, t, std::forward<Ts>(xs)...);
  }

  /// A pooled autocommit statement.
  caf::expected<pool::query_result> query(const pool::pool_actor& p,
                                          pool::statement st) {
    return call<pool::query_result>(p, timeout, pool::query_atom_v,
                                    std::move(st));
  }

  /// A statement on a lease.
  caf::expected<pool::query_result> query(const pool::lease& l,
                                          pool::statement st) {
    return query(l, l.id, std::move(st));
  }

  /// A statement sent to the lease's worker with an arbitrary lease id.
  caf::expected<pool::query_result> query(const pool::lease& l, uint64_t id,
                                          pool::statement st) {
    return call<pool::query_result>(l.worker, timeout, pool::query_atom_v, id,
                                    std::move(st));
  }

  caf::expected<pool::lease> acquire(const pool::pool_actor& p,
                                     caf::timespan wait = caf::timespan{10s}) {
    return call<pool::lease>(p, wait + timeout, pool::acquire_atom_v, wait);
  }

  caf::expected<caf::ok_atom> release(const pool::pool_actor& p,
                                      uint64_t lease_id) {
    return call<caf::ok_atom>(p, timeout, pool::release_atom_v, lease_id);
  }

  caf::expected<std::vector<pool::query_result>>
  transaction(const pool::pool_actor& p, std::vector<pool::statement> sts) {
    return call<std::vector<pool::query_result>>(
      p, timeout, pool::transaction_atom_v, std::move(sts));
  }

  caf::expected<pool::pool_stats> stats(const pool::pool_actor& p) {
    return call<pool::pool_stats>(p, timeout, pool::stats_atom_v);
  }

  /// Polls the pool's stats every 20 ms until `pred` holds or `limit`
  /// passed; returns the last snapshot and whether `pred` held.
  std::pair<pool::pool_stats, bool>
  wait_for_stats(const pool::pool_actor& p,
                 std::function<bool(const pool::pool_stats&)> pred,
                 std::chrono::milliseconds limit = 5000ms) {
    return pool_test::wait_for_stats(self, p, timeout, pred, limit);
  }

  /// Runs a single-cell query and returns that cell (the test aborts on
  /// error or on a result of another shape).
  std::string scalar(const pool::pool_actor& p, pool::statement st) {
    auto sql = st.sql;
    auto r = query(p, std::move(st));
    if (!r)
      CAF_FAIL("'" << sql << "' failed: " << pool::describe(r.error()));
    if (r->rows() != 1 || r->columns.size() != 1)
      CAF_FAIL("'" << sql << "' returned " << r->rows() << " rows and "
                   << r->columns.size() << " columns, expected 1 x 1");
    return r->is_null(0, 0) ? std::string{"<NULL>"} : r->at(0, 0);
  }

  std::string scalar(const pool::lease& l, pool::statement st) {
    auto sql = st.sql;
    auto r = query(l, std::move(st));
    if (!r)
      CAF_FAIL("'" << sql << "' on lease " << l.id
                   << " failed: " << pool::describe(r.error()));
    if (r->rows() != 1 || r->columns.size() != 1)
      CAF_FAIL("'" << sql << "' returned " << r->rows() << " rows and "
                   << r->columns.size() << " columns, expected 1 x 1");
    return r->is_null(0, 0) ? std::string{"<NULL>"} : r->at(0, 0);
  }

  /// Runs a statement that must succeed (test setup).
  void exec(const pool::pool_actor& p, pool::statement st) {
    auto sql = st.sql;
    auto r = query(p, std::move(st));
    if (!r)
      CAF_FAIL("'" << sql << "' failed: " << pool::describe(r.error()));
  }
};

} // namespace it
