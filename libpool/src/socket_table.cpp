#include "socket_table.hpp"

#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace pool {

namespace {

uint64_t make_key(uint32_t slot, uint32_t generation) {
  return (uint64_t{generation} << 32) | slot;
}

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

} // namespace

epoll_set epoll_set::make() {
  epoll_set s;
  s.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (s.epoll_fd < 0)
    throw_errno("epoll_create1");
  s.event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  if (s.event_fd < 0 ||
      epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, s.event_fd, &ev) != 0) {
    auto err = errno;
    auto what = s.event_fd < 0 ? "eventfd" : "epoll_ctl";
    s.close();
    errno = err;
    throw_errno(what);
  }
  return s;
}

void epoll_set::signal() const {
  uint64_t one = 1;
  // An eventfd write only fails if the counter would overflow.
  [[maybe_unused]] auto n = write(event_fd, &one, sizeof(one));
}

void epoll_set::drain() const {
  uint64_t count;
  [[maybe_unused]] auto n = read(event_fd, &count, sizeof(count));
}

void epoll_set::close() {
  if (event_fd >= 0)
    ::close(event_fd);
  if (epoll_fd >= 0)
    ::close(epoll_fd);
  event_fd = epoll_fd = -1;
}

socket_table::~socket_table() {
  for (auto& e : slots_)
    if (e.fd >= 0)
      close(e.fd);
}

uint64_t socket_table::add(int fd, int epoll_fd, waker w) {
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
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, own, &ev) != 0) {
    close(own);
    free_.push_back(slot);
    return 0;
  }
  e.fd = own;
  e.epoll_fd = epoll_fd;
  e.w = std::move(w);
  return key;
}

void socket_table::arm(uint64_t key, bool read, bool write) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto e = lookup(key);
  if (e == nullptr)
    return;
  epoll_event ev{};
  ev.events = EPOLLONESHOT | (read ? EPOLLIN : 0u) | (write ? EPOLLOUT : 0u);
  ev.data.u64 = key;
  epoll_ctl(e->epoll_fd, EPOLL_CTL_MOD, e->fd, &ev);
}

void socket_table::remove(uint64_t key) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto e = lookup(key);
  if (e == nullptr)
    return;
  epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, e->fd, nullptr);
  close(e->fd);
  e->fd = -1;
  e->epoll_fd = -1;
  e->w = waker{};
  if (++e->generation == 0)
    e->generation = 1;
  free_.push_back(static_cast<uint32_t>(key & 0xffffffffu));
}

bool socket_table::find(uint64_t key, waker& out) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto e = lookup(key);
  if (e == nullptr)
    return false;
  out = e->w;
  return true;
}

socket_table::entry* socket_table::lookup(uint64_t key) {
  auto slot = static_cast<size_t>(key & 0xffffffffu);
  auto generation = static_cast<uint32_t>(key >> 32);
  if (slot >= slots_.size())
    return nullptr;
  auto& e = slots_[slot];
  if (e.fd < 0 || e.generation != generation)
    return nullptr;
  return &e;
}

} // namespace pool
