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

uint64_t make_key(uint32_t slot, uint32_t generation) {
  return (uint64_t{generation} << 32) | slot;
}

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
  for (auto& e : slots_)
    if (e.fd >= 0)
      close(e.fd);
  close(stop_fd_);
  close(epoll_fd_);
}

uint64_t poller::add(int fd, waker w) {
  // Our own descriptor for the socket: it stays valid (and its number
  // unused by anyone else) until `remove`, whatever libpq does with `fd`.
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0)
    return 0;
  std::lock_guard<std::mutex> guard{mtx_};
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  auto& e = slots_[slot];
  auto key = make_key(slot, e.generation);
  epoll_event ev{};
  ev.events = EPOLLONESHOT; // registered but disarmed until `arm`
  ev.data.u64 = key;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, own, &ev) != 0) {
    close(own);
    free_.push_back(slot);
    return 0;
  }
  e.fd = own;
  e.w = std::move(w);
  return key;
}

void poller::arm(uint64_t key, bool read, bool write) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto e = lookup(key);
  if (e == nullptr)
    return;
  epoll_event ev{};
  ev.events = EPOLLONESHOT | (read ? EPOLLIN : 0u) | (write ? EPOLLOUT : 0u);
  ev.data.u64 = key;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, e->fd, &ev);
}

void poller::remove(uint64_t key) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto e = lookup(key);
  if (e == nullptr)
    return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, e->fd, nullptr);
  close(e->fd);
  e->fd = -1;
  e->w = waker{};
  if (++e->generation == 0)
    e->generation = 1;
  free_.push_back(static_cast<uint32_t>(key & 0xffffffffu));
}

poller::entry* poller::lookup(uint64_t key) {
  auto slot = static_cast<size_t>(key & 0xffffffffu);
  auto generation = static_cast<uint32_t>(key >> 32);
  if (slot >= slots_.size())
    return nullptr;
  auto& e = slots_[slot];
  if (e.fd < 0 || e.generation != generation)
    return nullptr;
  return &e;
}

void poller::run() {
  constexpr int max_events = 64;
  epoll_event events[max_events];
  std::vector<waker> ready;
  ready.reserve(max_events);
  for (;;) {
    int n = epoll_wait(epoll_fd_, events, max_events, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return; // EBADF/EINVAL: nothing sensible left to do
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == stop_key)
          return;
        if (auto e = lookup(events[i].data.u64))
          ready.push_back(e->w);
      }
    }
    // Wake outside the lock: a wake enqueues a message, which may allocate.
    for (auto& w : ready)
      w.wake();
    ready.clear();
  }
}

} // namespace pool
