// The TPC-B phase through the pool: N client actors in a closed loop, each
// sending pgbench's TPC-B transaction (five statements, random aid, bid,
// tid and delta as parameters) as one `transaction` message.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
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
struct tpcb_samples {
  histogram hist;
  uint64_t errors = 0;
  uint64_t retryable = 0;
  std::string first_error;
};

} // namespace

} // namespace bench

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bench::tpcb_samples)

namespace bench {

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;

constexpr auto txn_timeout = std::chrono::seconds(10);

/// pgbench's built-in "tpcb-like" script, with its variables as parameters.
std::vector<pool::statement> tpcb_transaction(int64_t aid, int64_t bid,
                                              int64_t tid, int64_t delta) {
  return {
    {"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
     {delta, aid}},
    {"SELECT abalance FROM pgbench_accounts WHERE aid = $1", {aid}},
    {"UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
     {delta, tid}},
    {"UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
     {delta, bid}},
    {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
     "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
     {tid, bid, aid, delta}},
  };
}

struct tpcb_client_state {
  pool::client db;
  caf::actor collector;
  phase_times times;
  std::shared_ptr<std::atomic<uint64_t>> done;
  int64_t scale = 1;
  std::mt19937_64 rng;
  tpcb_samples out;
};

using tpcb_client = caf::stateful_actor<tpcb_client_state>;

/// Uniform in [lo, hi], like pgbench's random(lo, hi).
int64_t uniform(tpcb_client* self, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>{lo, hi}(self->state.rng);
}

void on_error(tpcb_client* self, const caf::error& err) {
  auto& out = self->state.out;
  auto state = pool::sqlstate(err);
  if (state == "40001" || state == "40P01") {
    ++out.retryable;
    return;
  }
  if (out.errors++ == 0)
    out.first_error = pool::describe(err);
}

void next(tpcb_client* self) {
  auto& st = self->state;
  auto t0 = clock::now();
  if (t0 >= st.times.window_end) {
    self->send(st.collector, std::move(st.out));
    self->quit();
    return;
  }
  auto aid = uniform(self, 1, 100000 * st.scale);
  auto bid = uniform(self, 1, st.scale);
  auto tid = uniform(self, 1, 10 * st.scale);
  auto delta = uniform(self, -5000, 5000);
  request_transaction(
    st.db, txn_timeout, tpcb_transaction(aid, bid, tid, delta),
    [=](std::vector<pool::query_result>& rs) {
      auto t1 = clock::now();
      auto& s = self->state;
      s.done->fetch_add(1, std::memory_order_relaxed);
      if (rs.size() != 5 || rs[1].rows() != 1) {
        if (s.out.errors++ == 0)
          s.out.first_error = "unexpected results of the TPC-B transaction";
      } else if (t1 >= s.times.window_start && t1 < s.times.window_end) {
        s.out.hist.record((t1 - t0).count());
      }
      next(self);
    },
    [=](caf::error& err) {
      on_error(self, err);
      next(self);
    });
}

caf::behavior tpcb_client_impl(tpcb_client* self, pool::pool_actor pool,
                               caf::actor collector, phase_times times,
                               std::shared_ptr<std::atomic<uint64_t>> done,
                               int64_t scale, uint64_t seed) {
  auto& st = self->state;
  st.db = pool::client{self, std::move(pool)};
  st.collector = std::move(collector);
  st.times = times;
  st.done = std::move(done);
  st.scale = scale;
  st.rng.seed(seed);
  return {[=](go_atom) { next(self); }};
}

} // namespace

load_result run_tpcb_phase(caf::actor_system& sys, const run_spec& spec,
                           size_t scale, const std::string& label) {
  using namespace std::chrono_literals;
  load_result res;
  auto pool = start_pool(sys, pool_settings(spec.conninfo, spec.pool));
  if (!pool) {
    res.failure = pool::describe(pool.error());
    return res;
  }
  caf::scoped_actor self{sys};
  std::vector<caf::actor> clients;
  auto done = std::make_shared<std::atomic<uint64_t>>(0);
  auto times = phase_times::from_now(spec.warmup, spec.duration);
  for (size_t i = 0; i < spec.clients; ++i)
    clients.emplace_back(sys.spawn(tpcb_client_impl, *pool, caf::actor{self},
                                   times, done, static_cast<int64_t>(scale),
                                   uint64_t{i + 1}));
  std::this_thread::sleep_until(times.start);
  for (auto& c : clients)
    caf::anon_send(c, go_atom::value);
  auto usage = watch_window(label, times, *done, spec.server);
  std::vector<uint64_t> per_client;
  bool late = false;
  for (size_t i = 0; i < spec.clients && !late; ++i)
    self->receive(
      [&](tpcb_samples& s) {
        per_client.push_back(s.hist.count());
        res.hist.merge(s.hist);
        if (res.errors == 0 && s.errors > 0)
          res.first_error = s.first_error;
        res.errors += s.errors;
        res.retryable += s.retryable;
      },
      caf::after(txn_timeout + 10s) >> [&] { late = true; });
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
