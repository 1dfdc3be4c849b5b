// Scenario: failover. A private primary and its streaming replica
// (tests/support/pg_pair.sh, never the shared cluster: the primary dies
// here); a pool with `host=127.0.0.1,127.0.0.1 port=P,R
// target_session_attrs=read-write` serves writes, queries, leases and
// transactions; the primary crashes (pg_ctl stop -m immediate), a second
// later the replica is promoted (pg_ctl promote). The pool, untouched, must
// drop its connections to the dead primary, find the new primary through
// target_session_attrs and serve writes again.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE chaos_failover
#include "caf/test/unit_test.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "fixture.hpp"
#include "invariants.hpp"
#include "load.hpp"
#include "pg_pair.hpp"

using namespace chaos;

namespace {

/// The SQLSTATE in a `query_failed [XXXXX]: ...` message, or "".
std::string sqlstate_of(const std::string& message) {
  auto open = message.find('[');
  auto close = message.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open)
    return {};
  return message.substr(open + 1, close - open - 1);
}

constexpr const char* write_table = "failover_writes";

} // namespace

CAF_TEST_FIXTURE_SCOPE(chaos_failover_tests, fixture)

/// Proves: after the primary crashes and its replica is promoted, a pool
/// with a host list and target_session_attrs=read-write serves writes again
/// by itself within 15 s of the promotion; every request is answered exactly
/// once, with a result or an error of an expected kind; afterwards all its
/// connections are on the new primary and none is left on the dead one.
/// Prints the time from promotion to the first successful write and the
/// errors by kind.
CAF_TEST(primary lost and replica promoted under load) {
  pg_pair pair{"failover"};
  if (!pair.ready() || !pair.create_write_table(write_table))
    return;
  auto old_primary = pair.control("PRIMARY");
  auto replica = pair.control("REPLICA");
  auto p_port = pair.primary_port();
  auto r_port = pair.replica_port();
  // Wait until the replica has the table of the writes.
  bool ok = false;
  bool replicated = false;
  for (int i = 0; i < 200 && !replicated; ++i) {
    auto x = replica.scalar(
      std::string{"SELECT to_regclass('"} + write_table + "') IS NOT NULL", ok);
    replicated = ok && x == "t";
    if (!replicated)
      std::this_thread::sleep_for(50ms);
  }
  if (!replicated) {
    CAF_ERROR("the replica did not get the table within 10 s: "
              << replica.last_error());
    return;
  }

  auto pc =
    make_config("host=127.0.0.1,127.0.0.1 port=" + p_port + "," + r_port +
                " target_session_attrs=read-write dbname=pooltest "
                "user=postgres application_name=chaos");
  pc.backoff_max = caf::timespan{200ms};
  pc.breaker_cooldown = caf::timespan{300ms};
  auto p = pool::spawn_pool(sys, pc);
  if (!p) {
    CAF_ERROR("spawn_pool: " << pool::describe(p.error()));
    return;
  }
  pools.push_back(*p);
  auto warm = wait_for_stats(
    *p,
    [&](const pool::pool_stats& st) {
      return st.total - st.connecting >= pc.min_size;
    },
    10000ms);
  if (!warm.second) {
    CAF_ERROR("the pool did not warm up: " << describe(warm.first));
    return;
  }
  auto primary_key = "127.0.0.1:" + p_port;
  auto replica_key = "127.0.0.1:" + r_port;
  CAF_CHECK(warm.first.connections_by_host.size() == 1 &&
            warm.first.connections_by_host.count(primary_key) == 1);

  stats_monitor mon{sys, *p};
  load_options lo;
  lo.clients = 16;
  lo.workloads = {workload::write, workload::query, workload::lease,
                  workload::transaction};
  lo.write_table = write_table;
  load_generator load{sys, *p, lo};
  load.start();
  CAF_CHECK(load.wait_for_ok(50, 5000ms));
  std::this_thread::sleep_for(1000ms); // steady state

  // The crash, then the promotion a second later.
  auto t_stop = clock_type::now();
  CAF_CHECK(old_primary.stop_immediate());
  auto t_stopped = clock_type::now();
  std::this_thread::sleep_for(1000ms);
  auto t_promote = clock_type::now();
  CAF_CHECK(replica.promote());
  auto t_promoted = clock_type::now();

  // The first write that succeeds after the promotion (any write sent once
  // pg_ctl stop returned that succeeded ran on the new primary; writes sent
  // while it ran could still reach the old one).
  constexpr ms write_bound = 15000ms;
  time_point first_write{};
  bool written = false;
  while (!written && clock_type::now() < t_promote + write_bound) {
    std::this_thread::sleep_for(20ms);
    auto rep = load.report();
    for (auto& r : rep.records)
      if (r.op == op_write && r.kind == ok_kind && r.sent > t_stopped) {
        if (!written || r.answered < first_write)
          first_write = r.answered;
        written = true;
      }
  }
  auto to_write_ms = written ? ms_between(t_promote, first_write) : -1;
  CAF_CHECK(written);
  // Steady again: writes keep succeeding.
  std::this_thread::sleep_for(1500ms);
  CAF_CHECK(load.wait_for_ok(100, 5000ms));
  if (!load.stop(12000ms))
    CAF_ERROR("the load's clients did not all quit within 12 s");
  auto rep = load.report();

  // Errors by kind, query_failed by SQLSTATE.
  std::map<std::string, uint64_t> errors;
  std::map<std::string, std::string> examples;
  uint64_t late_errors = 0;
  for (auto& r : rep.records) {
    if (r.kind == ok_kind)
      continue;
    auto kind = r.kind;
    if (kind == "query_failed")
      kind += "[" + sqlstate_of(r.message) + "]";
    ++errors[kind];
    examples.emplace(kind, r.message);
    if (written && r.sent > first_write + 500ms)
      ++late_errors;
  }
  std::ostringstream out;
  out << "failover: pg_ctl stop -m immediate took "
      << ms_between(t_stop, t_stopped) << " ms; pg_ctl promote took "
      << ms_between(t_promote, t_promoted) << " ms\n";
  out << "failover: first successful write "
      << (written ? std::to_string(to_write_ms) + " ms" : std::string{"NEVER"})
      << " after pg_ctl promote was called ("
      << (written ? std::to_string(ms_between(t_promoted, first_write)) + " ms"
                  : std::string{"-"})
      << " after it returned; " << ms_between(t_stop, first_write)
      << " ms after the crash)\n";
  out << "failover: answers " << rep.summary() << "\n";
  for (auto& kv : errors)
    out << "failover: errors " << kv.first << " = " << kv.second << ", e.g. \""
        << examples[kv.first] << "\"\n";
  if (errors.empty())
    out << "failover: no errors\n";
  out << "failover: errors for requests sent more than 500 ms after the "
         "first successful write: "
      << late_errors << "\n";
  std::cout << out.str() << std::flush;

  // The answers: exactly once, of the expected kinds. The crash fails what
  // ran on the old primary (connection_lost; a lease whose worker went with
  // it: invalid_lease, request_receiver_down); until the promotion no
  // server takes read-write sessions (connect_failed, then circuit_open
  // while the breaker is open; acquire_timeout for requests that waited
  // that long).
  check_answers("failover", rep,
                {"connection_lost", "connect_failed", "circuit_open",
                 "acquire_timeout", "invalid_lease", receiver_down_kind,
                 "query_failed"});
  // A failed statement only for the shutdown/read-only states around the
  // crash and the promotion.
  const std::set<std::string> states{"25006", "57P01", "57P02", "57P03"};
  for (auto& kv : errors)
    if (kv.first.rfind("query_failed[", 0) == 0) {
      auto state = kv.first.substr(13, kv.first.size() - 14);
      if (states.count(state) == 0)
        CAF_ERROR("unexpected " << kv.first << " x" << kv.second << ": "
                                << examples[kv.first]);
    }
  CAF_CHECK_EQUAL(late_errors, 0u);
  // Writes ran before the crash and after the promotion.
  // (None between the crash and the promotion: no server took writes.)
  auto writes_before = 0;
  auto writes_after = 0;
  auto writes_between = 0;
  for (auto& r : rep.records)
    if (r.op == op_write && r.kind == ok_kind) {
      if (r.sent <= t_stopped)
        ++writes_before;
      else if (r.answered < t_promote)
        ++writes_between;
      else
        ++writes_after;
    }
  CAF_MESSAGE("writes ok before the crash "
              << writes_before << ", between crash and promotion "
              << writes_between << ", after " << writes_after);
  CAF_CHECK_GREATER(writes_before, 0);
  CAF_CHECK_EQUAL(writes_between, 0);
  CAF_CHECK_GREATER(writes_after, 0);

  // At rest: no lease left, every connection on the new primary.
  check_no_leases(*this, *p, 5000ms);
  auto rest = wait_for_stats(
    *p,
    [&](const pool::pool_stats& st) {
      return st.connecting == 0 && st.total >= pc.min_size &&
             st.connections_by_host.size() == 1 &&
             st.connections_by_host.count(replica_key) == 1 &&
             st.connections_by_host.at(replica_key) == st.total - st.cleaning;
    },
    5000ms);
  std::string hosts;
  for (auto& kv : rest.first.connections_by_host)
    hosts += " " + kv.first + "=" + std::to_string(kv.second);
  CAF_MESSAGE("at rest: connections_by_host:" << hosts << "; "
                                              << describe(rest.first));
  CAF_CHECK(rest.second);
  CAF_CHECK_EQUAL(rest.first.connections_by_host.count(primary_key), 0u);
  // The server's view: lease every connection, each is on the new primary,
  // out of recovery.
  std::vector<pool::lease> leases;
  for (uint32_t i = 0; i < rest.first.total; ++i) {
    auto l = acquire(*p, caf::timespan{3s});
    if (!l) {
      CAF_ERROR("acquire " << i << " at rest: " << chaos::describe(l));
      break;
    }
    leases.push_back(*l);
  }
  for (auto& l : leases) {
    auto r = query(l, "SELECT inet_server_port()::text || ' ' || "
                      "pg_is_in_recovery()::text");
    CAF_CHECK(r && r->rows() == 1);
    if (r && r->rows() == 1)
      CAF_CHECK_EQUAL(r->at(0, 0), r_port + " false");
    else
      CAF_ERROR("query on lease " << l.id << ": " << chaos::describe(r));
  }
  for (auto& l : leases)
    CAF_CHECK(release(*p, l.id));
  mon.check(pc.max_size);
  // The new primary has every successful write (each returned its value).
  auto rows =
    replica.scalar(std::string{"SELECT count(*) FROM "} + write_table, ok);
  CAF_CHECK(ok);
  CAF_MESSAGE("rows in " << write_table << " on the new primary: " << rows
                         << " (writes ok after the promotion: " << writes_after
                         << ")");
  if (ok)
    CAF_CHECK_GREATER_OR_EQUAL(std::atoll(rows.c_str()), writes_after);
  shutdown(*p);
}

CAF_TEST_FIXTURE_SCOPE_END()
