#include "http.hpp"

#include <exception>
#include <functional>

#include <CivetServer.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "json.hpp"
#include "pool/error.hpp"
#include "pool/metrics.hpp"

namespace poold {

namespace {

void respond(mg_connection* conn, int status, const char* status_text,
             const char* content_type, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, status_text, content_type, body.size());
  mg_write(conn, body.data(), body.size());
}

// A routed pool's replicas for /health: serving or not, and why not.
std::string replicas_json(const std::vector<pool::replica_stats>& xs) {
  std::string out;
  for (auto& r : xs) {
    out += (out.empty() ? "" : ",") + app::json_quote(r.name) +
           ":{\"serving\":" + (r.serving ? "true" : "false");
    if (!r.serving)
      out += ",\"reason\":" + app::json_quote(r.reason);
    out += '}';
  }
  return "{" + out + "}";
}

} // namespace

/// One endpoint: GET only.
class http_server::handler : public CivetHandler {
 public:
  explicit handler(std::function<void(mg_connection*)> f) : f_(std::move(f)) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    try {
      f_(conn);
    } catch (const std::exception& e) {
      respond(conn, 500, "Internal Server Error", "text/plain",
              std::string{"error: "} + e.what() + "\n");
    }
    return true;
  }

 private:
  std::function<void(mg_connection*)> f_;
};

std::string health_body(
  const std::vector<std::pair<std::string, pool::health_status>>& xs,
  const std::map<std::string, std::vector<pool::replica_stats>>& replicas) {
  bool all_ok = true;
  std::string pools;
  for (auto& [name, h] : xs) {
    all_ok = all_ok && h.ok;
    if (!pools.empty())
      pools += ',';
    pools += app::json_quote(name) + ":{\"ok\":" + (h.ok ? "true" : "false");
    if (!h.ok)
      pools += ",\"reason\":" + app::json_quote(h.reason);
    if (auto i = replicas.find(name); i != replicas.end() && !i->second.empty())
      pools += ",\"replicas\":" + replicas_json(i->second);
    pools += '}';
  }
  return std::string{"{\"status\":\""} + (all_ok ? "ok" : "unavailable") +
         "\",\"pools\":{" + pools + "}}";
}

caf::expected<std::unique_ptr<http_server>>
http_server::start(caf::actor_system& sys, const http_config& cfg) {
  std::unique_ptr<http_server> self{new http_server};
  self->collector_ =
    std::make_shared<pool::pool_collector>(sys, cfg.stats_timeout);
  self->registry_ = std::make_shared<prometheus::Registry>();
  auto where = cfg.address + ":" + std::to_string(cfg.port);
  // An IPv6 address goes in brackets for civetweb.
  if (cfg.address.find(':') != std::string::npos)
    where = "[" + cfg.address + "]:" + std::to_string(cfg.port);
  std::vector<std::string> options{
    "listening_ports",    where,
    "num_threads",        std::to_string(cfg.threads),
    "request_timeout_ms", "10000",
    "enable_keep_alive",  "no"};
  try {
    self->server_ = std::make_unique<CivetServer>(options);
  } catch (const std::exception& e) {
    return pool::make_error(pool::pool_errc::invalid_config,
                            "http: cannot listen on " + where + ": " +
                              e.what());
  }
  auto ports = self->server_->getListeningPorts();
  if (ports.empty() || ports.front() <= 0)
    return pool::make_error(pool::pool_errc::invalid_config,
                            "http: no listening port for " + where);
  self->port_ = static_cast<uint16_t>(ports.front());
  auto* raw = self.get();
  self->handlers_.push_back(std::make_unique<handler>([raw](mg_connection* c) {
    respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
            raw->metrics_text());
  }));
  self->server_->addHandler("/metrics", self->handlers_.back().get());
  self->handlers_.push_back(std::make_unique<handler>([raw](mg_connection* c) {
    auto [body, ok] = raw->health_json();
    if (ok)
      respond(c, 200, "OK", "application/json", body);
    else
      respond(c, 503, "Service Unavailable", "application/json", body);
  }));
  self->server_->addHandler("/health", self->handlers_.back().get());
  return self;
}

http_server::~http_server() {
  if (server_)
    server_->close(); // waits for requests in progress
}

caf::error http_server::add(std::string name, pool::pool_actor pool) {
  return collector_->add(std::move(name), std::move(pool));
}

bool http_server::remove(const std::string& name) {
  return collector_->remove(name);
}

std::string http_server::metrics_text() const {
  auto families = registry_->Collect();
  auto pools = collector_->Collect();
  families.insert(families.end(), std::make_move_iterator(pools.begin()),
                  std::make_move_iterator(pools.end()));
  return prometheus::TextSerializer{}.Serialize(families);
}

std::pair<std::string, bool> http_server::health_json() const {
  std::vector<std::pair<std::string, pool::health_status>> xs;
  std::map<std::string, std::vector<pool::replica_stats>> replicas;
  for (auto& [name, st] : collector_->fetch()) {
    xs.emplace_back(name, pool::health(st));
    if (st && !st->replicas.empty())
      replicas.emplace(name, st->replicas);
  }
  bool ok = true;
  for (auto& x : xs)
    ok = ok && x.second.ok;
  return {health_body(xs, replicas), ok};
}

} // namespace poold
