#include "socket_table.hpp"

#include <cerrno>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sched.h>
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

void socket_table::entry::lock() {
  // The holder copies a waker or makes one epoll_ctl, so a short spin
  // usually sees it done. But that epoll_ctl can wake the very thread that
  // then waits here on the holder's CPU (a wake-up preempts the waker): a
  // pure spin would then burn the rest of its time slice (measured: 7 % of
  // a client node's CPU). After a few rounds the waiter gives the CPU up.
  for (unsigned spins = 0; busy.exchange(true, std::memory_order_acquire);)
    while (busy.load(std::memory_order_relaxed))
      if (++spins > 64)
        sched_yield();
}

void socket_table::entry::unlock() {
  busy.store(false, std::memory_order_release);
}

socket_table::socket_table() : chunks_(new std::atomic<entry*>[max_chunks]) {
  for (size_t i = 0; i < max_chunks; ++i)
    chunks_[i].store(nullptr, std::memory_order_relaxed);
}

socket_table::~socket_table() {
  for (size_t i = 0; i < max_chunks; ++i) {
    auto chunk = chunks_[i].load(std::memory_order_acquire);
    if (chunk == nullptr)
      break;
    for (size_t j = 0; j < chunk_size; ++j)
      if (chunk[j].fd >= 0)
        close(chunk[j].fd);
    delete[] chunk;
  }
}

socket_table::entry* socket_table::at(size_t slot) const {
  auto i = slot / chunk_size;
  if (i >= max_chunks)
    return nullptr;
  auto chunk = chunks_[i].load(std::memory_order_acquire);
  return chunk == nullptr ? nullptr : chunk + slot % chunk_size;
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
  } else if (used_ < max_sockets) {
    slot = static_cast<uint32_t>(used_++);
    auto& chunk = chunks_[slot / chunk_size];
    if (chunk.load(std::memory_order_relaxed) == nullptr)
      chunk.store(new entry[chunk_size], std::memory_order_release);
  } else {
    close(own);
    return 0;
  }
  auto e = at(slot);
  e->lock();
  auto key = make_key(slot, e->generation);
  epoll_event ev{};
  ev.events = EPOLLONESHOT; // registered but disarmed until `arm`
  ev.data.u64 = key;
  bool ok = epoll_ctl(epoll_fd, EPOLL_CTL_ADD, own, &ev) == 0;
  if (ok) {
    e->fd = own;
    e->epoll_fd = epoll_fd;
    e->w = std::move(w);
  }
  e->unlock();
  if (!ok) {
    close(own);
    free_.push_back(slot);
    return 0;
  }
  return key;
}

void socket_table::arm(uint64_t key, bool read, bool write) {
  auto e = at(key & 0xffffffffu);
  if (e == nullptr)
    return;
  e->lock();
  if (e->fd >= 0 && e->generation == static_cast<uint32_t>(key >> 32)) {
    epoll_event ev{};
    ev.events = EPOLLONESHOT | (read ? EPOLLIN : 0u) | (write ? EPOLLOUT : 0u);
    ev.data.u64 = key;
    epoll_ctl(e->epoll_fd, EPOLL_CTL_MOD, e->fd, &ev);
  }
  e->unlock();
}

void socket_table::remove(uint64_t key) {
  auto slot = static_cast<uint32_t>(key & 0xffffffffu);
  auto e = at(slot);
  if (e == nullptr)
    return;
  waker gone; // released outside the entry's lock
  std::lock_guard<std::mutex> guard{mtx_};
  e->lock();
  bool current =
    e->fd >= 0 && e->generation == static_cast<uint32_t>(key >> 32);
  if (current) {
    epoll_ctl(e->epoll_fd, EPOLL_CTL_DEL, e->fd, nullptr);
    close(e->fd);
    e->fd = -1;
    e->epoll_fd = -1;
    std::swap(gone, e->w);
    if (++e->generation == 0)
      e->generation = 1;
  }
  e->unlock();
  if (current)
    free_.push_back(slot);
}

bool socket_table::find(uint64_t key, waker& out) {
  auto e = at(key & 0xffffffffu);
  if (e == nullptr)
    return false;
  e->lock();
  bool current =
    e->fd >= 0 && e->generation == static_cast<uint32_t>(key >> 32);
  if (current)
    out = e->w;
  e->unlock();
  return current;
}

} // namespace pool
