// Scenario: replica_cut. A private primary P and its streaming replica R
// (tests/support/pg_pair.sh, never the shared cluster: R's stream is cut
// here); a routed pool (pool/routing.hpp) in front of them. R's stream to P
// is cut (ALTER SYSTEM SET primary_conninfo = '' on R, and a reload): R
// stays up and in recovery, and has replayed all it received, so it cannot
// tell it is behind. P goes on writing. The router must see the lag from
// P's side (its WAL position moves past R's) and take R out, so that reads
// go to P and see the new rows; once R's stream is back, R catches up and
// serves reads again.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE chaos_replica_cut
#include "caf/test/unit_test.hpp"

#include <string>
#include <thread>

#include "fixture.hpp"
#include "load.hpp"
#include "pg_pair.hpp"

using namespace chaos;

namespace {

constexpr const char* write_table = "replica_cut_writes";

/// `x` as an SQL string literal.
std::string literal(const std::string& x) {
  std::string out = "'";
  for (auto c : x) {
    if (c == '\'')
      out += '\'';
    out += c;
  }
  return out + "'";
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(chaos_replica_cut_tests, fixture)

/// Proves: a replica whose stream broke, which replayed all it received
/// (so its own view says lag 0), is taken out of service once the primary
/// writes and its lag passes max_replica_lag; meanwhile a read runs on the
/// primary and sees the rows written after the cut; once its stream is back
/// it serves again and a read on it sees them. Prints the time from the
/// first write after the cut to the replica leaving service, and from the
/// stream's return to its serving again.
CAF_TEST(a replica cut off from the primary stops getting reads) {
  pg_pair pair{"replica-cut"};
  if (!pair.ready() || !pair.create_write_table(write_table))
    return;
  auto replica = pair.control("REPLICA");
  auto p_port = pair.primary_port();
  auto r_port = pair.replica_port();
  bool ok = false;
  auto p = spawn_routed(make_routed_config(pair.tcp_conninfo("PRIMARY"),
                                           pair.tcp_conninfo("REPLICA"), 1s));
  auto serving = [](const pool::pool_stats& st) {
    return replica_of(st).serving;
  };
  // Where a read runs, and how many rows of the table it sees there.
  auto read = [&](std::string& port, std::string& rows) {
    auto res = query(p, pool::reads("SELECT inet_server_port()::text, "
                                    "(SELECT count(*) FROM " +
                                    std::string{write_table} + ")::text"));
    if (!res || res->rows() != 1 || res->columns.size() != 2) {
      CAF_ERROR("read: " << describe(res));
      return false;
    }
    port = res->at(0, 0);
    rows = res->at(0, 1);
    return true;
  };
  auto write = [&] {
    auto res = query(p, pool::statement{std::string{"INSERT INTO "} +
                                        write_table + " (v) VALUES (1)"});
    CAF_CHECK(res);
    return static_cast<bool>(res);
  };

  // 1. R serves (once it replayed the table's creation).
  CAF_REQUIRE(wait_for_stats(p, serving, 10000ms).second);
  std::string port;
  std::string rows;
  CAF_REQUIRE(read(port, rows));
  CAF_CHECK_EQUAL(port, r_port);
  CAF_CHECK_EQUAL(rows, "0");

  // 2. Cut R's stream: R keeps running, in recovery, without a primary.
  auto saved = replica.scalar("SHOW primary_conninfo", ok);
  CAF_REQUIRE(ok);
  CAF_REQUIRE(!saved.empty());
  CAF_REQUIRE(replica.exec("ALTER SYSTEM SET primary_conninfo = ''"));
  replica.scalar("SELECT pg_reload_conf()::text", ok);
  CAF_REQUIRE(ok);
  auto cut_deadline = clock_type::now() + 10s;
  std::string receivers = "1";
  while (receivers != "0" && clock_type::now() < cut_deadline) {
    std::this_thread::sleep_for(50ms);
    receivers = replica.scalar("SELECT count(*) FROM pg_stat_wal_receiver", ok);
  }
  CAF_REQUIRE_EQUAL(receivers, "0");
  // What R can tell by itself: it replayed all it received, so a check on
  // R alone (the replica's own estimate) reads lag 0.
  auto caught_up = replica.scalar(
    "SELECT (pg_is_in_recovery() AND pg_last_wal_replay_lsn() >= "
    "pg_last_wal_receive_lsn())::text",
    ok);
  CAF_CHECK_EQUAL(caught_up, "true");
  CAF_CHECK(replica_of(*stats(p)).serving);

  // 3. P writes; R falls behind and goes out within max_replica_lag plus a
  // few checks; a read then runs on P and sees the rows.
  auto t_write = clock_type::now();
  int written = 0;
  auto out_deadline = t_write + 6s;
  bool out = false;
  while (!out && clock_type::now() < out_deadline) {
    if (write())
      ++written;
    std::this_thread::sleep_for(100ms);
    auto st = stats(p);
    out = st && !serving(*st);
  }
  auto t_out = clock_type::now();
  CAF_REQUIRE(out);
  auto st = stats(p);
  CAF_REQUIRE(st);
  auto reason = replica_of(*st).reason;
  CAF_MESSAGE("R out " << ms_between(t_write, t_out)
                       << " ms after the first write after the cut (" << written
                       << " writes): " << reason);
  CAF_CHECK_NOT_EQUAL(reason.find("above max_replica_lag"), std::string::npos);
  CAF_CHECK_GREATER_OR_EQUAL(replica_of(*st).lag, caf::timespan{1s});
  CAF_REQUIRE(read(port, rows));
  CAF_CHECK_EQUAL(port, p_port);
  CAF_CHECK_EQUAL(rows, std::to_string(written));
  auto after_read = stats(p);
  CAF_REQUIRE(after_read);
  CAF_CHECK_EQUAL(after_read->reads_on_primary, st->reads_on_primary + 1);

  // 4. The stream comes back: R catches up and serves again.
  CAF_REQUIRE(
    replica.exec("ALTER SYSTEM SET primary_conninfo = " + literal(saved)));
  replica.scalar("SELECT pg_reload_conf()::text", ok);
  CAF_REQUIRE(ok);
  auto t_back = clock_type::now();
  auto back = wait_for_stats(p, serving, 15000ms);
  CAF_REQUIRE(back.second);
  CAF_MESSAGE("R serves again " << ms_since(t_back)
                                << " ms after its stream was restored");
  CAF_REQUIRE(read(port, rows));
  CAF_CHECK_EQUAL(port, r_port);
  CAF_CHECK_EQUAL(rows, std::to_string(written));
}

CAF_TEST_FIXTURE_SCOPE_END()
