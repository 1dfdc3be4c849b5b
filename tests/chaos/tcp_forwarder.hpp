#pragma once

// A loopback TCP forwarder that can stall the network without closing it:
// listens on 127.0.0.1 (an ephemeral port), forwards each accepted connection
// to 127.0.0.1:<target port>, all from one poll()-based thread with
// non-blocking sockets. pause() stops moving bytes in both directions and
// stops accepting (the kernel still completes handshakes into the backlog),
// without closing any socket — what a silent network partition looks like
// to the pool. resume() moves bytes again.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace chaos {

class tcp_forwarder {
 public:
  /// Starts listening and the forwarding thread; check `ok()`.
  explicit tcp_forwarder(uint16_t target_port);

  /// Closes every socket and joins the thread.
  ~tcp_forwarder();

  tcp_forwarder(const tcp_forwarder&) = delete;
  tcp_forwarder& operator=(const tcp_forwarder&) = delete;

  /// Whether the listener is up; else `error()` says why.
  bool ok() const { return port_ != 0; }

  const std::string& error() const { return error_; }

  /// The port the forwarder listens on (127.0.0.1).
  uint16_t port() const { return port_; }

  /// Stops forwarding and accepting; no socket is closed.
  void pause();

  /// Forwards and accepts again.
  void resume();

  /// Connections accepted so far.
  uint64_t accepted() const { return accepted_; }

  /// Connections currently open (client side).
  uint64_t open_connections() const { return open_; }

 private:
  void run();
  void wake();

  uint16_t target_port_;
  uint16_t port_ = 0;
  std::string error_;
  int listen_fd_ = -1;
  int wake_fd_ = -1; // eventfd: pause/resume/stop
  std::atomic<bool> paused_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> open_{0};
  std::thread thread_;
};

} // namespace chaos
