// Host lists and target_session_attrs, against the primary P and the
// streaming replica R that scripts/lib.sh pg_start runs (POOL_TEST_PGPORT,
// POOL_TEST_REPLICA_PORT, both on 127.0.0.1). Where a connection landed is
// checked twice: by the server (inet_server_port(), pg_is_in_recovery(),
// asked through the pool) and by the pool (pool_stats::connections_by_host).

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE multihost
#include "caf/test/unit_test.hpp"

#include <map>
#include <sstream>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "fixture.hpp"

using namespace it;

namespace {

using clock_type = std::chrono::steady_clock;

/// A password that the trust-authenticated server ignores: distinctive, so
/// that finding it in an error means it leaked.
constexpr const char* canary_password = "Mh_C4nary_Pw_z8Q";

long long ms_since(clock_type::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           clock_type::now() - t0)
    .count();
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
std::string closed_port() {
  auto fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    CAF_FAIL("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    CAF_FAIL("bind/getsockname on 127.0.0.1 failed");
  }
  ::close(fd);
  return std::to_string(ntohs(addr.sin_port));
}

/// The number of times `needle` occurs in `haystack`.
size_t occurrences(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (auto i = haystack.find(needle); i != std::string::npos;
       i = haystack.find(needle, i + needle.size()))
    ++n;
  return n;
}

/// What a connection reached, as the server sees it.
struct landing {
  std::string port;     ///< inet_server_port()
  std::string recovery; ///< pg_is_in_recovery(): "t" or "f"
};

struct multihost_fixture : fixture {
  /// POOL_TEST_PGPORT: the primary.
  std::string primary;
  /// POOL_TEST_REPLICA_PORT: its streaming replica.
  std::string replica;
  /// A port where nothing listens.
  std::string dead;

  multihost_fixture() {
    primary = cluster_port("POOL_TEST_PGPORT", "multihost");
    replica = cluster_port("POOL_TEST_REPLICA_PORT", "multihost");
    dead = closed_port();
  }

  /// "host=127.0.0.1,... port=<ports> ..." with one host per port.
  static std::string conninfo(const std::vector<std::string>& ports,
                              const std::string& attrs) {
    std::string hosts;
    std::string port_list;
    for (auto& p : ports) {
      hosts += (hosts.empty() ? "" : ",") + std::string{"127.0.0.1"};
      port_list += (port_list.empty() ? "" : ",") + p;
    }
    auto result =
      "host=" + hosts + " port=" + port_list + " user=postgres dbname=pooltest";
    if (!attrs.empty())
      result += " target_session_attrs=" + attrs;
    return result;
  }

  /// A pool of `n` connections (min = max = n) with `ci`.
  pool::pool_actor spawn_n(const std::string& ci, size_t n) {
    auto pc = make_config(n, n);
    pc.conninfo = ci;
    return spawn(pc);
  }

  /// The server's view of the connection a pooled query ran on.
  landing where(const pool::pool_actor& p) {
    auto r = query(p, "SELECT inet_server_port()::text, "
                      "pg_is_in_recovery()::text");
    if (!r)
      CAF_FAIL("SELECT inet_server_port() failed: " << describe(r));
    if (r->rows() != 1 || r->columns.size() != 2)
      CAF_FAIL("SELECT inet_server_port() returned " << r->rows() << " rows");
    auto rec = r->at(0, 1);
    return {r->at(0, 0), rec == "true" || rec == "t" ? "t" : "f"};
  }

  /// Checks that the pool's `n` connections all landed on `port` (in
  /// recovery or not as `recovery` says): every connection, leased one by
  /// one, reports that port and recovery state, and connections_by_host
  /// holds exactly {"127.0.0.1:<port>": n}.
  void check_all_on(const pool::pool_actor& p, size_t n,
                    const std::string& port, const std::string& recovery) {
    auto warm = wait_for_stats(
      p,
      [n](const pool::pool_stats& st) {
        return st.total - st.connecting >= n && st.connecting == 0;
      },
      10000ms);
    CAF_REQUIRE(warm.second);
    // The server's view, of each connection: lease them all at once.
    std::vector<pool::lease> leases;
    for (size_t i = 0; i < n; ++i) {
      auto l = acquire(p, caf::timespan{5s});
      if (!l) {
        CAF_ERROR("acquire " << i << ": " << describe(l));
        break;
      }
      leases.push_back(*l);
    }
    for (auto& l : leases) {
      auto port_seen = scalar(l, "SELECT inet_server_port()::text");
      auto rec = scalar(l, "SELECT pg_is_in_recovery()::text");
      CAF_CHECK_EQUAL(port_seen, port);
      CAF_CHECK_EQUAL(rec == "true"    ? "t"
                      : rec == "false" ? "f"
                                       : rec,
                      recovery);
    }
    for (auto& l : leases)
      CAF_CHECK(release(p, l.id));
    // The pool's view.
    auto st = stats(p);
    CAF_REQUIRE(st);
    std::map<std::string, uint32_t> want{
      {"127.0.0.1:" + port, static_cast<uint32_t>(n)}};
    std::ostringstream seen;
    for (auto& kv : st->connections_by_host)
      seen << ' ' << kv.first << '=' << kv.second;
    CAF_MESSAGE("connections_by_host:" << seen.str());
    CAF_CHECK(st->connections_by_host == want);
    // A pooled query agrees.
    auto w = where(p);
    CAF_CHECK_EQUAL(w.port, port);
    CAF_CHECK_EQUAL(w.recovery, recovery);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(multihost_tests, multihost_fixture)

/// Proves: with a host list whose first entry refuses connections, every
/// connection lands on the second (the primary), and the pool reports it
/// there, in its stats and in its log ("connection N opened to
/// 127.0.0.1:P").
CAF_TEST(a dead first host is skipped) {
  std::ostringstream text;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text);
  auto lg = std::make_shared<spdlog::logger>("multihost", sink);
  lg->set_level(spdlog::level::info);
  auto pc = make_config(3, 3);
  pc.conninfo = conninfo({dead, primary}, "");
  pc.logger = lg;
  auto p = spawn(pc);
  check_all_on(p, 3, primary, "f");
  auto st = stats(p);
  CAF_REQUIRE(st);
  CAF_CHECK_EQUAL(st->connect_failures, 0u);
  lg->flush();
  auto log = text.str();
  CAF_CHECK_EQUAL(occurrences(log, " opened to 127.0.0.1:" + primary + " "),
                  3u);
  CAF_CHECK_EQUAL(occurrences(log, " opened to 127.0.0.1:" + dead), 0u);
  if (occurrences(log, " opened to 127.0.0.1:" + primary + " ") != 3)
    CAF_MESSAGE("the pool's log:\n" << log);
  shutdown(p);
}

/// Proves: read-write and primary skip the replica listed first.
CAF_TEST(read_write and primary land on the primary) {
  for (auto attrs : {"read-write", "primary"}) {
    CAF_MESSAGE("target_session_attrs=" << attrs);
    auto p = spawn_n(conninfo({replica, primary}, attrs), 2);
    check_all_on(p, 2, primary, "f");
    shutdown(p);
  }
}

/// Proves: standby and prefer-standby skip the primary listed first.
CAF_TEST(standby and prefer_standby land on the replica) {
  for (auto attrs : {"standby", "prefer-standby"}) {
    CAF_MESSAGE("target_session_attrs=" << attrs);
    auto p = spawn_n(conninfo({primary, replica}, attrs), 2);
    check_all_on(p, 2, replica, "t");
    // The replica is read-only: a write fails with SQLSTATE 25006.
    auto w = query(p, "CREATE TEMP TABLE mh_probe (x int)");
    CAF_CHECK(!w);
    if (!w) {
      CAF_MESSAGE("write on the replica: " << describe(w));
      CAF_CHECK(pool::is(w.error(), pool::pool_errc::query_failed));
      CAF_CHECK_EQUAL(pool::sqlstate(w.error()), "25006");
    }
    shutdown(p);
  }
}

/// Proves: prefer-standby takes the primary when no standby is there: only
/// the primary listed, or the replica's entry unreachable.
CAF_TEST(prefer_standby falls back to the primary) {
  {
    CAF_MESSAGE("only the primary listed");
    auto p = spawn_n(conninfo({primary}, "prefer-standby"), 2);
    check_all_on(p, 2, primary, "f");
    shutdown(p);
  }
  {
    CAF_MESSAGE("the replica's entry unreachable");
    auto p = spawn_n(conninfo({primary, dead}, "prefer-standby"), 2);
    check_all_on(p, 2, primary, "f");
    shutdown(p);
  }
}

/// Proves: standby with only the primary listed fails fast with
/// connect_failed (not auth_failed: another try may find a standby), with
/// libpq's reason and without the password from the conninfo.
CAF_TEST(standby without a standby fails as connect_failed) {
  auto pc = make_config(0, 2);
  pc.conninfo = conninfo({primary}, "standby") + " password=" + canary_password;
  auto p = spawn(pc);
  auto t0 = clock_type::now();
  auto r = query(p, "SELECT 1");
  auto ms = ms_since(t0);
  CAF_MESSAGE("SELECT 1 answered after " << ms << " ms: " << describe(r));
  CAF_REQUIRE(!r);
  CAF_CHECK(pool::is(r.error(), pool::pool_errc::connect_failed));
  CAF_CHECK(!pool::is(r.error(), pool::pool_errc::auth_failed));
  auto text = pool::describe(r.error());
  CAF_CHECK(text.find("not in hot standby mode") != std::string::npos);
  CAF_CHECK(text.find(canary_password) == std::string::npos);
  CAF_CHECK_LESS(ms, 3000);
  auto st = wait_for_stats(p, [](const pool::pool_stats& s) {
    return s.connect_failures >= 1 && s.connecting == 0;
  });
  CAF_CHECK(st.second);
  CAF_MESSAGE("last_connect_error: " << st.first.last_connect_error);
  CAF_CHECK(st.first.last_connect_error.find("not in hot standby mode") !=
            std::string::npos);
  CAF_CHECK(st.first.last_connect_error.find(canary_password) ==
            std::string::npos);
  CAF_CHECK_EQUAL(st.first.connections_created, 0u);
  CAF_CHECK(st.first.connections_by_host.empty());
}

CAF_TEST_FIXTURE_SCOPE_END()
