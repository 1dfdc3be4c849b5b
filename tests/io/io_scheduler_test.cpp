// The io scheduler without a database. Every wait here is a real wait on a
// real actor system whose workers park for an hour: a lost wake-up stalls
// the test until CAF's watchdog (-r) fails it, instead of passing slowly.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE io_scheduler
#include "caf/test/unit_test.hpp"
#include "caf/test/unit_test_impl.hpp"

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include "caf/all.hpp"

#include "pool/all.hpp"

#include "actors.hpp"
#include "io_scheduler.hpp"

using namespace std::chrono_literals;

// The test hands the hub to its reader actor in a (local) message.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<pool::io_hub>)

namespace {

using ping_atom = caf::atom_constant<caf::atom("iping")>;
using count_atom = caf::atom_constant<caf::atom("icount")>;

struct io_config : caf::actor_system_config {
  explicit io_config(bool io) {
    pool::add_message_types(*this);
    set("scheduler.max-threads", 2);
    if (io) {
      pool::io_scheduler_options opts;
      opts.park_timeout = std::chrono::hours(1);
      opts.steal_attempts = 0;
      pool::use_io_scheduler(*this, opts);
    }
  }
};

caf::behavior echo(caf::event_based_actor*) {
  return {[](ping_atom, int x) { return x + 1; }};
}

// Reads what arrived on `fd` at every wake, re-arms, and reports the bytes
// read so far to `observer`.
struct reader_state {
  std::shared_ptr<pool::io_hub> hub;
  uint64_t key = 0;
  int fd = -1;
  int total = 0;
  caf::actor observer;
};

caf::behavior reader(caf::stateful_actor<reader_state>* self) {
  return {
    [=](pool::wake_atom) {
      auto& st = self->state;
      char buf[64];
      auto n = ::read(st.fd, buf, sizeof(buf));
      if (n > 0) {
        st.total += static_cast<int>(n);
        self->send(st.observer, count_atom::value, st.total);
      }
      st.hub->arm(st.key, true, false);
    },
    [=](caf::ok_atom, std::shared_ptr<pool::io_hub> hub, uint64_t key, int fd,
        caf::actor observer) {
      auto& st = self->state;
      st.hub = std::move(hub);
      st.key = key;
      st.fd = fd;
      st.observer = std::move(observer);
      st.hub->arm(st.key, true, false);
      return caf::ok_atom::value;
    },
  };
}

} // namespace

CAF_TEST(the io scheduler is opt in) {
  {
    io_config cfg{true};
    caf::actor_system sys{cfg};
    CAF_CHECK(pool::uses_io_scheduler(sys));
    CAF_CHECK(pool::io_hub_of(sys) != nullptr);
  }
  {
    io_config cfg{false};
    caf::actor_system sys{cfg};
    CAF_CHECK(!pool::uses_io_scheduler(sys));
  }
}

CAF_TEST(messages from other threads wake parked workers) {
  io_config cfg{true};
  caf::actor_system sys{cfg};
  auto e = sys.spawn(echo);
  // Four threads outside the scheduler, each a blocking actor in lock step
  // with the echo actor: every message finds the workers parked or about to
  // park, which is where a lost wake-up would hide.
  constexpr int rounds = 5000;
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      caf::scoped_actor self{sys};
      for (int i = 0; i < rounds; ++i) {
        bool ok = false;
        self->request(e, caf::infinite, ping_atom::value, i)
          .receive([&](int x) { ok = x == i + 1; }, [&](caf::error&) {});
        if (ok)
          ++answered;
      }
    });
  for (auto& t : threads)
    t.join();
  CAF_CHECK_EQUAL(answered.load(), 4 * rounds);
  caf::anon_send_exit(e, caf::exit_reason::user_shutdown);
}

CAF_TEST(socket readiness wakes the registered actor) {
  io_config cfg{true};
  caf::actor_system sys{cfg};
  auto hub = pool::io_hub_of(sys);
  CAF_REQUIRE(hub != nullptr);
  int fds[2];
  CAF_REQUIRE_EQUAL(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto r = sys.spawn(reader);
  auto key = hub->add(fds[0], pool::waker{r.address()});
  CAF_REQUIRE_NOT_EQUAL(key, 0u);
  caf::scoped_actor self{sys};
  bool ready = false;
  self
    ->request(r, caf::infinite, caf::ok_atom::value, hub, key, fds[0],
              caf::actor{self})
    .receive([&](caf::ok_atom) { ready = true; }, [&](caf::error&) {});
  CAF_REQUIRE(ready);
  // One byte at a time, each written only after the previous one was seen:
  // 2000 separate readiness events, each delivered by a parked worker.
  constexpr int bytes = 2000;
  int seen = 0;
  for (int i = 0; i < bytes; ++i) {
    if (::write(fds[1], "x", 1) != 1)
      CAF_FAIL("write to the socket pair failed");
    while (seen < i + 1)
      self->receive([&](count_atom, int total) { seen = total; });
  }
  CAF_CHECK_EQUAL(seen, bytes);
  // After `remove`, the stale key is ignored and nothing wakes the reader.
  hub->remove(key);
  hub->arm(key, true, false);
  CAF_REQUIRE_EQUAL(::write(fds[1], "y", 1), 1);
  bool woke = false;
  self->receive([&](count_atom, int) { woke = true; },
                caf::after(std::chrono::milliseconds(200)) >> [] {});
  CAF_CHECK(!woke);
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  ::close(fds[0]);
  ::close(fds[1]);
}

CAF_TEST(the hub outlives its actor system) {
  std::shared_ptr<pool::io_hub> hub;
  int fds[2];
  CAF_REQUIRE_EQUAL(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  uint64_t key = 0;
  {
    io_config cfg{true};
    caf::actor_system sys{cfg};
    hub = pool::io_hub_of(sys);
    key = hub->add(fds[0], pool::waker{});
    CAF_CHECK_NOT_EQUAL(key, 0u);
    hub->arm(key, true, false);
  }
  // A backend may hold the hub after the system is gone: its calls stay
  // harmless.
  hub->arm(key, true, true);
  hub->remove(key);
  CAF_CHECK_EQUAL(hub.use_count(), 1);
  ::close(fds[0]);
  ::close(fds[1]);
}
