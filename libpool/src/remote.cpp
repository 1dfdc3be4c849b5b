#include "pool/remote.hpp"

#include "relay.hpp"
#include "tls_errors.hpp"
#include "wire.hpp"

#include <algorithm>
#include <utility>

#include "caf/actor_registry.hpp"
#include "caf/actor_system.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/middleman_actor.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/openssl/publish.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "pool/error.hpp"
#include "pool/pool.hpp"

namespace pool {

namespace {

struct directory_state {
  static const char* name;
  std::map<std::string, pool_actor> pools;
  /// The acceptor of the relays' own streams and its port (none on a TLS
  /// node: those streams are not encrypted).
  caf::actor acceptor;
  uint16_t wire_port = 0;
  /// The node's cluster member, if the node is in a cluster.
  caf::actor cluster;
};

const char* directory_state::name = "pool.directory";

std::string joined_names(const std::map<std::string, pool_actor>& pools) {
  std::string out;
  for (auto& kv : pools) {
    if (!out.empty())
      out += ", ";
    out += kv.first;
  }
  return out.empty() ? "none" : out;
}

caf::expected<pool_actor>
find_pool(const std::map<std::string, pool_actor>& pools,
          const std::string& name) {
  auto i = pools.find(name);
  if (i == pools.end())
    return make_error(pool_errc::invalid_request,
                      "this node has no pool named '" + name +
                        "' (its pools: " + joined_names(pools) + ")");
  return i->second;
}

node_actor::behavior_type
directory_impl(node_actor::stateful_pointer<directory_state> self,
               std::map<std::string, pool_actor> pools, std::string address,
               caf::actor cluster) {
  auto& st = self->state;
  st.pools = std::move(pools);
  st.cluster = std::move(cluster);
  if (!self->system().has_openssl_manager()) {
    st.acceptor =
      detail::spawn_wire_acceptor(self->system(), address, st.wire_port);
    if (st.acceptor)
      self->link_to(st.acceptor);
  }
  return {
    [=](lookup_atom, const std::string& name) -> caf::result<pool_actor> {
      return find_pool(self->state.pools, name);
    },
    [=](relay_atom, const std::string& name,
        caf::actor& inbox) -> caf::result<caf::actor> {
      auto p = find_pool(self->state.pools, name);
      if (!p)
        return std::move(p.error());
      if (!inbox)
        return make_error(pool_errc::invalid_request,
                          "relay: the inbox is an invalid actor handle");
      auto& st = self->state;
      return detail::spawn_relay_gateway(self->system(), std::move(*p),
                                         std::move(inbox), st.acceptor,
                                         st.wire_port);
    },
    [=](cluster_atom) -> caf::result<caf::actor> {
      if (!self->state.cluster)
        return make_error(pool_errc::invalid_request,
                          "this node is not in a cluster");
      return self->state.cluster;
    },
    [=](list_atom) {
      std::vector<std::string> names;
      for (auto& kv : self->state.pools)
        names.push_back(kv.first);
      return names;
    },
  };
}

// Whether `name` survives the round trip through a CAF atom (at most 10
// characters of the atom alphabet).
bool is_atom_name(const std::string& name) {
  if (name.empty() || name.size() > 10)
    return false;
  return caf::to_string(caf::atom_from_string(name)) == name;
}

std::string where(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}

// The error of a request to the node at host:port: the node's own answer
// (a pool error) as it is, anything else (a timeout, a lost link) as
// pool_down saying that the node `did_not`.
caf::error node_failed(caf::error err, const std::string& host, uint16_t port,
                       const std::string& did_not) {
  if (err.category() == pool_error_category::value)
    return err;
  return make_error(pool_errc::pool_down, "the pool node at " +
                                            where(host, port) + " " + did_not +
                                            ": " + describe(err));
}

// One connect through the middleman (or its TLS twin) to host:port.
caf::expected<node_actor> connect_once(caf::scoped_actor& self,
                                       const std::string& host, uint16_t port,
                                       caf::timespan timeout) {
  auto& sys = self->system();
  auto mm = sys.has_openssl_manager() ? sys.openssl_manager().actor_handle()
                                      : sys.middleman().actor_handle();
  caf::expected<node_actor> res{caf::error{}};
  self->request(mm, timeout, caf::connect_atom::value, host, port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        if (ptr)
          res = caf::actor_cast<node_actor>(std::move(ptr));
        else
          res = make_error(pool_errc::pool_down,
                           "the node at " + where(host, port) +
                             " published no pool directory");
      },
      [&](caf::error& err) { res = std::move(err); });
  return res;
}

// Connects to the directory of the node at host:port within `timeout`. A
// handshake that stalled until CAF's connection timeout is tried again while
// time is left: over TLS 1.3, CAF 0.17.6's OpenSSL session sometimes leaves
// the peer's first bytes in OpenSSL's buffer with no readiness event to read
// them (README, "TLS between nodes").
caf::expected<node_actor> connect_directory(caf::scoped_actor& self,
                                            const std::string& host,
                                            uint16_t port,
                                            caf::timespan timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = deadline - std::chrono::steady_clock::now();
    auto res = connect_once(self, host, port,
                            std::chrono::duration_cast<caf::timespan>(left));
    if (res || res.error().category() == pool_error_category::value)
      return res;
    bool stalled = res.error() == caf::sec::connection_timeout;
    if (!stalled ||
        std::chrono::steady_clock::now() + std::chrono::milliseconds(100) >=
          deadline)
      return make_error(pool_errc::pool_down, "cannot reach the pool node at " +
                                                where(host, port) + ": " +
                                                describe(res.error()));
  }
}

} // namespace

void configure_node(caf::actor_system_config& cfg, node_options opts) {
  detail::link_tls_error_queue_fix(); // TLS that survives a refused client
  cfg.load<caf::io::middleman>();
  add_message_types(cfg);
  cfg.set("middleman.heartbeat-interval", opts.heartbeat_interval);
  cfg.set("middleman.connection-timeout", opts.connection_timeout);
  if (opts.tls)
    cfg.load<caf::openssl::manager>();
}

caf::expected<published_pools>
publish_pools(caf::actor_system& sys, std::map<std::string, pool_actor> pools,
              uint16_t port, const std::string& address, caf::actor cluster) {
  if (pools.empty())
    return make_error(pool_errc::invalid_config, "publish_pools: no pools");
  for (auto& kv : pools) {
    if (kv.first.empty())
      return make_error(pool_errc::invalid_config,
                        "publish_pools: a pool has an empty name");
    if (is_atom_name(kv.first))
      sys.registry().put(caf::atom_from_string(kv.first),
                         caf::actor_cast<caf::strong_actor_ptr>(kv.second));
  }
  auto dir =
    sys.spawn(directory_impl, std::move(pools), address, std::move(cluster));
  auto res = sys.has_openssl_manager()
               ? caf::openssl::publish(dir, port, address.c_str(), true)
               : sys.middleman().publish(dir, port, address.c_str(), true);
  if (!res) {
    caf::anon_send_exit(dir, caf::exit_reason::user_shutdown);
    return std::move(res.error());
  }
  return published_pools{dir, *res};
}

caf::expected<pool_actor> connect_pool(caf::actor_system& sys,
                                       const std::string& host, uint16_t port,
                                       const std::string& name,
                                       caf::timespan timeout) {
  caf::scoped_actor self{sys};
  auto dir = connect_directory(self, host, port, timeout);
  if (!dir)
    return std::move(dir.error());
  auto failed = [&](caf::error& err) {
    return node_failed(std::move(err), host, port,
                       "did not answer the lookup of '" + name + "'");
  };
  caf::expected<pool_actor> res{caf::error{}};
  self->request(*dir, timeout, lookup_atom::value, name)
    .receive([&](pool_actor& p) { res = std::move(p); },
             [&](caf::error& err) { res = failed(err); });
  if (!res)
    return res;
  // The batched query path: a gateway on the node, a relay here.
  auto inbox = detail::spawn_relay_inbox(sys);
  caf::actor gateway;
  self->request(*dir, timeout, relay_atom::value, name, inbox)
    .receive([&](caf::actor& g) { gateway = std::move(g); },
             [&](caf::error& err) { res = failed(err); });
  if (!gateway) {
    caf::anon_send_exit(inbox, caf::exit_reason::user_shutdown);
    return res ? make_error(pool_errc::pool_down,
                            "the pool node at " + where(host, port) +
                              " gave no gateway for '" + name + "'")
               : res;
  }
  // The relay's own stream, if the node offers one (else, or if it cannot
  // be opened within a second, e.g. behind a firewall that lets only the
  // node's port through, the batches travel through the node link).
  std::shared_ptr<detail::wire> w;
  self->request(gateway, timeout, relay_atom::value)
    .receive(
      [&](uint16_t wire_port, uint64_t t0, uint64_t t1) {
        caf::timespan limit =
          std::min<caf::timespan>(timeout, std::chrono::seconds(1));
        if (wire_port != 0)
          w = detail::wire_connect(host, wire_port, {t0, t1}, limit);
      },
      [&](caf::error&) {});
  return detail::spawn_relay(sys, std::move(*res), std::move(gateway),
                             std::move(inbox), std::move(w));
}

caf::expected<cluster_view> cluster_view_of(caf::actor_system& sys,
                                            const std::string& host,
                                            uint16_t port,
                                            caf::timespan timeout) {
  caf::scoped_actor self{sys};
  auto dir = connect_directory(self, host, port, timeout);
  if (!dir)
    return std::move(dir.error());
  auto failed = [&](caf::error& err) {
    return node_failed(std::move(err), host, port, "did not show its cluster");
  };
  caf::expected<cluster_view> res{caf::error{}};
  self->request(*dir, timeout, cluster_atom::value)
    .receive(
      [&](caf::actor& member) {
        self->request(member, timeout, cluster_atom::value)
          .receive([&](cluster_view& v) { res = std::move(v); },
                   [&](caf::error& err) { res = failed(err); });
      },
      [&](caf::error& err) { res = failed(err); });
  return res;
}

caf::expected<std::vector<std::string>> list_pools(caf::actor_system& sys,
                                                   const std::string& host,
                                                   uint16_t port,
                                                   caf::timespan timeout) {
  caf::scoped_actor self{sys};
  auto dir = connect_directory(self, host, port, timeout);
  if (!dir)
    return std::move(dir.error());
  caf::expected<std::vector<std::string>> res{caf::error{}};
  self->request(*dir, timeout, list_atom::value)
    .receive([&](std::vector<std::string>& xs) { res = std::move(xs); },
             [&](caf::error& err) {
               res = make_error(pool_errc::pool_down,
                                "the pool node at " + where(host, port) +
                                  " did not list its pools: " + describe(err));
             });
  return res;
}

} // namespace pool
