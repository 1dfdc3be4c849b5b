#include "tcp_forwarder.hpp"

#include <cerrno>
#include <cstring>
#include <list>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace chaos {

namespace {

constexpr size_t buffer_cap = 64 * 1024;

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

/// Bytes read from one side and not yet written to the other.
struct direction {
  std::string buf;
  bool eof = false;  // the source sent FIN
  bool shut = false; // we passed the FIN on (shutdown(SHUT_WR))
};

struct link {
  int client = -1;
  int upstream = -1;
  bool connecting = true;
  bool dead = false;
  direction up;   // client -> upstream
  direction down; // upstream -> client
};

// Reads from `fd` into `d` while there is room; false on a hard error.
bool pull(int fd, direction& d) {
  char tmp[16 * 1024];
  while (!d.eof && d.buf.size() < buffer_cap) {
    auto want = std::min(sizeof(tmp), buffer_cap - d.buf.size());
    auto n = ::recv(fd, tmp, want, 0);
    if (n > 0) {
      d.buf.append(tmp, static_cast<size_t>(n));
    } else if (n == 0) {
      d.eof = true;
    } else {
      if (errno == EINTR)
        continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  }
  return true;
}

// Writes `d`'s bytes to `fd` while it accepts them; false on a hard error.
bool push(int fd, direction& d) {
  while (!d.buf.empty()) {
    auto n = ::send(fd, d.buf.data(), d.buf.size(), MSG_NOSIGNAL);
    if (n > 0) {
      d.buf.erase(0, static_cast<size_t>(n));
    } else {
      if (n < 0 && errno == EINTR)
        continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }
  if (d.eof && !d.shut) {
    ::shutdown(fd, SHUT_WR);
    d.shut = true;
  }
  return true;
}

} // namespace

tcp_forwarder::tcp_forwarder(uint16_t target_port) : target_port_(target_port) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (wake_fd_ < 0 || listen_fd_ < 0) {
    error_ = std::string{"socket/eventfd: "} + std::strerror(errno);
    return;
  }
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  auto addr = loopback(0);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
        0 ||
      ::listen(listen_fd_, 128) != 0) {
    error_ = std::string{"bind/listen: "} + std::strerror(errno);
    return;
  }
  socklen_t len = sizeof(addr);
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
      0) {
    error_ = std::string{"getsockname: "} + std::strerror(errno);
    return;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread{[this] { run(); }};
}

tcp_forwarder::~tcp_forwarder() {
  stop_ = true;
  wake();
  if (thread_.joinable())
    thread_.join();
  if (listen_fd_ >= 0)
    ::close(listen_fd_);
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

void tcp_forwarder::wake() {
  if (wake_fd_ < 0)
    return;
  uint64_t one = 1;
  auto n = ::write(wake_fd_, &one, sizeof(one));
  static_cast<void>(n);
}

void tcp_forwarder::pause() {
  paused_ = true;
  wake();
}

void tcp_forwarder::resume() {
  paused_ = false;
  wake();
}

void tcp_forwarder::run() {
  std::list<link> links;
  std::vector<pollfd> fds;
  std::vector<link*> owners; // owners[i]: the link of fds[i] (or nullptr)
  auto add = [&](int fd, short events, link* owner) {
    fds.push_back(pollfd{fd, events, 0});
    owners.push_back(owner);
  };
  while (!stop_) {
    fds.clear();
    owners.clear();
    add(wake_fd_, POLLIN, nullptr);
    bool paused = paused_;
    if (!paused) {
      add(listen_fd_, POLLIN, nullptr);
      for (auto& l : links) {
        short ce = 0, ue = 0;
        if (!l.up.eof && l.up.buf.size() < buffer_cap)
          ce |= POLLIN;
        if (!l.down.buf.empty())
          ce |= POLLOUT;
        if (l.connecting) {
          ue = POLLOUT;
        } else {
          if (!l.down.eof && l.down.buf.size() < buffer_cap)
            ue |= POLLIN;
          if (!l.up.buf.empty())
            ue |= POLLOUT;
        }
        add(l.client, ce, &l);
        add(l.upstream, ue, &l);
      }
    }
    auto rc = ::poll(fds.data(), fds.size(), 500);
    if (rc < 0 && errno != EINTR)
      break;
    if (rc <= 0)
      continue;
    if (fds[0].revents & POLLIN) {
      uint64_t n;
      while (::read(wake_fd_, &n, sizeof(n)) > 0) {
        // drain
      }
    }
    // Re-read the flag: a pause() during poll() must take effect before any
    // byte moves.
    if (stop_ || paused_ || paused)
      continue;
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int c =
          ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
          break;
        ++accepted_;
        int u =
          ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (u < 0) {
          ::close(c);
          continue;
        }
        auto addr = loopback(target_port_);
        auto cr =
          ::connect(u, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
        if (cr != 0 && errno != EINPROGRESS) {
          ::close(u);
          ::close(c);
          continue;
        }
        links.emplace_back();
        auto& l = links.back();
        l.client = c;
        l.upstream = u;
        l.connecting = cr != 0;
        ++open_;
      }
    }
    for (size_t i = 2; i + 1 < fds.size(); i += 2) {
      auto& l = *owners[i];
      auto cr = fds[i].revents;
      auto ur = fds[i + 1].revents;
      if (l.connecting && ur != 0) {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(l.upstream, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          l.dead = true;
          continue;
        }
        l.connecting = false;
        ur = POLLOUT;
      }
      if ((cr & POLLERR) || (ur & POLLERR)) {
        l.dead = true;
        continue;
      }
      if (cr & (POLLIN | POLLHUP))
        l.dead |= !pull(l.client, l.up);
      if (!l.connecting && (ur & (POLLIN | POLLHUP)))
        l.dead |= !pull(l.upstream, l.down);
      if (!l.connecting)
        l.dead |= !push(l.upstream, l.up);
      l.dead |= !push(l.client, l.down);
      if (l.up.shut && l.down.shut)
        l.dead = true;
      // A hung-up side we cannot read from any more (its buffer is full)
      // would make poll() spin.
      if (((cr & POLLHUP) && l.up.buf.size() >= buffer_cap) ||
          ((ur & POLLHUP) && l.down.buf.size() >= buffer_cap))
        l.dead = true;
    }
    for (auto i = links.begin(); i != links.end();) {
      if (i->dead) {
        ::close(i->client);
        ::close(i->upstream);
        --open_;
        i = links.erase(i);
      } else {
        ++i;
      }
    }
  }
  for (auto& l : links) {
    ::close(l.client);
    ::close(l.upstream);
  }
  open_ = 0;
}

} // namespace chaos
