#include "live.hpp"

#include <cstdlib>
#include <iostream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "caf/test/unit_test.hpp"

namespace metrics_test {

std::string test_dsn() {
  const char* dsn = std::getenv("POOL_TEST_DSN");
  if (dsn == nullptr || *dsn == '\0') {
    static constexpr const char* msg =
      "POOL_TEST_DSN is not set: the live metrics tests need the PostgreSQL "
      "server that scripts/test (or scripts/pg-up) starts";
    std::cerr << "\n*** " << msg << "\n" << std::endl;
    CAF_FAIL(msg);
  }
  return dsn;
}

pool::pool_actor spawn(caf::actor_system& sys, const std::string& name,
                       const std::string& conninfo) {
  pool::pool_config cfg;
  cfg.name = name;
  cfg.conninfo = conninfo;
  cfg.min_size = 1;
  cfg.max_size = 2;
  cfg.connect_timeout = std::chrono::seconds(5);
  cfg.backoff_min = std::chrono::milliseconds(20);
  cfg.backoff_max = std::chrono::milliseconds(50);
  cfg.breaker_threshold = 2;
  cfg.breaker_cooldown = std::chrono::seconds(30);
  auto p = pool::spawn_pool(sys, cfg);
  if (!p)
    CAF_FAIL("spawn_pool " << name << ": " << pool::describe(p.error()));
  return *p;
}

caf::expected<pool::query_result> run(caf::scoped_actor& self,
                                      const pool::pool_actor& p,
                                      const std::string& sql) {
  return pool_test::call<pool::query_result>(self, p, std::chrono::seconds(10),
                                             pool::query_atom_v,
                                             pool::statement{sql});
}

void shut_down(caf::scoped_actor& self, const pool::pool_actor& p) {
  auto r = pool_test::call<caf::ok_atom>(
    self, p, std::chrono::seconds(10), pool::shutdown_atom_v,
    caf::timespan{std::chrono::seconds(2)});
  if (!r)
    CAF_ERROR("shutdown: " << pool::describe(r.error()));
}

uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    CAF_FAIL("cannot find a free port");
  ::close(fd);
  return ntohs(addr.sin_port);
}

http_response http_get(uint16_t port, const std::string& path) {
  http_response result;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    result.error = "socket failed";
    return result;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    result.error = "connect failed";
    return result;
  }
  auto req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, req.data(), req.size(), 0) !=
      static_cast<ssize_t>(req.size())) {
    ::close(fd);
    result.error = "send failed";
    return result;
  }
  std::string raw;
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      result.error = "recv failed or timed out";
      break;
    }
    if (n == 0)
      break;
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto end = raw.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (result.error.empty())
      result.error = "no complete response: " + raw;
    return result;
  }
  result.headers = raw.substr(0, end);
  result.body = raw.substr(end + 4);
  auto sp = result.headers.find(' ');
  if (sp != std::string::npos)
    result.status = std::atoi(result.headers.c_str() + sp + 1);
  return result;
}

} // namespace metrics_test
