#include "poller.hpp"

#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace pool {

namespace {

// Event data 0 is the stop eventfd; connection keys are never 0 because
// generations skip 0.
constexpr uint64_t stop_key = 0;

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

} // namespace

readiness::~readiness() {
  // nop
}

poller::poller() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0)
    throw_errno("epoll_create1");
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    auto err = errno;
    close(epoll_fd_);
    errno = err;
    throw_errno("eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = stop_key;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev) != 0) {
    auto err = errno;
    close(stop_fd_);
    close(epoll_fd_);
    errno = err;
    throw_errno("epoll_ctl");
  }
  thread_ = std::thread{[this] { run(); }};
}

poller::~poller() {
  uint64_t one = 1;
  // An eventfd write only fails if the counter would overflow.
  [[maybe_unused]] auto n = write(stop_fd_, &one, sizeof(one));
  thread_.join();
  close(stop_fd_);
  close(epoll_fd_);
}

uint64_t poller::add(int fd, waker w) {
  return table_.add(fd, epoll_fd_, std::move(w));
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
    int n = epoll_wait(epoll_fd_, events, max_events, -1);
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
