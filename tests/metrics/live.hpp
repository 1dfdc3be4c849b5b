#pragma once

// Helpers of the live metrics tests: pools against the PostgreSQL server
// named by POOL_TEST_DSN, and a plain-socket HTTP client.

#include <string>

#include "caf/all.hpp"

#include "pool/all.hpp"

#include "live_support.hpp"

namespace metrics_test {

/// POOL_TEST_DSN, or fails the running test saying how to get one.
std::string test_dsn();

/// Spawns a pool named `name` on `conninfo` (min 1, max 2), or fails the
/// test.
pool::pool_actor spawn(caf::actor_system& sys, const std::string& name,
                       const std::string& conninfo);

/// Runs `sql` as a pooled query and returns the outcome (10 s at most).
caf::expected<pool::query_result>
run(caf::scoped_actor& self, const pool::pool_actor& p, const std::string& sql);

/// Shuts `p` down (waits at most 10 s).
void shut_down(caf::scoped_actor& self, const pool::pool_actor& p);

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
uint16_t closed_port();

/// A response of the HTTP client.
struct http_response {
  /// The status code, 0 if the request failed (`error` says why).
  int status = 0;
  std::string headers;
  std::string body;
  std::string error;
};

/// GETs `path` from 127.0.0.1:`port` over a plain socket (HTTP/1.0, reads
/// until the server closes; 10 s timeouts).
http_response http_get(uint16_t port, const std::string& path);

} // namespace metrics_test
