// How the libpq backend connects and cancels, against a real server and
// sockets the test opens itself: connects run on the readiness path (no
// thread per connect), hang-ups are abandoned at connect_timeout and their
// sockets closed, libpq replacing the socket (next host of a list) is
// followed, host names go through the backend's one blocking thread, and a
// cancel still reaches the server.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE connect
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <atomic>
#include <cerrno>
#include <mutex>

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "fixture.hpp"

using namespace it;

namespace {

using clock_type = std::chrono::steady_clock;

/// Returns the number of threads of this process (/proc/self/task).
size_t thread_count() {
  size_t n = 0;
  if (auto dir = ::opendir("/proc/self/task")) {
    while (auto e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(dir);
  }
  if (n == 0)
    CAF_FAIL("cannot read /proc/self/task");
  return n;
}

/// A TCP socket bound to a free port of 127.0.0.1. With `listening`, it
/// accepts connections (on a thread of its own) and never sends a byte,
/// like a server that hangs; without, connects to its port are refused.
class tcp_sink {
 public:
  explicit tcp_sink(bool listening) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    auto sa = reinterpret_cast<sockaddr*>(&addr);
    if (fd_ < 0 || ::bind(fd_, sa, len) != 0 ||
        ::getsockname(fd_, sa, &len) != 0 ||
        (listening && ::listen(fd_, 64) != 0))
      CAF_FAIL("cannot open a local TCP socket: errno " << errno);
    port_ = ntohs(addr.sin_port);
    if (listening)
      thread_ = std::thread{[this] { accept_loop(); }};
  }

  ~tcp_sink() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
    for (auto fd : accepted_)
      ::close(fd);
    ::close(fd_);
  }

  uint16_t port() const { return port_; }

  /// Connections accepted so far.
  size_t accepted() {
    std::lock_guard<std::mutex> guard{mtx_};
    return accepted_.size();
  }

  /// Accepted connections that the peer has closed (end of file after
  /// whatever it sent). Reads without blocking.
  size_t closed_by_peer() {
    std::lock_guard<std::mutex> guard{mtx_};
    size_t n = 0;
    char buf[512];
    for (auto fd : accepted_) {
      for (;;) {
        auto got = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (got > 0)
          continue; // the startup packet: drop it
        if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
          ++n; // end of file (or reset): closed
        break;
      }
    }
    return n;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      auto c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) {
        std::lock_guard<std::mutex> guard{mtx_};
        accepted_.push_back(c);
      }
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mtx_;
  std::vector<int> accepted_;
};

/// The test server's TCP port (scripts/test exports POOL_TEST_PGPORT).
std::string server_port() {
  auto port = std::getenv("POOL_TEST_PGPORT");
  if (port == nullptr || *port == '\0')
    CAF_FAIL("POOL_TEST_PGPORT is not set: run the tests with scripts/test");
  return port;
}

struct connect_fixture : fixture {
  /// Waits (bounded by `limit`) until `pred` holds; returns whether it did.
  bool eventually(const std::function<bool()>& pred,
                  std::chrono::milliseconds limit = 5000ms) {
    auto deadline = clock_type::now() + limit;
    while (!pred()) {
      if (clock_type::now() >= deadline)
        return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  /// Eight connections to `host` on the port of `sink`, which never answers,
  /// with connect_timeout 300 ms and a breaker that stays open once open.
  /// Checks that all eight connects are in flight at once without a thread
  /// each, that requests are answered with the timeout, that the pool
  /// counts the failures and that every socket it opened gets closed.
  void check_hung_connects(const std::string& host, tcp_sink& sink) {
    auto before = thread_count();
    auto pc = make_config(8, 8);
    pc.conninfo = "host=" + host + " port=" + std::to_string(sink.port()) +
                  " user=postgres dbname=pooltest";
    pc.connect_timeout = caf::timespan{300ms};
    pc.breaker_cooldown = caf::timespan{std::chrono::minutes(10)};
    auto p = spawn(pc);
    // All eight connects reached the listener: they are in flight together.
    CAF_CHECK(eventually([&] { return sink.accepted() >= 8; }));
    auto during = thread_count();
    CAF_MESSAGE("threads before the pool: " << before << ", with 8 connects "
                                            << "in flight: " << during);
    // At most the poller thread and the backend's blocking thread; a thread
    // per connect would add eight.
    CAF_CHECK_LESS_OR_EQUAL(during, before + 2);
    // A request is answered with the connect error (directly, or carried by
    // circuit_open once the breaker opened), long before acquire_timeout.
    auto start = clock_type::now();
    auto r = query(p, "SELECT 1");
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                clock_type::now() - start)
                .count();
    CAF_MESSAGE("SELECT 1 answered after " << ms << " ms: " << describe(r));
    CAF_REQUIRE(!r);
    CAF_CHECK(pool::is(r.error(), pool::pool_errc::connect_failed) ||
              pool::is(r.error(), pool::pool_errc::circuit_open));
    CAF_CHECK(pool::describe(r.error()).find("connect_timeout") !=
              std::string::npos);
    CAF_CHECK_LESS(ms, 5000);
    auto st = wait_for_stats(p, [](const pool::pool_stats& s) {
      return s.connect_failures >= 5 && s.connecting == 0;
    });
    CAF_CHECK(st.second);
    CAF_MESSAGE("connect_failures " << st.first.connect_failures
                                    << ", connections_created "
                                    << st.first.connections_created);
    CAF_CHECK_EQUAL(st.first.connections_created, 0u);
    // Each abandoned connect closed its socket: the listener sees end of
    // file on every connection it accepted.
    auto all_closed =
      eventually([&] { return sink.closed_by_peer() == sink.accepted(); });
    CAF_MESSAGE("accepted " << sink.accepted() << ", closed by the pool "
                            << sink.closed_by_peer());
    CAF_CHECK(all_closed);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(connect_tests, connect_fixture)

/// Proves: with numeric addresses, eight connects to a server that accepts
/// and never answers run at once on the readiness path (no thread each),
/// are given up at connect_timeout (300 ms) with an error naming it, which
/// requests get, and their sockets are closed.
CAF_TEST(hung connects time out without a thread each) {
  tcp_sink sink{true};
  check_hung_connects("127.0.0.1", sink);
}

/// Proves: the same with a host name (looked up on the backend's one
/// blocking thread): still no thread per connect, the same timeout error,
/// every socket closed.
CAF_TEST(hung connects by host name use the one blocking thread) {
  tcp_sink sink{true};
  check_hung_connects("localhost", sink);
}

/// Proves: when the first host of a list refuses, libpq closes that socket
/// and opens another (usually under the same number) for the next host;
/// the connection follows it and connects, by address and by host name.
CAF_TEST(a host list connects through a replaced socket) {
  tcp_sink refusing{false};
  auto port = server_port();
  for (auto host : {"127.0.0.1", "localhost"}) {
    auto pc = make_config(1, 1);
    pc.conninfo = std::string{"host="} + host + "," + host +
                  " port=" + std::to_string(refusing.port()) + "," + port +
                  " user=postgres dbname=pooltest";
    pc.connect_timeout = caf::timespan{5s};
    auto p = spawn(pc);
    CAF_CHECK_EQUAL(scalar(p, "SELECT inet_server_port()::text"), port);
    auto st = stats(p);
    CAF_REQUIRE(st);
    CAF_CHECK_EQUAL(st->connect_failures, 0u);
    shutdown(p);
  }
}

/// Proves: query_timeout on `SELECT pg_sleep(10)` cancels it on the server
/// (it stops running it long before 10 s), the session is reusable, and
/// three cancels in a row start no thread each (they share the backend's
/// blocking thread).
CAF_TEST(a cancel still reaches the server) {
  auto observer = spawn(1, 1);
  auto pc = make_config(1, 1);
  pc.query_timeout = caf::timespan{300ms};
  auto p = spawn(pc);
  CAF_CHECK_EQUAL(scalar(p, "SELECT 1"), "1");
  auto before = thread_count();
  size_t most = before;
  for (int i = 0; i < 3; ++i) {
    auto r = query(p, "SELECT pg_sleep(10)");
    IT_CHECK_ERRC(r, pool::pool_errc::query_timeout);
    most = std::max(most, thread_count());
    auto sleeping = [&] {
      return scalar(observer,
                    "SELECT count(*) FROM pg_stat_activity WHERE query = "
                    "'SELECT pg_sleep(10)' AND state = 'active'");
    };
    CAF_CHECK(eventually([&] { return sleeping() == "0"; }, 5000ms));
    // The session is reusable and outside any transaction.
    CAF_CHECK_EQUAL(scalar(p, "SELECT 2"), "2");
    CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned() IS NULL"),
                    "t");
  }
  CAF_MESSAGE("threads before the cancels: " << before << ", at most " << most
                                             << " after them");
  CAF_CHECK_LESS_OR_EQUAL(most, before + 1);
}

CAF_TEST_FIXTURE_SCOPE_END()
