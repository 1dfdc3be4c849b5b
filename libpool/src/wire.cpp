#include "wire.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caf/actor_system.hpp"

#include "io_scheduler.hpp"
#include "poller.hpp"

namespace pool::detail {

namespace {

constexpr size_t header_size = 4;
constexpr size_t read_chunk = 64 * 1024;

void put_be32(char* p, uint32_t x) {
  p[0] = static_cast<char>(x >> 24);
  p[1] = static_cast<char>(x >> 16);
  p[2] = static_cast<char>(x >> 8);
  p[3] = static_cast<char>(x);
}

uint32_t get_be32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) |
         (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

} // namespace

// -- wire ---------------------------------------------------------------------

wire::wire(int fd) : fd_(fd) {
  // nop
}

wire::~wire() {
  if (fd_ >= 0)
    ::close(fd_);
}

size_t wire::begin_frame() {
  auto start = out_.size();
  out_.resize(start + header_size);
  return start;
}

void wire::end_frame(size_t start) {
  put_be32(out_.data() + start,
           static_cast<uint32_t>(out_.size() - start - header_size));
}

bool wire::send() {
  while (out_pos_ < out_.size()) {
    auto n =
      ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else {
      return false;
    }
  }
  out_.clear();
  out_pos_ = 0;
  return true;
}

bool wire::receive() {
  // Drop what was consumed; keep a partial frame at the front.
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_begin_ > 0) {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }
  for (;;) {
    if (in_.size() - in_end_ < read_chunk)
      in_.resize(in_end_ + read_chunk);
    auto n = ::recv(fd_, in_.data() + in_end_, in_.size() - in_end_, 0);
    if (n > 0) {
      in_end_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

int wire::next(const char*& data, size_t& size) {
  auto avail = in_end_ - in_begin_;
  if (avail < header_size)
    return 0;
  auto len = get_be32(in_.data() + in_begin_);
  if (len > max_frame)
    return -1;
  if (avail < header_size + len)
    return 0;
  data = in_.data() + in_begin_ + header_size;
  size = len;
  in_begin_ += header_size + len;
  return 1;
}

// -- wire_link ----------------------------------------------------------------

wire_link::wire_link(std::shared_ptr<readiness> rd, std::shared_ptr<wire> w,
                     caf::actor_addr owner)
  : rd_(std::move(rd)), wire_(std::move(w)) {
  key_ = rd_->add(wire_->fd(), waker{std::move(owner)});
  if (key_ != 0) {
    rd_->arm(key_, true, false);
    armed_ = true;
  }
}

wire_link::~wire_link() {
  if (key_ != 0)
    rd_->remove(key_);
}

bool wire_link::flush() {
  if (!wire_->send())
    return false;
  auto write = wire_->wants_write();
  if (!armed_ || (write && !armed_write_)) {
    rd_->arm(key_, true, write);
    armed_ = true;
    armed_write_ = write;
  }
  return true;
}

// -- set-up -------------------------------------------------------------------

std::shared_ptr<readiness> wire_readiness(caf::actor_system& sys) {
  if (auto hub = io_hub_of(sys))
    return hub;
  // One epoll thread for every system of the process, for its lifetime.
  static std::mutex mtx;
  static std::shared_ptr<readiness> shared;
  std::lock_guard<std::mutex> guard{mtx};
  if (!shared)
    shared = std::make_shared<poller>();
  return shared;
}

wire_token make_wire_token() {
  std::random_device rd;
  auto word = [&rd] { return (uint64_t{rd()} << 32) | uint64_t{rd()}; };
  return {word(), word()};
}

namespace {

/// Sets the options every wire socket gets: non-blocking, no Nagle delay.
bool tune(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto flags = ::fcntl(fd, F_GETFL, 0);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

/// Waits for `events` on `fd` until `deadline`; false on timeout or error.
bool wait_for(int fd, short events,
              std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return false;
    pollfd p{fd, events, 0};
    auto n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0)
      return (p.revents & (POLLERR | POLLNVAL)) == 0;
    if (n < 0 && errno != EINTR)
      return false;
  }
}

} // namespace

std::shared_ptr<wire> wire_connect(const std::string& host, uint16_t port,
                                   const wire_token& token,
                                   caf::timespan timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0)
    return nullptr;
  std::shared_ptr<wire> out;
  for (auto ai = res; ai != nullptr && !out; ai = ai->ai_next) {
    int fd =
      ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
      continue;
    auto w = std::make_shared<wire>(fd);
    if (!tune(fd))
      continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS || !wait_for(fd, POLLOUT, deadline))
        continue;
      int err = 0;
      socklen_t len = sizeof(err);
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        continue;
    }
    char buf[sizeof(wire_token)];
    std::memcpy(buf, token.data(), sizeof(buf));
    size_t sent = 0;
    while (sent < sizeof(buf)) {
      auto n = ::send(fd, buf + sent, sizeof(buf) - sent, MSG_NOSIGNAL);
      if (n > 0)
        sent += static_cast<size_t>(n);
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
               wait_for(fd, POLLOUT, deadline))
        continue;
      else
        break;
    }
    if (sent == sizeof(buf))
      out = std::move(w);
  }
  ::freeaddrinfo(res);
  return out;
}

} // namespace pool::detail
