// The acceptor of a pool node's wires (see wire.hpp): listens, reads each new
// stream's token and hands the stream to the gateway that registered it.

#include "wire.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "caf/actor_cast.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "pool/remote.hpp"

#include "actors.hpp"

namespace pool::detail {

namespace {

using clock_type = std::chrono::steady_clock;

/// How long a new stream may take to present its token.
constexpr auto handshake_timeout = std::chrono::seconds(2);

/// A socket of ours registered for readiness; closed and unregistered when
/// destroyed (unless released).
struct owned_socket {
  std::shared_ptr<readiness> rd;
  int fd = -1;
  uint64_t key = 0;

  owned_socket() = default;
  owned_socket(std::shared_ptr<readiness> r, int f, const caf::actor_addr& a)
    : rd(std::move(r)), fd(f) {
    key = rd->add(fd, waker{a});
    if (key != 0)
      rd->arm(key, true, false);
  }
  owned_socket(owned_socket&& other) noexcept { *this = std::move(other); }
  owned_socket& operator=(owned_socket&& other) noexcept {
    std::swap(rd, other.rd);
    std::swap(fd, other.fd);
    std::swap(key, other.key);
    return *this;
  }
  ~owned_socket() {
    if (key != 0)
      rd->remove(key);
    if (fd >= 0)
      ::close(fd);
  }

  /// Unregisters the socket and gives up its ownership.
  int release() {
    if (key != 0)
      rd->remove(key);
    key = 0;
    return std::exchange(fd, -1);
  }
};

/// A stream that has not presented its token yet.
struct handshake {
  owned_socket sock;
  char buf[sizeof(wire_token)] = {};
  size_t got = 0;
  clock_type::time_point deadline;
};

struct acceptor_state {
  owned_socket listener;
  std::map<wire_token, caf::actor_addr> gateways;
  std::vector<handshake> pending;
  bool ticking = false;
  static const char* name;
};

const char* acceptor_state::name = "pool.wire_acceptor";

using acceptor_ptr = caf::stateful_actor<acceptor_state>*;

/// Reads more of `h`'s token; false once the stream is done with (handed on
/// or closed), true while the token is incomplete.
bool advance(acceptor_ptr self, handshake& h) {
  for (;;) {
    auto n = ::recv(h.sock.fd, h.buf + h.got, sizeof(h.buf) - h.got, 0);
    if (n > 0) {
      h.got += static_cast<size_t>(n);
      if (h.got < sizeof(h.buf))
        continue;
      wire_token t;
      std::memcpy(t.data(), h.buf, sizeof(h.buf));
      auto& gws = self->state.gateways;
      auto i = gws.find(t);
      if (i == gws.end())
        return false; // unknown token: closed
      auto gw = caf::actor_cast<caf::actor>(i->second);
      gws.erase(i); // a token opens one stream
      if (gw)
        self->send(gw, relay_atom::value,
                   std::make_shared<wire>(h.sock.release()));
      return false;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      h.sock.rd->arm(h.sock.key, true, false);
      return true;
    }
    return false; // end of stream or error: closed
  }
}

void accept_all(acceptor_ptr self) {
  auto& st = self->state;
  for (;;) {
    int fd =
      ::accept4(st.listener.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      break; // EAGAIN, or out of descriptors: try at the next event
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    handshake h;
    h.sock = owned_socket{st.listener.rd, fd, self->address()};
    h.deadline = clock_type::now() + handshake_timeout;
    if (h.sock.key != 0)
      st.pending.push_back(std::move(h));
  }
  st.listener.rd->arm(st.listener.key, true, false);
}

void on_ready(acceptor_ptr self) {
  auto& st = self->state;
  accept_all(self);
  auto& ps = st.pending;
  for (size_t i = 0; i < ps.size();) {
    if (advance(self, ps[i]))
      ++i;
    else
      ps.erase(ps.begin() + static_cast<std::ptrdiff_t>(i));
  }
  if (!ps.empty() && !st.ticking) {
    st.ticking = true;
    self->delayed_send(self, std::chrono::milliseconds(500), tick_atom::value);
  }
}

caf::behavior acceptor_impl(acceptor_ptr self, int fd) {
  auto& st = self->state;
  st.listener =
    owned_socket{wire_readiness(self->system()), fd, self->address()};
  return {
    [self](wake_atom) { on_ready(self); },
    [self](tick_atom) {
      auto& st = self->state;
      auto now = clock_type::now();
      auto& ps = st.pending;
      for (size_t i = 0; i < ps.size();) {
        if (ps[i].deadline <= now)
          ps.erase(ps.begin() + static_cast<std::ptrdiff_t>(i));
        else
          ++i;
      }
      st.ticking = !ps.empty();
      if (st.ticking)
        self->delayed_send(self, std::chrono::milliseconds(500),
                           tick_atom::value);
    },
    [self](relay_atom, uint64_t t0, uint64_t t1, caf::actor_addr& gw) {
      self->state.gateways[wire_token{t0, t1}] = std::move(gw);
    },
    [self](relay_atom, uint64_t t0, uint64_t t1) {
      self->state.gateways.erase(wire_token{t0, t1});
    },
  };
}

/// Opens a listening socket on `address` with a port the kernel picks.
int listen_on(const std::string& address, uint16_t& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  auto host = address.empty() ? nullptr : address.c_str();
  if (::getaddrinfo(host, "0", &hints, &res) != 0)
    return -1;
  int out = -1;
  for (auto ai = res; ai != nullptr && out < 0; ai = ai->ai_next) {
    int fd =
      ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               ai->ai_protocol);
    if (fd < 0)
      continue;
    sockaddr_storage sa{};
    socklen_t len = sizeof(sa);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        ::listen(fd, 128) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      ::close(fd);
      continue;
    }
    port = ntohs(sa.ss_family == AF_INET6
                   ? reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port
                   : reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
    out = fd;
  }
  ::freeaddrinfo(res);
  return out;
}

} // namespace

caf::actor spawn_wire_acceptor(caf::actor_system& sys,
                               const std::string& address, uint16_t& port) {
  port = 0;
  auto fd = listen_on(address, port);
  if (fd < 0) {
    port = 0;
    return {};
  }
  return sys.spawn(acceptor_impl, fd);
}

} // namespace pool::detail
