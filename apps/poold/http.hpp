#pragma once

// poold's HTTP endpoints: /metrics (Prometheus text format) and /health
// (JSON), served by civetweb on its own threads.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/health.hpp"
#include "pool/protocol.hpp"

class CivetServer;

namespace prometheus {
class Registry;
} // namespace prometheus

namespace pool {
class pool_collector;
} // namespace pool

namespace poold {

/// Where and how the HTTP endpoints listen.
struct http_config {
  /// The address to bind; loopback by default (the endpoints carry no
  /// authentication).
  std::string address = "127.0.0.1";
  /// The port; 0 picks a free one (see `http_server::port`).
  uint16_t port = 9187;
  /// How long a scrape or health request waits for the pools' stats.
  caf::timespan stats_timeout = std::chrono::seconds(1);
  /// civetweb's worker threads (each serves one request at a time).
  int threads = 2;
};

/// Serves `GET /metrics` and `GET /health` for a changing set of named pools:
///
/// - `/metrics`: 200, `text/plain; version=0.0.4`, the families of
///   `registry()` (for the node's own metrics) and of the pools' collector
///   (see pool/metrics.hpp for the names).
/// - `/health`: 200 with `{"status":"ok","pools":{"orders":{"ok":true}}}`
///   when every pool is healthy (`pool::health`), else 503 with
///   `{"status":"unavailable","pools":{"orders":{"ok":false,"reason":"..."}}}`;
///   with no pool at all, 200 with an empty `pools` object.
///
/// Requests are served on civetweb's threads, which block on the pools'
/// answers for at most `stats_timeout`: never a CAF scheduler thread.
/// Destroy the server before the actor system it asks.
class http_server {
 public:
  /// Starts serving. Errors (as a `pool_errc::invalid_config` error naming
  /// the address): the address cannot be bound (port in use, bad address).
  static caf::expected<std::unique_ptr<http_server>>
  start(caf::actor_system& sys, const http_config& cfg);

  /// Stops serving (waits for requests in progress).
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// The port actually bound (the chosen one when configured with 0).
  uint16_t port() const { return port_; }

  /// Serves `pool` as `name` from now on, replacing a pool of that name.
  /// Errors: `invalid_request` for an empty name or an invalid handle.
  caf::error add(std::string name, pool::pool_actor pool);

  /// Stops serving the pool `name`; returns whether there was one.
  bool remove(const std::string& name);

  /// A registry for the node's own metrics, served on /metrics too.
  prometheus::Registry& registry() { return *registry_; }

  /// The collector of the pools' metrics.
  pool::pool_collector& collector() { return *collector_; }

  /// The body of /metrics now.
  std::string metrics_text() const;

  /// The body of /health now, and whether every pool is healthy.
  std::pair<std::string, bool> health_json() const;

 private:
  http_server() = default;

  class handler;

  std::shared_ptr<pool::pool_collector> collector_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::unique_ptr<handler>> handlers_;
  std::unique_ptr<CivetServer> server_;
  uint16_t port_ = 0;
};

/// The /health body for these pools' health (names and reasons escaped by
/// `app::json_quote`), e.g.
/// `{"status":"ok","pools":{"orders":{"ok":true}}}`. A pool with an entry
/// in `replicas` (a routed pool) also lists whether each replica serves
/// reads, e.g. `"orders":{"ok":true,"replicas":{"orders.replica1":
/// {"serving":false,"reason":"lag check failed: ..."}}}`; a pool's `ok`
/// and the status are its primary's (a routed pool without a serving
/// replica still serves, or fails, reads as configured).
std::string health_body(
  const std::vector<std::pair<std::string, pool::health_status>>& xs,
  const std::map<std::string, std::vector<pool::replica_stats>>& replicas = {});

} // namespace poold
