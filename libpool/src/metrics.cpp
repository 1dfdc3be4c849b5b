#include "pool/metrics.hpp"

#include <chrono>
#include <limits>

#include "caf/actor_system.hpp"
#include "caf/scoped_actor.hpp"

#include "pool/error.hpp"

namespace pool {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

double seconds(caf::timespan d) {
  return std::chrono::duration<double>(d).count();
}

// The families of one scrape, in the order they were first used, each
// filled with the samples of every pool.
class family_set {
 public:
  void gauge(const char* name, const char* help, const std::string& pool,
             double value, const char* label = nullptr,
             const std::string& label_value = {}) {
    sample(name, help, MetricType::Gauge, pool, label, label_value)
      .gauge.value = value;
  }

  void counter(const char* name, const char* help, const std::string& pool,
               double value, const char* label = nullptr,
               const std::string& label_value = {}) {
    sample(name, help, MetricType::Counter, pool, label, label_value)
      .counter.value = static_cast<double>(value);
  }

  void histogram(const char* name, const char* help, const std::string& pool,
                 const duration_histogram& h) {
    auto& m = sample(name, help, MetricType::Histogram, pool, nullptr, {});
    m.histogram.sample_count = h.count;
    m.histogram.sample_sum = seconds(h.sum);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.bounds.size() && i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      m.histogram.bucket.push_back({cumulative, seconds(h.bounds[i])});
    }
    // +Inf holds every observation, whatever the buckets say.
    m.histogram.bucket.push_back(
      {h.count, std::numeric_limits<double>::infinity()});
  }

  std::vector<MetricFamily> take() {
    std::vector<MetricFamily> result;
    for (auto& f : families_)
      if (!f.metric.empty())
        result.push_back(std::move(f));
    return result;
  }

 private:
  ClientMetric& sample(const char* name, const char* help, MetricType type,
                       const std::string& pool, const char* label,
                       const std::string& label_value) {
    auto i = index_.find(name);
    if (i == index_.end()) {
      i = index_.emplace(name, families_.size()).first;
      families_.push_back(MetricFamily{name, help, type, {}});
    }
    auto& m = families_[i->second].metric.emplace_back();
    m.label.push_back({"pool", pool});
    if (label != nullptr)
      m.label.push_back({label, label_value});
    return m;
  }

  std::map<std::string, size_t> index_;
  std::vector<MetricFamily> families_;
};

// Open connections by host:port; a routed pool's replicas' count too.
std::map<std::string, uint32_t> hosts_of(const pool_stats& st) {
  auto out = st.connections_by_host;
  for (auto& r : st.replicas)
    for (auto& kv : r.connections_by_host)
      out[kv.first] += kv.second;
  return out;
}

// The replicas of a routed pool (pool/routing.hpp); nothing for a plain one.
void add_replicas(family_set& fs, const std::string& pool,
                  const pool_stats& st) {
  if (st.replicas.empty())
    return;
  fs.counter("libpool_reads_on_primary_total",
             "Read-only requests run on the primary: no replica served.", pool,
             st.reads_on_primary);
  for (auto& r : st.replicas) {
    fs.gauge("libpool_replica_serving",
             "1 while the replica gets read-only requests.", pool,
             r.serving ? 1 : 0, "replica", r.name);
    fs.gauge("libpool_replica_lag_seconds",
             "The replica's replay lag at its last successful check.", pool,
             seconds(r.lag), "replica", r.name);
    fs.counter("libpool_replica_reads_total",
               "Read-only requests sent to the replica.", pool, r.reads,
               "replica", r.name);
    fs.counter("libpool_replica_lag_check_failures_total",
               "Lag checks of the replica that failed.", pool,
               r.lag_check_failures, "replica", r.name);
  }
}

// LISTEN/NOTIFY (pool_stats::listen); every pool has the samples.
void add_listen(family_set& fs, const std::string& pool, const pool_stats& st) {
  auto& l = st.listen;
  fs.gauge("libpool_listen_connections",
           "Connections the pool listens on (LISTEN/NOTIFY; 0 or 1).", pool,
           l.connections);
  fs.gauge("libpool_listen_channels", "Channels listened to.", pool,
           l.channels);
  fs.gauge("libpool_listen_subscriptions",
           "Listeners per channel, summed over the channels.", pool,
           l.subscriptions);
  fs.counter("libpool_notifications_received_total",
             "Notifications received from the server.", pool, l.received);
  fs.counter("libpool_notifications_delivered_total",
             "Notification messages sent to listeners.", pool, l.delivered);
  fs.counter("libpool_listen_reconnects_total",
             "Times the listening connection was lost and listening resumed "
             "on a new one.",
             pool, l.reconnects);
}

void add_pool(family_set& fs, const std::string& pool, const pool_stats& st) {
  auto state = [&](const char* s, uint32_t n) {
    fs.gauge("libpool_connections", "Connections by state.", pool, n, "state",
             s);
  };
  state("idle", st.idle);
  state("leased", st.leased);
  state("busy", st.busy);
  state("connecting", st.connecting);
  state("cleaning", st.cleaning);
  fs.gauge("libpool_connections_open",
           "Connections that exist, connecting ones included.", pool, st.total);
  fs.gauge("libpool_connections_max",
           "The most connections the pool may hold now: max_size, or its "
           "limit (a cluster node's share) if lower.",
           pool, st.max_open);
  fs.gauge("libpool_waiting_requests", "Requests waiting for a connection.",
           pool, st.waiting);
  fs.gauge("libpool_overloaded", "1 while load shedding is active.", pool,
           st.overloaded ? 1 : 0);
  fs.gauge("libpool_shutting_down", "1 while the pool shuts down.", pool,
           st.shutting_down ? 1 : 0);
  for (auto s :
       {breaker_state::closed, breaker_state::open, breaker_state::half_open})
    fs.gauge("libpool_breaker_state",
             "1 for the circuit breaker's current state.", pool,
             st.breaker == s ? 1 : 0, "state", to_string(s));
  fs.counter("libpool_acquired_total",
             "Requests that got a connection (queries, transactions, "
             "leases).",
             pool, st.acquired);
  fs.counter("libpool_acquire_timeouts_total",
             "Requests answered with acquire_timeout.", pool,
             st.acquire_timeouts);
  fs.counter("libpool_shed_total",
             "Requests rejected with overloaded (load shedding).", pool,
             st.shed);
  fs.counter("libpool_rejected_total", "Requests rejected with queue_full.",
             pool, st.rejected);
  fs.counter("libpool_connections_created_total",
             "Connections opened successfully.", pool, st.connections_created);
  for (size_t i = 0; i < close_reason_count; ++i)
    fs.counter("libpool_connections_closed_total",
               "Connections closed, by reason.", pool,
               st.connections_closed_by[i], "reason",
               to_string(static_cast<close_reason>(i)));
  fs.counter("libpool_connect_failures_total", "Connect attempts that failed.",
             pool, st.connect_failures);
  for (auto& kvp : st.errors_by_class)
    fs.counter("libpool_query_errors_total",
               "Failed statements, by SQLSTATE class.", pool, kvp.second,
               "class", kvp.first);
  auto transition = [&](const char* to, uint64_t n) {
    fs.counter("libpool_breaker_transitions_total",
               "Circuit breaker transitions, by the state entered.", pool, n,
               "to", to);
  };
  transition("open", st.breaker_opened);
  transition("half_open", st.breaker_half_opened);
  transition("closed", st.breaker_closed);
  fs.counter("libpool_leaks_total", "Leases held past leak_threshold.", pool,
             st.leaks);
  fs.counter("libpool_leases_reclaimed_total",
             "Leases reclaimed because their holder died.", pool,
             st.leases_reclaimed);
  fs.counter("libpool_leases_timed_out_total",
             "Leases reclaimed after lease_timeout.", pool,
             st.leases_timed_out);
  fs.counter("libpool_health_check_failures_total",
             "Health checks and validations that failed.", pool,
             st.health_check_failures);
  fs.counter("libpool_pipelined_total",
             "Queries that joined a busy connection's pipeline.", pool,
             st.pipelined);
  fs.gauge("libpool_paused", "1 while the pool is paused (pause/resume).", pool,
           st.paused ? 1 : 0);
  fs.counter("libpool_connections_reset_total",
             "Connections replaced by a reset.", pool, st.connections_reset);
  for (size_t i = 0; i < st.by_priority.size(); ++i) {
    auto& c = st.by_priority[i];
    auto cls = to_string(static_cast<priority>(i));
    fs.counter("libpool_priority_acquired_total",
               "Requests that got a connection, by priority class.", pool,
               c.acquired, "class", cls);
    fs.counter("libpool_priority_acquire_timeouts_total",
               "Requests answered with acquire_timeout, by priority class.",
               pool, c.acquire_timeouts, "class", cls);
    fs.gauge("libpool_priority_waiting_requests",
             "Requests waiting for a connection, by priority class.", pool,
             c.waiting, "class", cls);
    fs.counter("libpool_priority_wait_seconds_total",
               "Time requests waited for a connection, by priority class.",
               pool, std::chrono::duration<double>(c.wait_time_total).count(),
               "class", cls);
  }
  for (auto& kvp : hosts_of(st))
    fs.gauge("libpool_connections_by_host",
             "Open connections, by the host:port they reached.", pool,
             kvp.second, "host", kvp.first);
  add_replicas(fs, pool, st);
  add_listen(fs, pool, st);
  fs.histogram("libpool_acquire_wait_seconds",
               "How long requests waited for a connection.", pool,
               st.acquire_wait);
  fs.histogram("libpool_query_duration_seconds",
               "How long pooled queries and transactions held their "
               "connection.",
               pool, st.query_time);
  fs.histogram("libpool_connection_lifetime_seconds",
               "How long closed connections lived.", pool,
               st.connection_lifetime);
}

} // namespace

pool_collector::pool_collector(caf::actor_system& sys, caf::timespan timeout)
  : sys_(sys), timeout_(timeout) {
  // nop
}

caf::error pool_collector::add(std::string name, pool_actor pool) {
  if (name.empty())
    return make_error(pool_errc::invalid_request,
                      "pool_collector::add: empty pool name");
  if (!pool)
    return make_error(pool_errc::invalid_request,
                      "pool_collector::add: invalid pool handle for \"" + name +
                        "\"");
  std::lock_guard<std::mutex> guard{mtx_};
  pools_[std::move(name)] = std::move(pool);
  return {};
}

bool pool_collector::remove(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  return pools_.erase(name) > 0;
}

std::vector<std::string> pool_collector::names() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> result;
  for (auto& kvp : pools_)
    result.push_back(kvp.first);
  return result;
}

std::vector<named_stats> pool_collector::fetch() const {
  std::map<std::string, pool_actor> pools;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    pools = pools_;
  }
  std::vector<named_stats> result;
  if (pools.empty())
    return result;
  caf::scoped_actor self{sys_};
  using handle = decltype(self->request(std::declval<pool_actor>(), timeout_,
                                        stats_atom::value));
  // All requests go out first, so that the scrape waits at most one
  // timeout however many pools hang.
  std::vector<handle> pending;
  for (auto& kvp : pools) {
    result.emplace_back(kvp.first, caf::expected<pool_stats>{caf::make_error(
                                     caf::sec::invalid_argument)});
    pending.emplace_back(
      self->request(kvp.second, timeout_, stats_atom::value));
  }
  for (size_t i = 0; i < pending.size(); ++i)
    pending[i].receive(
      [&](pool_stats& st) { result[i].second = std::move(st); },
      [&](caf::error& err) { result[i].second = std::move(err); });
  return result;
}

std::vector<prometheus::MetricFamily> pool_collector::Collect() const {
  return families(fetch());
}

std::vector<prometheus::MetricFamily>
pool_collector::families(const std::vector<named_stats>& stats) {
  family_set fs;
  for (auto& [name, st] : stats)
    fs.gauge("libpool_pool_up", "1 if the pool answered this scrape, else 0.",
             name, st ? 1 : 0);
  for (auto& [name, st] : stats)
    if (st)
      add_pool(fs, name, *st);
  return fs.take();
}

} // namespace pool
