#pragma once

// The relay's own TCP stream between a client node and a pool node (see
// relay.hpp): batches of queries and answers as length-prefixed frames on a
// socket that the sending actor writes itself and whose readiness wakes the
// receiving actor like a database connection's (`readiness`), so that a
// batch crosses no thread of CAF's middleman. CAF's node link (BASP) still
// carries everything else: the handles, the monitors, leases, operator
// requests. Offered only on plain (non-TLS) nodes, and after a handshake
// that proves the peer got a token over that link.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "readiness.hpp"

namespace pool::detail {

/// What a client sends first on a new stream: 16 random bytes that the pool
/// node handed to its relay's gateway.
using wire_token = std::array<uint64_t, 2>;

/// A framed byte stream over a connected, non-blocking socket that it owns:
/// each frame is a 4-byte big-endian length and that many bytes.
class wire {
 public:
  /// The largest frame accepted (a longer length field breaks the stream).
  static constexpr uint32_t max_frame = 1u << 30;

  /// Takes ownership of `fd`.
  explicit wire(int fd);
  /// Closes the socket.
  ~wire();
  wire(const wire&) = delete;
  wire& operator=(const wire&) = delete;

  int fd() const { return fd_; }

  /// Starts a frame: the caller appends its payload to `out()`, then calls
  /// `end_frame` with the returned offset.
  size_t begin_frame();
  std::vector<char>& out() { return out_; }
  void end_frame(size_t start);

  /// Writes as much of the buffered output as the socket takes. Returns
  /// false if the stream broke.
  bool send();

  /// Whether output waits for the socket to take it.
  bool wants_write() const { return out_pos_ < out_.size(); }

  /// Reads what the socket holds. Returns false at the end of the stream or
  /// on an error.
  bool receive();

  /// Takes the next complete frame: 1 and its bytes in `data`/`size`, 0 if
  /// none is complete, -1 if the stream is corrupt (a length over
  /// `max_frame`). The bytes stay valid until the next `receive`.
  int next(const char*& data, size_t& size);

 private:
  int fd_;
  std::vector<char> in_;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  std::vector<char> out_;
  size_t out_pos_ = 0;
};

/// A wire registered for readiness: its owner (an actor) gets `wake_atom`
/// when the socket can be read (always armed) or, while output waits, be
/// written. Unregisters when destroyed.
class wire_link {
 public:
  /// Registers `w` with `rd` for `owner`; `ok()` tells whether it worked.
  wire_link(std::shared_ptr<readiness> rd, std::shared_ptr<wire> w,
            caf::actor_addr owner);
  ~wire_link();
  wire_link(const wire_link&) = delete;
  wire_link& operator=(const wire_link&) = delete;

  bool ok() const { return key_ != 0; }
  wire& io() { return *wire_; }

  /// Notes that a wake arrived: its event used up the registration.
  void woken() { armed_ = false; }

  /// Writes the buffered output, then arms the socket if the registration
  /// was used up or output now waits for a write event (one `epoll_ctl` per
  /// event, not per batch). Returns false if the stream broke.
  bool flush();

 private:
  std::shared_ptr<readiness> rd_;
  std::shared_ptr<wire> wire_;
  uint64_t key_ = 0;
  /// Whether the registration is armed (and for writing too).
  bool armed_ = false;
  bool armed_write_ = false;
};

/// Appends `xs` to `link` as one frame and writes what the socket takes.
/// Returns false if the stream broke.
template <class T>
bool write_frame(caf::actor_system& sys, wire_link& link, std::vector<T>& xs) {
  auto& w = link.io();
  auto start = w.begin_frame();
  caf::binary_serializer sink{sys, w.out()};
  if (sink(xs))
    return false;
  w.end_frame(start);
  return link.flush();
}

/// At a wake: reads what `link`'s socket holds and calls `f` with each
/// complete frame's `std::vector<T>`, then writes pending output. Returns
/// false if the stream ended or broke (or a frame did not hold a
/// `std::vector<T>`).
template <class T, class F>
bool read_frames(caf::actor_system& sys, wire_link& link, F f) {
  link.woken();
  auto& w = link.io();
  // Frames that arrived before the end still count.
  auto open = w.receive();
  const char* data = nullptr;
  size_t size = 0;
  int got;
  while ((got = w.next(data, size)) > 0) {
    std::vector<T> xs;
    caf::binary_deserializer source{sys, data, size};
    if (source(xs))
      return false;
    f(xs);
  }
  return open && got == 0 && link.flush();
}

/// The readiness that wires use in `sys`: the io scheduler's when `sys`
/// runs it, else one process-wide poller thread.
std::shared_ptr<readiness> wire_readiness(caf::actor_system& sys);

/// A new random token.
wire_token make_wire_token();

/// Connects to `host:port` within `timeout`, sends `token` and returns the
/// stream; null if any step failed.
std::shared_ptr<wire> wire_connect(const std::string& host, uint16_t port,
                                   const wire_token& token,
                                   caf::timespan timeout);

/// Spawns the acceptor of a pool node's wires, listening on `address` (port
/// chosen by the kernel); `port` gets the port, 0 if no socket could be
/// opened (the actor is then invalid). It answers:
/// - `(relay_atom, token, gateway)`: a gateway (`caf::actor_addr`) takes the
///   streams that present `token` (`wire_token` as two `uint64_t`);
/// - `(relay_atom, token)`: forget the token.
/// A stream that presents a registered token goes to its gateway as
/// `(relay_atom, std::shared_ptr<wire>)`; others, and those that send no
/// token within two seconds, are closed.
caf::actor spawn_wire_acceptor(caf::actor_system& sys,
                               const std::string& address, uint16_t& port);

} // namespace pool::detail

// Local only: a socket never leaves its node.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<pool::detail::wire>)
