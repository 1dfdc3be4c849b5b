// The pool phase: queries/s of N client actors on a pool of P connections.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "caf/all.hpp"

#include "pool/error.hpp"

#include "phases.hpp"
#include "pool_util.hpp"
#include "requests.hpp"

namespace bench {

namespace {

/// What one client measured.
struct client_samples {
  /// Latencies of the queries completed inside the window.
  histogram hist;
  uint64_t errors = 0;
  std::string first_error;
};

} // namespace

} // namespace bench

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bench::client_samples)

namespace bench {

namespace {

using namespace std::chrono_literals;
using go_atom = caf::atom_constant<caf::atom("go")>;

constexpr auto query_timeout = std::chrono::seconds(5);

struct client_state {
  pool::client db;
  caf::actor collector;
  phase_times times;
  std::shared_ptr<std::atomic<uint64_t>> done;
  int32_t value = 0;
  client_samples out;
};

using client_actor = caf::stateful_actor<client_state>;

void on_error(client_actor* self, std::string what) {
  auto& out = self->state.out;
  if (out.errors++ == 0)
    out.first_error = std::move(what);
}

/// Sends the next query, or reports when the window is over.
void next(client_actor* self) {
  auto& st = self->state;
  auto t0 = clock::now();
  if (t0 >= st.times.window_end) {
    self->send(st.collector, std::move(st.out));
    self->quit();
    return;
  }
  auto v = st.value = st.value == 1000000 ? 1 : st.value + 1;
  request_query(
    st.db, query_timeout, pool::statement{"SELECT $1::int", {v}},
    [=](pool::query_result& r) {
      auto t1 = clock::now();
      auto& s = self->state;
      s.done->fetch_add(1, std::memory_order_relaxed);
      if (r.rows() != 1 || r.columns.size() != 1 ||
          std::atoi(r.at(0, 0).c_str()) != v)
        on_error(self, "wrong answer to SELECT " + std::to_string(v));
      else if (t1 >= s.times.window_start && t1 < s.times.window_end)
        s.out.hist.record((t1 - t0).count());
      next(self);
    },
    [=](caf::error& err) {
      on_error(self, pool::describe(err));
      next(self);
    });
}

caf::behavior client(client_actor* self, pool::pool_actor pool,
                     caf::actor collector, phase_times times,
                     std::shared_ptr<std::atomic<uint64_t>> done,
                     int32_t first_value) {
  auto& st = self->state;
  st.db = pool::client{self, std::move(pool)};
  st.collector = std::move(collector);
  st.times = times;
  st.done = done;
  st.value = first_value;
  return {[=](go_atom) { next(self); }};
}

} // namespace

load_result run_pool_phase(caf::actor_system& sys, const run_spec& spec,
                           const std::string& label) {
  load_result res;
  auto settings = pool_settings(spec.conninfo, spec.pool);
  settings.pipeline_depth = spec.pipeline_depth;
  auto pool = start_pool(sys, std::move(settings));
  if (!pool) {
    res.failure = pool::describe(pool.error());
    return res;
  }
  caf::scoped_actor self{sys};
  std::vector<caf::actor> clients;
  auto done = std::make_shared<std::atomic<uint64_t>>(0);
  auto times = phase_times::from_now(spec.warmup, spec.duration);
  for (size_t i = 0; i < spec.clients; ++i)
    clients.emplace_back(sys.spawn(client, *pool, caf::actor{self}, times, done,
                                   static_cast<int32_t>(i * 1000)));
  std::this_thread::sleep_until(times.start);
  for (auto& c : clients)
    caf::anon_send(c, go_atom::value);
  auto usage = watch_window(label, times, *done, spec.server);
  std::vector<uint64_t> per_client;
  bool late = false;
  for (size_t i = 0; i < spec.clients && !late; ++i)
    self->receive(
      [&](client_samples& s) {
        per_client.push_back(s.hist.count());
        res.hist.merge(s.hist);
        if (res.errors == 0 && s.errors > 0)
          res.first_error = s.first_error;
        res.errors += s.errors;
      },
      caf::after(query_timeout + 10s) >> [&] { late = true; });
  print_pool_stats(sys, *pool, ("after " + label).c_str());
  if (auto err = stop_pool(sys, *pool))
    res.failure = "shutdown failed: " + pool::describe(err);
  if (late)
    res.failure = "only " + std::to_string(per_client.size()) + " of " +
                  std::to_string(spec.clients) + " clients reported";
  res.finish(usage, spec.duration);
  if (!per_client.empty()) {
    auto [lo, hi] = std::minmax_element(per_client.begin(), per_client.end());
    res.ops_min = *lo;
    res.ops_max = *hi;
  }
  return res;
}

} // namespace bench
