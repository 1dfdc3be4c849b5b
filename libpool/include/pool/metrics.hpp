#pragma once

// Prometheus metrics for libpool's pools, in the separate library target
// `pool::metrics` (links prometheus-cpp::core; `pool::pool` does not).

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/protocol.hpp"

namespace pool {

/// The statistics of one named pool as one scrape saw them: the stats, or
/// the error that came instead (e.g. `request_timeout`).
using named_stats = std::pair<std::string, caf::expected<pool_stats>>;

/// A `prometheus::Collectable` that exports the statistics of named pools.
/// Register it in your own registry or exposer:
///
///     auto collector = std::make_shared<pool::pool_collector>(system);
///     collector->add("orders", orders_pool);
///     prometheus::Exposer exposer{"127.0.0.1:9187"};
///     exposer.RegisterCollectable(collector);
///
/// Every metric carries a label `pool` with the name given to `add`. The
/// metrics (durations in seconds):
///
/// - gauges: `libpool_pool_up` (1 if the pool answered this scrape, else 0
///   and nothing else for that pool), `libpool_connections{state}` (state
///   idle, leased, busy, connecting, cleaning; their sum is
///   `libpool_connections_open`), `libpool_connections_open`,
///   `libpool_waiting_requests`, `libpool_overloaded` (0/1),
///   `libpool_shutting_down` (0/1), `libpool_breaker_state{state}` (1 for
///   the breaker's current state closed, open or half_open, 0 for the
///   others);
/// - counters: `libpool_acquired_total`, `libpool_acquire_timeouts_total`,
///   `libpool_shed_total`, `libpool_rejected_total`,
///   `libpool_connections_created_total`,
///   `libpool_connections_closed_total{reason}` (reason lifetime,
///   idle_timeout, health_check, lost, reset, shrink, shutdown, other),
///   `libpool_connect_failures_total`, `libpool_query_errors_total{class}`
///   (SQLSTATE class, e.g. "23"), `libpool_breaker_transitions_total{to}`
///   (to open, half_open, closed), `libpool_leaks_total`,
///   `libpool_leases_reclaimed_total`, `libpool_leases_timed_out_total`,
///   `libpool_health_check_failures_total`, `libpool_pipelined_total`;
/// - histograms: `libpool_acquire_wait_seconds`,
///   `libpool_query_duration_seconds`,
///   `libpool_connection_lifetime_seconds`.
///
/// Thread safety: `add`, `remove`, `fetch` and `Collect` may be called from
/// any thread that is not a CAF scheduler thread (`fetch` and `Collect`
/// block for up to the timeout, as a scraping thread may).
class pool_collector : public prometheus::Collectable {
 public:
  /// A collector asking pools in `sys`, waiting at most `timeout` per scrape
  /// for their answers.
  explicit pool_collector(caf::actor_system& sys,
                          caf::timespan timeout = std::chrono::seconds(1));

  /// Exports `pool` under the label `pool="name"`, replacing a pool added
  /// under that name before. Errors: `invalid_request` when `name` is empty
  /// or `pool` is invalid (nothing changes then).
  caf::error add(std::string name, pool_actor pool);

  /// Stops exporting the pool named `name`; returns whether there was one.
  bool remove(const std::string& name);

  /// The names of the pools exported, sorted.
  std::vector<std::string> names() const;

  /// Asks every pool for its stats at once and waits for the answers (at
  /// most the timeout in all); a pool that does not answer in time has the
  /// error instead (`request_timeout`). Sorted by name. Blocks the calling
  /// thread: never call it from an actor.
  std::vector<named_stats> fetch() const;

  /// `families(fetch())`: called by prometheus-cpp on every scrape.
  std::vector<prometheus::MetricFamily> Collect() const override;

  /// The metric families for stats fetched already (see the class comment).
  static std::vector<prometheus::MetricFamily>
  families(const std::vector<named_stats>& stats);

 private:
  caf::actor_system& sys_;
  caf::timespan timeout_;
  mutable std::mutex mtx_;
  std::map<std::string, pool_actor> pools_;
};

} // namespace pool
