#include "poller.hpp"

#include <cerrno>

#include <sys/epoll.h>
#include <unistd.h>

namespace pool {

namespace {

// Event data 0 is the stop eventfd; connection keys are never 0 because
// generations skip 0.
constexpr uint64_t stop_key = 0;

} // namespace

readiness::~readiness() {
  // nop
}

poller::poller() : set_(epoll_set::make()) {
  thread_ = std::thread{[this] { run(); }};
}

poller::~poller() {
  set_.signal();
  thread_.join();
  set_.close();
}

uint64_t poller::add(int fd, waker w) {
  return table_.add(fd, set_.epoll_fd, std::move(w));
}

void poller::arm(uint64_t key, bool read, bool write) {
  table_.arm(key, read, write);
}

void poller::remove(uint64_t key) {
  table_.remove(key);
}

void poller::run() {
  constexpr int max_events = 64;
  epoll_event events[max_events];
  for (;;) {
    int n = epoll_wait(set_.epoll_fd, events, max_events, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return; // EBADF/EINVAL: nothing sensible left to do
    }
    waker w;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == stop_key)
        return;
      if (table_.find(events[i].data.u64, w))
        w.wake();
    }
  }
}

} // namespace pool
