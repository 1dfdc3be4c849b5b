// Closing a libpq connection while its connect steps run on the backend's
// blocking thread (a conninfo that names a host needs a host-name lookup,
// which libpq does inside PQconnectStartParams / PQconnectPoll and which
// blocks). No database: the "server" is a listening socket that never
// answers, so a started connect holds an open socket until PQfinish; the
// process's open descriptors show whether every PGconn was freed.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE libpq_close
#include "caf/test/unit_test.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include <cerrno>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libpq_blocking_thread.hpp"
#include "libpq_connection.hpp"
#include "libpq_hosts.hpp"
#include "readiness.hpp"

using namespace pool;
using namespace std::chrono_literals;

namespace {

/// Counts registrations; never reports an event.
struct counting_readiness : readiness {
  std::mutex mtx;
  int added = 0;
  int removed = 0;
  uint64_t next = 1;

  uint64_t add(int, waker) override {
    std::lock_guard<std::mutex> guard{mtx};
    ++added;
    return next++;
  }
  void arm(uint64_t, bool, bool) override {
    // nop
  }
  void remove(uint64_t) override {
    std::lock_guard<std::mutex> guard{mtx};
    ++removed;
  }
};

/// A TCP socket on 127.0.0.1 that listens and never accepts: a connect to
/// it succeeds (the kernel completes the handshake) and then waits forever
/// for the server's first message.
struct silent_server {
  int fd = -1;
  int port = 0;

  silent_server() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::listen(fd, 512) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      CAF_FAIL("cannot make a listening socket");
    port = ntohs(a.sin_port);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  /// Whether a client connected since the last call (accepts and closes
  /// every pending connection).
  bool reached() {
    bool any = false;
    for (int c; (c = ::accept(fd, nullptr, nullptr)) >= 0;) {
      ::close(c);
      any = true;
    }
    return any;
  }
  ~silent_server() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// The number of open descriptors of this process.
size_t open_fds() {
  size_t n = 0;
  for ([[maybe_unused]] auto& e :
       std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

/// Blocks until every job posted to `jobs` so far has run.
void drain(libpq_blocking_thread& jobs) {
  std::promise<void> done;
  auto f = done.get_future();
  CAF_REQUIRE(jobs.post([&done] { done.set_value(); }));
  CAF_REQUIRE(f.wait_for(30s) == std::future_status::ready);
}

struct fixture {
  silent_server server;
  std::shared_ptr<counting_readiness> rd =
    std::make_shared<counting_readiness>();
  std::shared_ptr<libpq_blocking_thread> jobs =
    std::make_shared<libpq_blocking_thread>();
  pool_config cfg;

  fixture() {
    // "localhost" is a name: libpq looks it up, so the connect steps run on
    // the blocking thread.
    cfg.conninfo = "host=localhost port=" + std::to_string(server.port) +
                   " user=nobody dbname=nothing sslmode=disable"
                   " gssencmode=disable";
    cfg.connect_timeout = 10s;
    CAF_REQUIRE(may_look_up_host(cfg.conninfo));
  }

  std::unique_ptr<libpq_connection> make() {
    return std::make_unique<libpq_connection>(rd, jobs, cfg, waker{});
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(libpq_close_tests, fixture)

CAF_TEST(a connection closed while its lookup waits for the thread is freed) {
  // A job holds the thread, so the connection's first step (the lookup and
  // PQconnectStartParams) is still queued when the connection is closed.
  drain(*jobs); // the thread runs; its own descriptors are open now
  auto before = open_fds();
  std::promise<void> gate;
  auto opened = gate.get_future().share();
  CAF_REQUIRE(jobs->post([opened] { opened.wait(); }));
  auto conn = make();
  conn->connect();
  conn->close();
  conn.reset();
  gate.set_value();
  drain(*jobs);
  // The queued step saw the connection closed and did not run: nothing
  // was looked up or connected, nothing is left open.
  CAF_CHECK(!server.reached());
  CAF_CHECK_EQUAL(open_fds(), before);
  CAF_CHECK_EQUAL(rd->added, rd->removed);
  // The thread goes on serving connections.
  auto next = make();
  next->connect();
  drain(*jobs);
  CAF_CHECK(server.reached());
  next->close();
}

CAF_TEST(connections closed at any point of their running lookup are freed) {
  drain(*jobs);
  auto before = open_fds();
  std::minstd_rand rng{42};
  std::uniform_int_distribution<int> pause_us{0, 400};
  for (int i = 0; i < 200; ++i) {
    auto conn = make();
    conn->connect();
    // Closed before, during or after the step on the blocking thread.
    std::this_thread::sleep_for(std::chrono::microseconds(pause_us(rng)));
    conn->close();
  }
  drain(*jobs);
  // Every step that opened a socket to the silent server left it to the
  // job, which closed it; none is left open.
  CAF_CHECK_EQUAL(open_fds(), before);
  CAF_CHECK_EQUAL(rd->added, rd->removed);
}

CAF_TEST(a connection waiting for the server after its lookup unregisters) {
  drain(*jobs);
  auto before = open_fds();
  auto conn = make();
  conn->connect();
  drain(*jobs); // the first step ran: the socket is connecting or connected
  caf::error err;
  // The silent server never answers: the connect waits for its socket,
  // registered with the readiness.
  for (int i = 0; i < 100 && conn->poll_connect(err) == poll_status::pending;
       ++i) {
    drain(*jobs);
    if (rd->added > 0)
      break;
  }
  CAF_REQUIRE(!err);
  // One socket registered (an address libpq gave up on, e.g. ::1 refused
  // before 127.0.0.1, was unregistered when libpq replaced its socket).
  CAF_CHECK_EQUAL(rd->added - rd->removed, 1);
  CAF_CHECK_GREATER(open_fds(), before);
  conn->close();
  drain(*jobs);
  CAF_CHECK_EQUAL(rd->added, rd->removed);
  CAF_CHECK_EQUAL(open_fds(), before);
}

CAF_TEST_FIXTURE_SCOPE_END()
