#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE serialization
#include "fixture.hpp"
#include "lease_stub.hpp"

#include "pool/error.hpp"
#include "pool/remote.hpp"

#include <iterator>
#include <sstream>

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

// Every field of every message type survives CAF's binary serialization,
// which is what crosses the network between nodes. Each test sets every
// field to a distinct value that is not its default and compares every field
// after the round trip, so a field that `inspect` leaves out comes back with
// its default and fails the comparison.
//
// Tripwires for fields added later: the structured bindings below name every
// data member, so a new member makes them fail to compile (and a static
// assert on sizeof says the same for types that cannot be bound); whoever
// adds a field must then set and compare it here, and add it to `inspect`.

namespace {

// Serializes `x` with CAF's binary serializer and reads it back.
template <class T>
T round_trip(caf::actor_system& sys, T x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  if (auto err = sink(x))
    CAF_FAIL("cannot serialize: " << sys.render(err));
  T result;
  caf::binary_deserializer source{sys, buf};
  if (auto err = source(result))
    CAF_FAIL("cannot deserialize: " << sys.render(err));
  return result;
}

// Counts the fields that differ between `x` and `y`, naming each.
struct diff {
  int n = 0;
  template <class T>
  void operator()(const char* name, const T& x, const T& y) {
    if (x == y)
      return;
    ++n;
    CAF_MESSAGE("field differs after the round trip: " << name);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(serialization_tests, fixture)

CAF_TEST(every field of pool_stats survives) {
  static_assert(sizeof(pool_stats) == 704,
                "pool_stats changed: set and compare the new field here and "
                "add it to inspect");
  pool_stats st;
  auto& [total, idle, leased, busy, connecting, cleaning, waiting, acquired,
         acquire_timeouts, rejected, connections_created, connections_closed,
         connect_failures, leases_reclaimed, wait_time_total, shutting_down,
         shed, overloaded, leaks, leases_timed_out, health_check_failures,
         connections_recycled, pipelined, breaker, breaker_opened,
         last_connect_error, connections_closed_by, errors_by_class,
         breaker_half_opened, breaker_closed, acquire_wait, query_time,
         connection_lifetime, paused, connections_reset, by_priority,
         connections_by_host, replicas, reads_on_primary, listen, max_open,
         limited] = st;
  total = 1;
  idle = 2;
  leased = 3;
  busy = 4;
  connecting = 5;
  cleaning = 6;
  waiting = 7;
  acquired = 101;
  acquire_timeouts = 102;
  rejected = 103;
  connections_created = 104;
  connections_closed = 105;
  connect_failures = 106;
  leases_reclaimed = 107;
  wait_time_total = caf::timespan{123456789};
  shutting_down = true;
  shed = 108;
  overloaded = true;
  leaks = 109;
  leases_timed_out = 110;
  health_check_failures = 111;
  connections_recycled = 112;
  pipelined = 113;
  breaker = breaker_state::half_open;
  breaker_opened = 114;
  last_connect_error = "connect_failed: refused";
  connections_closed_by = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  errors_by_class = {{"23", 115}, {"40", 116}};
  breaker_half_opened = 117;
  breaker_closed = 118;
  acquire_wait.observe(std::chrono::microseconds(70));
  query_time.observe(std::chrono::seconds(20));
  query_time.observe(std::chrono::milliseconds(3));
  connection_lifetime.observe(std::chrono::minutes(2));
  paused = true;
  connections_reset = 115;
  for (size_t i = 0; i < by_priority.size(); ++i) {
    auto& [a, t, w, n] = by_priority[i];
    a = 200 + i;
    t = 210 + i;
    w = caf::timespan{220 + static_cast<int64_t>(i)};
    n = static_cast<uint32_t>(230 + i);
  }
  connections_by_host = {{"db1:5432", 240}};
  reads_on_primary = 241;
  replicas.resize(1);
  replicas[0].name = "r1";
  replicas[0].serving = true;
  replicas[0].lag = caf::timespan{242};
  replicas[0].lag_checks = 243;
  replicas[0].lag_check_failures = 244;
  replicas[0].reads = 245;
  replicas[0].reason = "lag 1s";
  replicas[0].connections_by_host = {{"db2:5433", 246}};
  listen = listen_stats{1, 247, 248, 249, 250, 251};
  max_open = 252;
  limited = true;
  auto copy = round_trip(sys, st);
  auto& [total2, idle2, leased2, busy2, connecting2, cleaning2, waiting2,
         acquired2, acquire_timeouts2, rejected2, connections_created2,
         connections_closed2, connect_failures2, leases_reclaimed2,
         wait_time_total2, shutting_down2, shed2, overloaded2, leaks2,
         leases_timed_out2, health_check_failures2, connections_recycled2,
         pipelined2, breaker2, breaker_opened2, last_connect_error2,
         connections_closed_by2, errors_by_class2, breaker_half_opened2,
         breaker_closed2, acquire_wait2, query_time2, connection_lifetime2,
         paused2, connections_reset2, by_priority2, connections_by_host2,
         replicas2, reads_on_primary2, listen2, max_open2, limited2] = copy;
  diff d;
  d("total", total, total2);
  d("idle", idle, idle2);
  d("leased", leased, leased2);
  d("busy", busy, busy2);
  d("connecting", connecting, connecting2);
  d("cleaning", cleaning, cleaning2);
  d("waiting", waiting, waiting2);
  d("acquired", acquired, acquired2);
  d("acquire_timeouts", acquire_timeouts, acquire_timeouts2);
  d("rejected", rejected, rejected2);
  d("connections_created", connections_created, connections_created2);
  d("connections_closed", connections_closed, connections_closed2);
  d("connect_failures", connect_failures, connect_failures2);
  d("leases_reclaimed", leases_reclaimed, leases_reclaimed2);
  d("wait_time_total", wait_time_total, wait_time_total2);
  d("shutting_down", shutting_down, shutting_down2);
  d("shed", shed, shed2);
  d("overloaded", overloaded, overloaded2);
  d("leaks", leaks, leaks2);
  d("leases_timed_out", leases_timed_out, leases_timed_out2);
  d("health_check_failures", health_check_failures, health_check_failures2);
  d("connections_recycled", connections_recycled, connections_recycled2);
  d("pipelined", pipelined, pipelined2);
  d("breaker", breaker, breaker2);
  d("breaker_opened", breaker_opened, breaker_opened2);
  d("last_connect_error", last_connect_error, last_connect_error2);
  d("connections_closed_by", connections_closed_by, connections_closed_by2);
  d("errors_by_class", errors_by_class, errors_by_class2);
  d("breaker_half_opened", breaker_half_opened, breaker_half_opened2);
  d("breaker_closed", breaker_closed, breaker_closed2);
  d("acquire_wait", acquire_wait, acquire_wait2);
  d("query_time", query_time, query_time2);
  d("connection_lifetime", connection_lifetime, connection_lifetime2);
  d("paused", paused, paused2);
  d("connections_reset", connections_reset, connections_reset2);
  d("max_open", max_open, max_open2);
  d("limited", limited, limited2);
  CAF_REQUIRE_EQUAL(by_priority2.size(), by_priority.size());
  for (size_t i = 0; i < by_priority.size(); ++i) {
    auto& [a, t, w, n] = by_priority[i];
    auto& [a2, t2, w2, n2] = by_priority2[i];
    d("by_priority.acquired", a, a2);
    d("by_priority.acquire_timeouts", t, t2);
    d("by_priority.wait_time_total", w, w2);
    d("by_priority.waiting", n, n2);
  }
  d("connections_by_host", connections_by_host, connections_by_host2);
  d("reads_on_primary", reads_on_primary, reads_on_primary2);
  {
    static_assert(sizeof(listen_stats) == 40,
                  "listen_stats changed: compare the new field here");
    auto& [c, ch, sub, rec, del, re] = listen;
    auto& [c2, ch2, sub2, rec2, del2, re2] = listen2;
    d("listen.connections", c, c2);
    d("listen.channels", ch, ch2);
    d("listen.subscriptions", sub, sub2);
    d("listen.received", rec, rec2);
    d("listen.delivered", del, del2);
    d("listen.reconnects", re, re2);
    listen_stats def;
    CAF_CHECK(def.connections != c && def.channels != ch &&
              def.subscriptions != sub && def.received != rec &&
              def.delivered != del && def.reconnects != re);
  }
  CAF_REQUIRE_EQUAL(replicas2.size(), 1u);
  {
    auto& [n, s, l, c, f, r, why, h] = replicas[0];
    auto& [n2, s2, l2, c2, f2, r2, why2, h2] = replicas2[0];
    d("replicas.name", n, n2);
    d("replicas.serving", s, s2);
    d("replicas.lag", l, l2);
    d("replicas.lag_checks", c, c2);
    d("replicas.lag_check_failures", f, f2);
    d("replicas.reads", r, r2);
    d("replicas.reason", why, why2);
    d("replicas.connections_by_host", h, h2);
    replica_stats def;
    CAF_CHECK(!def.serving && s);
    CAF_CHECK(def.name != n && def.lag != l && def.lag_checks != c &&
              def.lag_check_failures != f && def.reads != r &&
              def.reason != why && def.connections_by_host != h);
  }
  CAF_CHECK_EQUAL(d.n, 0);
  // The values set are not the defaults: a field left out of `inspect`
  // would come back different.
  diff from_default;
  pool_stats def;
  auto& [t0, i0, l0, b0, c0, cl0, w0, a0, at0, r0, cc0, ccl0, cf0, lr0, wt0,
         sd0, sh0, o0, lk0, lt0, hf0, cr0, p0, br0, bo0, le0, cb0, ec0, bh0,
         bc0, aw0, qt0, cl0t, pa0, rs0, bp0, bh00, rp00, ro00, li00, mo0, lm0] =
    def;
  from_default("total", total, t0);
  from_default("idle", idle, i0);
  from_default("leased", leased, l0);
  from_default("busy", busy, b0);
  from_default("connecting", connecting, c0);
  from_default("cleaning", cleaning, cl0);
  from_default("waiting", waiting, w0);
  from_default("acquired", acquired, a0);
  from_default("acquire_timeouts", acquire_timeouts, at0);
  from_default("rejected", rejected, r0);
  from_default("connections_created", connections_created, cc0);
  from_default("connections_closed", connections_closed, ccl0);
  from_default("connect_failures", connect_failures, cf0);
  from_default("leases_reclaimed", leases_reclaimed, lr0);
  from_default("wait_time_total", wait_time_total, wt0);
  from_default("shutting_down", shutting_down, sd0);
  from_default("shed", shed, sh0);
  from_default("overloaded", overloaded, o0);
  from_default("leaks", leaks, lk0);
  from_default("leases_timed_out", leases_timed_out, lt0);
  from_default("health_check_failures", health_check_failures, hf0);
  from_default("connections_recycled", connections_recycled, cr0);
  from_default("pipelined", pipelined, p0);
  from_default("breaker", breaker, br0);
  from_default("breaker_opened", breaker_opened, bo0);
  from_default("last_connect_error", last_connect_error, le0);
  from_default("connections_closed_by", connections_closed_by, cb0);
  from_default("errors_by_class", errors_by_class, ec0);
  from_default("breaker_half_opened", breaker_half_opened, bh0);
  from_default("breaker_closed", breaker_closed, bc0);
  from_default("acquire_wait", acquire_wait, aw0);
  from_default("query_time", query_time, qt0);
  from_default("connection_lifetime", connection_lifetime, cl0t);
  from_default("paused", paused, pa0);
  from_default("connections_reset", connections_reset, rs0);
  CAF_REQUIRE_EQUAL(bp0.size(), priority_classes);
  for (size_t i = 0; i < priority_classes; ++i)
    from_default("by_priority.acquired", by_priority[i].acquired,
                 bp0[i].acquired);
  from_default("connections_by_host", connections_by_host, bh00);
  from_default("reads_on_primary", reads_on_primary, ro00);
  from_default("max_open", max_open, mo0);
  from_default("limited", limited, lm0);
  CAF_CHECK(rp00.empty() && !replicas.empty());
  CAF_CHECK(li00.received == 0 && listen.received != 0);
  CAF_CHECK_EQUAL(from_default.n, 39 + priority_classes);
}

// to_string(pool_stats) labels every field with its value; the structured
// binding fails to compile when a field is added, like the test above.
CAF_TEST(pool_stats prints every field labelled) {
  pool_stats st;
  auto& [total, idle, leased, busy, connecting, cleaning, waiting, acquired,
         acquire_timeouts, rejected, connections_created, connections_closed,
         connect_failures, leases_reclaimed, wait_time_total, shutting_down,
         shed, overloaded, leaks, leases_timed_out, health_check_failures,
         connections_recycled, pipelined, breaker, breaker_opened,
         last_connect_error, connections_closed_by, errors_by_class,
         breaker_half_opened, breaker_closed, acquire_wait, query_time,
         connection_lifetime, paused, connections_reset, by_priority,
         connections_by_host, replicas, reads_on_primary, listen, max_open,
         limited] = st;
  total = 1;
  idle = 2;
  leased = 3;
  busy = 4;
  connecting = 5;
  cleaning = 6;
  waiting = 7;
  acquired = 101;
  acquire_timeouts = 102;
  rejected = 103;
  connections_created = 104;
  connections_closed = 105;
  connect_failures = 106;
  leases_reclaimed = 107;
  wait_time_total = caf::timespan{123456789};
  shutting_down = true;
  shed = 108;
  overloaded = true;
  leaks = 109;
  leases_timed_out = 110;
  health_check_failures = 111;
  connections_recycled = 112;
  pipelined = 113;
  breaker = breaker_state::half_open;
  breaker_opened = 114;
  last_connect_error = "connect_failed: refused";
  connections_closed_by = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  errors_by_class = {{"23", 115}, {"40", 116}};
  breaker_half_opened = 117;
  breaker_closed = 118;
  acquire_wait.observe(std::chrono::microseconds(70));
  query_time.observe(std::chrono::seconds(20));
  query_time.observe(std::chrono::milliseconds(3));
  connection_lifetime.observe(std::chrono::minutes(2));
  paused = true;
  connections_reset = 115;
  by_priority[0].acquired = 116;
  by_priority[1].acquire_timeouts = 117;
  by_priority[2].wait_time_total = caf::timespan{2500000};
  by_priority[2].waiting = 118;
  connections_by_host = {{"db1:5432", 3}, {"db2:5433", 1}};
  reads_on_primary = 119;
  replica_stats rs;
  rs.name = "r1";
  rs.serving = true;
  rs.lag = std::chrono::milliseconds(1500);
  rs.lag_checks = 120;
  rs.lag_check_failures = 121;
  rs.reads = 122;
  rs.reason = "lag check failed: x";
  rs.connections_by_host = {{"db2:5433", 2}};
  replicas.push_back(rs);
  listen = listen_stats{1, 2, 3, 123, 124, 125};
  max_open = 126;
  limited = true;
  auto text = to_string(st);
  CAF_MESSAGE(text);
  const char* expected[] = {"total=1",
                            "idle=2",
                            "leased=3",
                            "busy=4",
                            "connecting=5",
                            "cleaning=6",
                            "waiting=7",
                            "acquired=101",
                            "acquire_timeouts=102",
                            "rejected=103",
                            "connections_created=104",
                            "connections_closed=105",
                            "connect_failures=106",
                            "leases_reclaimed=107",
                            "wait_time_total=123.457ms",
                            "shutting_down=true",
                            "shed=108",
                            "overloaded=true",
                            "leaks=109",
                            "leases_timed_out=110",
                            "health_check_failures=111",
                            "connections_recycled=112",
                            "pipelined=113",
                            "breaker=half_open",
                            "breaker_opened=114",
                            "last_connect_error=\"connect_failed: refused\"",
                            "closed_by=lifetime:1,idle_timeout:2,"
                            "health_check:3,lost:4,reset:5,shrink:6,"
                            "shutdown:7,hook:8,other:9",
                            "errors_by_class=23:115,40:116",
                            "breaker_half_opened=117",
                            "breaker_closed=118",
                            "acquire_wait=count:1,sum:0.070ms",
                            "query_time=count:2,sum:20003.000ms",
                            "connection_lifetime=count:1,sum:120000.000ms",
                            "paused=true",
                            "connections_reset=115",
                            "interactive.acquired=116",
                            "normal.acquire_timeouts=117",
                            "batch.wait_time_total=2.500ms",
                            "batch.waiting=118",
                            "connections_by_host=db1:5432=3,db2:5433=1",
                            "replica.r1.serving=true",
                            "replica.r1.lag=1500.000ms",
                            "replica.r1.lag_checks=120",
                            "replica.r1.lag_check_failures=121",
                            "replica.r1.reads=122",
                            "replica.r1.reason=\"lag check failed: x\"",
                            "replica.r1.connections_by_host=db2:5433=2",
                            "reads_on_primary=119",
                            "listen.connections=1",
                            "listen.channels=2",
                            "listen.subscriptions=3",
                            "listen.received=123",
                            "listen.delivered=124",
                            "listen.reconnects=125",
                            "max_open=126",
                            "limited=true"};
  CAF_CHECK_EQUAL(std::size(expected), 56u);
  for (auto x : expected) {
    // Preceded by the start or a space, so "total=" does not match inside
    // "wait_time_total=".
    auto pos = (" " + text).find(std::string{" "} + x);
    if (pos == std::string::npos)
      CAF_ERROR("not in to_string(pool_stats): " << x);
  }
  std::ostringstream out;
  out << st;
  CAF_CHECK_EQUAL(out.str(), text);
}

CAF_TEST(every field of breaker_event survives) {
  static_assert(sizeof(breaker_event) == 72,
                "breaker_event changed: set and compare the new field here "
                "and add it to inspect");
  breaker_event ev;
  auto& [state, previous, reason, pool_name] = ev;
  state = breaker_state::open;
  previous = breaker_state::half_open;
  reason = "3 consecutive connect failures";
  pool_name = "orders.replica1";
  auto copy = round_trip(sys, ev);
  auto& [state2, previous2, reason2, pool_name2] = copy;
  CAF_CHECK_EQUAL(state2, breaker_state::open);
  CAF_CHECK_EQUAL(previous2, breaker_state::half_open);
  CAF_CHECK_EQUAL(reason2, "3 consecutive connect failures");
  CAF_CHECK_EQUAL(pool_name2, "orders.replica1");
  breaker_event def;
  CAF_CHECK_NOT_EQUAL(def.state, state);
  CAF_CHECK_NOT_EQUAL(def.previous, previous);
}

CAF_TEST(every field of statement and its params survives) {
  static_assert(sizeof(param) == 40,
                "param changed: compare the new field here, add it to "
                "operator== and inspect");
  statement q{"SELECT $1, $2, $3, $4", {nullptr, "", "x y", 42}};
  auto& [sql, params, read_only] = q;
  read_only = true; // not the default
  auto copy = round_trip(sys, q);
  auto& [sql2, params2, read_only2] = copy;
  CAF_CHECK_EQUAL(sql2, sql);
  CAF_CHECK(read_only2);
  CAF_REQUIRE_EQUAL(params2.size(), 4u);
  CAF_CHECK(params2[0].is_null());
  CAF_REQUIRE(!params2[1].is_null());
  CAF_CHECK_EQUAL(params2[1].text(), "");
  CAF_REQUIRE(!params2[2].is_null());
  CAF_CHECK_EQUAL(params2[2].text(), "x y");
  CAF_REQUIRE(!params2[3].is_null());
  CAF_CHECK_EQUAL(params2[3].text(), "42");
  CAF_CHECK(params2 == params);
  // Inside a message, as a request carries it.
  auto msg = round_trip(sys, caf::make_message(query_atom::value, q));
  CAF_REQUIRE((msg.match_elements<caf::atom_value, statement>()));
  CAF_CHECK_EQUAL(msg.get_as<statement>(1).sql, sql);
  CAF_CHECK(msg.get_as<statement>(1).params == params);
}

CAF_TEST(every field of query_result survives) {
  static_assert(sizeof(query_result) == 88,
                "query_result changed: set and compare the new field here "
                "and add it to inspect");
  static_assert(sizeof(column) == 40,
                "column changed: set and compare the new field here and add "
                "it to inspect");
  query_result res;
  auto& [columns, cells, affected, command_tag] = res;
  columns.push_back(column{"id", 23});
  columns.push_back(column{"name", 25});
  cells.emplace_back(std::string{"1"});
  cells.emplace_back(caf::none); // NULL
  cells.emplace_back(std::string{"2"});
  cells.emplace_back(std::string{""}); // the empty string, not NULL
  affected = 2;
  command_tag = "SELECT 2";
  auto copy = round_trip(sys, res);
  auto& [columns2, cells2, affected2, command_tag2] = copy;
  CAF_REQUIRE_EQUAL(columns2.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    auto& [name, oid] = columns[i];
    auto& [name2, oid2] = columns2[i];
    CAF_CHECK_EQUAL(name2, name);
    CAF_CHECK_EQUAL(oid2, oid);
  }
  CAF_CHECK(cells2 == cells);
  CAF_CHECK(copy.is_null(0, 1));
  CAF_CHECK(!copy.is_null(1, 1));
  CAF_CHECK_EQUAL(copy.at(1, 0), "2");
  CAF_CHECK_EQUAL(affected2, 2);
  CAF_CHECK_EQUAL(command_tag2, "SELECT 2");
  CAF_CHECK_EQUAL(copy.rows(), 2u);
}

CAF_TEST(every field of lease survives) {
  static_assert(sizeof(lease) == 16,
                "lease changed: set and compare the new field here and add "
                "it to inspect");
  auto worker = sys.spawn([]() -> lease_actor::behavior_type {
    return lease_stub(
      [](query_atom, uint64_t, statement&) { return query_result{}; });
  });
  clients.push_back(caf::actor_cast<caf::actor>(worker));
  lease l;
  auto& [id, handle] = l;
  id = 4711;
  handle = worker;
  auto copy = round_trip(sys, l);
  auto& [id2, handle2] = copy;
  CAF_CHECK_EQUAL(id2, 4711u);
  CAF_CHECK(handle2 == worker);
}

CAF_TEST(every field of pool_settings survives) {
  static_assert(sizeof(pool_settings) == 320,
                "pool_settings changed: set and compare the new field here "
                "and add it to inspect");
  pool_settings x;
  auto& [acq, qt, ct, mn, mx, hci, it, ml, vai, mw, lkt, lst, pa, ci, rq, scs,
         pd] = x;
  acq = caf::timespan{1};
  qt = caf::timespan{2};
  ct = caf::timespan{3};
  mn = 4;
  mx = 5;
  hci = caf::timespan{6};
  it = caf::timespan{7};
  ml = caf::timespan{8};
  vai = caf::timespan{9};
  mw = 10;
  lkt = caf::timespan{11};
  lst = caf::timespan{12};
  pa = caf::timespan{13};
  ci = std::string{"host=x"};
  rq = std::string{"DISCARD ALL"};
  scs = 14;
  pd = 15;
  auto copy = round_trip(sys, x);
  auto& [acq2, qt2, ct2, mn2, mx2, hci2, it2, ml2, vai2, mw2, lkt2, lst2, pa2,
         ci2, rq2, scs2, pd2] = copy;
  diff d;
  d("acquire_timeout", acq, acq2);
  d("query_timeout", qt, qt2);
  d("connect_timeout", ct, ct2);
  d("min_size", mn, mn2);
  d("max_size", mx, mx2);
  d("health_check_interval", hci, hci2);
  d("idle_timeout", it, it2);
  d("max_lifetime", ml, ml2);
  d("validate_after_idle", vai, vai2);
  d("max_waiters", mw, mw2);
  d("leak_threshold", lkt, lkt2);
  d("lease_timeout", lst, lst2);
  d("priority_aging", pa, pa2);
  d("conninfo", ci, ci2);
  d("reset_query", rq, rq2);
  d("statement_cache_size", scs, scs2);
  d("pipeline_depth", pd, pd2);
  CAF_CHECK_EQUAL(d.n, 0);
  // Unset fields stay unset.
  auto empty = round_trip(sys, pool_settings{});
  CAF_CHECK(!empty.acquire_timeout && !empty.conninfo && !empty.min_size);
  // A priority request, as it crosses the network.
  auto msg = round_trip(
    sys, caf::make_message(query_atom::value, priority::batch, statement{"x"}));
  CAF_REQUIRE((msg.match_elements<caf::atom_value, priority, statement>()));
  CAF_CHECK_EQUAL(msg.get_as<priority>(1), priority::batch);
  auto rmsg = round_trip(sys, caf::make_message(reconfigure_atom::value, x));
  CAF_REQUIRE((rmsg.match_elements<caf::atom_value, pool_settings>()));
  CAF_CHECK_EQUAL(*rmsg.get_as<pool_settings>(1).pipeline_depth, 15u);
}

// The relay's batches (connect_pool): what crosses the relay's own stream
// and the node link between a client node and its gateway.
CAF_TEST(every field of relay_query and relay_reply survives) {
  using detail::relay_query;
  using detail::relay_reply;
  relay_query q;
  auto& [key, prio, txn, stmt, stmts] = q;
  key = 0x1234567890ull;
  prio = priority::batch;
  txn = true;
  stmt = reads(statement{"SELECT $1::int", {7}});
  stmts = {statement{"SELECT 1", {}}, reads({"SELECT $1", {nullptr}})};
  auto qs = round_trip(sys, std::vector<relay_query>{q, relay_query{}});
  CAF_REQUIRE_EQUAL(qs.size(), 2u);
  auto& [key2, prio2, txn2, stmt2, stmts2] = qs[0];
  CAF_CHECK_EQUAL(key2, key);
  CAF_CHECK(prio2 == priority::batch);
  CAF_CHECK(txn2);
  CAF_CHECK_EQUAL(stmt2.sql, stmt.sql);
  CAF_CHECK(stmt2.params == stmt.params);
  CAF_CHECK(stmt2.read_only);
  CAF_REQUIRE_EQUAL(stmts2.size(), 2u);
  CAF_CHECK(!stmts2[0].read_only);
  CAF_CHECK(stmts2[1].read_only);
  CAF_CHECK_EQUAL(stmts2[1].sql, "SELECT $1");
  CAF_CHECK(stmts2[1].params == stmts[1].params);
  CAF_CHECK_EQUAL(qs[1].key, 0u);
  CAF_CHECK(!qs[1].txn);
  relay_reply r;
  auto& [rkey, err, result, results] = r;
  rkey = 99;
  err = make_error(pool_errc::query_failed, "42601: syntax error");
  result.command_tag = "SELECT 1";
  result.affected = 1;
  results.resize(3);
  results[2].command_tag = "INSERT 0 5";
  auto rs = round_trip(sys, std::vector<relay_reply>{r});
  CAF_REQUIRE_EQUAL(rs.size(), 1u);
  auto& [rkey2, err2, result2, results2] = rs[0];
  CAF_CHECK_EQUAL(rkey2, 99u);
  CAF_CHECK(is(err2, pool_errc::query_failed));
  CAF_CHECK_EQUAL(sys.render(err2), sys.render(err));
  CAF_CHECK_EQUAL(result2.command_tag, "SELECT 1");
  CAF_CHECK_EQUAL(result2.affected, 1);
  CAF_REQUIRE_EQUAL(results2.size(), 3u);
  CAF_CHECK_EQUAL(results2[2].command_tag, "INSERT 0 5");
}

CAF_TEST_FIXTURE_SCOPE_END()
