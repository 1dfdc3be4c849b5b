// poold: the pool node. Serves the named pools of its configuration to
// other CAF nodes (pool::connect_pool), until SIGINT or SIGTERM; SIGHUP
// reloads the configuration (reload.hpp).

#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <pthread.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

#include "dump_config.hpp"
#include "http.hpp"
#include "pool/error.hpp"
#include "pool/io_scheduler.hpp"
#include "pool/pool.hpp"
#include "pool/remote.hpp"
#include "poold_config.hpp"
#include "reload.hpp"
#include "routing_settings.hpp"

namespace {

using pool_map = std::map<std::string, pool::pool_actor>;

// Writes `port` to `file` (atomically: a reader never sees half of it).
void write_port_file(const std::string& file, uint16_t port) {
  if (file.empty())
    return;
  {
    std::ofstream out{file + ".tmp"};
    out << port << "\n";
  }
  std::rename((file + ".tmp").c_str(), file.c_str());
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

// Asks every pool to shut down within `deadline` and waits for them all.
void shut_down(caf::actor_system& sys, const pool_map& pools,
               caf::timespan deadline, spdlog::logger& log) {
  caf::scoped_actor self{sys};
  auto bound = deadline + std::chrono::seconds(5);
  for (auto& kv : pools) {
    self->request(kv.second, bound, pool::shutdown_atom::value, deadline)
      .receive([&](caf::ok_atom) { log.info("pool {} stopped", kv.first); },
               [&](caf::error& err) {
                 log.warn("pool {}: shutdown: {}", kv.first,
                          pool::describe(err));
               });
  }
}

int run(caf::actor_system& sys, poold::poold_config& cfg,
        std::shared_ptr<spdlog::logger> log, const sigset_t& signals, int argc,
        char** argv) {
  pool_map pools;
  for (auto& kv : cfg.pools) {
    auto pc = poold::spawn_config(kv.second, cfg.clustering.at(kv.first));
    pc.logger = log;
    auto& rs = cfg.routing.at(kv.first);
    auto p = rs.routed() ? poold::spawn_routed(sys, pc, rs, *log)
                         : pool::spawn_pool(sys, std::move(pc));
    if (!p) {
      log->error("pool {}: {}", kv.first, pool::describe(p.error()));
      shut_down(sys, pools, cfg.shutdown_deadline, *log);
      return 1;
    }
    pools.emplace(kv.first, *p);
  }
  poold::started_cluster cluster;
  if (!cfg.cluster_node.empty()) {
    auto started = poold::start_cluster(sys, cfg.cluster(), pools, cfg.pools,
                                        cfg.clustering, log);
    if (!started) {
      log->error("cluster: {}", pool::describe(started.error()));
      shut_down(sys, pools, cfg.shutdown_deadline, *log);
      return 1;
    }
    cluster = std::move(*started);
    log->info("cluster: node {}, peers: {}", cfg.cluster_node,
              cfg.cluster_peers.empty() ? std::string{"none"}
                                        : join(cfg.cluster_peers));
  }
  // Stops the member first (the pools then keep their limits), then the
  // pools, then their watches.
  auto stop_all = [&] {
    if (cluster.member)
      caf::anon_send_exit(cluster.member, caf::exit_reason::user_shutdown);
    shut_down(sys, pools, cfg.shutdown_deadline, *log);
    shut_down(sys, cluster.watches, cfg.shutdown_deadline, *log);
  };
  auto pub = pool::publish_pools(sys, pools, cfg.node_port, cfg.node_address,
                                 cluster.member);
  if (!pub) {
    log->error("cannot listen on {}:{}: {}", cfg.node_address, cfg.node_port,
               pool::describe(pub.error()));
    stop_all();
    return 1;
  }
  std::vector<std::string> names;
  for (auto& kv : pools)
    names.push_back(kv.first);
  auto& sc = sys.config();
  log->info("listening on {}:{} for CAF nodes{} (heartbeat {}, silent peer "
            "lost after {}); pools: {}",
            cfg.node_address, pub->port, cfg.node_tls ? " over TLS" : "",
            caf::deep_to_string(caf::get_or(sc, "middleman.heartbeat-interval",
                                            caf::timespan{0})),
            caf::deep_to_string(caf::get_or(sc, "middleman.connection-timeout",
                                            caf::timespan{0})),
            join(names));
  std::unique_ptr<poold::http_server> http;
  if (!cfg.http_address.empty()) {
    poold::http_config hc;
    hc.address = cfg.http_address;
    hc.port = cfg.http_port;
    auto started = poold::http_server::start(sys, hc);
    if (!started) {
      log->error("HTTP: {}", pool::describe(started.error()));
      sys.middleman().unpublish(pub->directory, pub->port);
      stop_all();
      caf::anon_send_exit(pub->directory, caf::exit_reason::user_shutdown);
      return 1;
    }
    http = std::move(*started);
    for (auto& kv : pools)
      http->add(kv.first, kv.second);
    log->info("HTTP on {}:{}: /metrics, /health", cfg.http_address,
              http->port());
    write_port_file(cfg.http_port_file, http->port());
  }
  write_port_file(cfg.port_file, pub->port);
  poold::running_node node{pools, cfg.pools, cfg.routing, &cfg, log};
  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    log->info("SIGHUP: reloading the configuration");
    poold::reload(sys, argc, argv, node);
  }
  log->info(
    "{}: shutting down (deadline {} ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
    std::chrono::duration_cast<std::chrono::milliseconds>(cfg.shutdown_deadline)
      .count());
  sys.middleman().unpublish(pub->directory, pub->port);
  stop_all();
  http.reset();
  caf::anon_send_exit(pub->directory, caf::exit_reason::user_shutdown);
  log->info("stopped");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  poold::poold_config cfg;
  if (auto err = cfg.parse_all(argc, argv)) {
    std::fprintf(stderr, "poold: %s\n", pool::describe(err).c_str());
    return 2;
  }
  if (cfg.help_printed)
    return 0;
  if (cfg.dump_requested) {
    std::fputs(poold::dump_config(cfg).c_str(), stdout);
    return 0;
  }
  auto level = spdlog::level::from_str(cfg.log_level);
  if (level == spdlog::level::off && cfg.log_level != "off") {
    std::fprintf(stderr, "poold: log.level: unknown level \"%s\"\n",
                 cfg.log_level.c_str());
    return 2;
  }
  if (cfg.scheduler == "io")
    pool::use_io_scheduler(cfg);
  // Signals go to sigwait in main, not to a thread of the actor system:
  // block them before the system starts its threads (they inherit the mask).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto log = std::make_shared<spdlog::logger>(
    "poold", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  log->set_level(level);
  log->flush_on(spdlog::level::trace);
  caf::actor_system sys{cfg};
  return run(sys, cfg, log, signals, argc, argv);
}
