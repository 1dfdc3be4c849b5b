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

#include "client_phase.hpp"
#include "phases.hpp"
#include "pool_util.hpp"
#include "requests.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;

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
  client_args args;
  int64_t scale = 1;
  std::mt19937_64 rng;
  client_samples out;
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
  out.error(pool::describe(err));
}

void next(tpcb_client* self) {
  auto& st = self->state;
  auto t0 = clock::now();
  if (t0 >= st.args.times.window_end) {
    self->send(st.args.collector, std::move(st.out));
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
      s.args.done->fetch_add(1, std::memory_order_relaxed);
      if (rs.size() != 5 || rs[1].rows() != 1) {
        s.out.error("unexpected results of the TPC-B transaction");
      } else if (t1 >= s.args.times.window_start &&
                 t1 < s.args.times.window_end) {
        s.out.hist.record((t1 - t0).count());
      }
      next(self);
    },
    [=](caf::error& err) {
      on_error(self, err);
      next(self);
    });
}

caf::behavior tpcb_client_impl(tpcb_client* self, client_args args,
                               int64_t scale) {
  auto& st = self->state;
  st.db = pool::client{self, args.pool};
  st.scale = scale;
  st.rng.seed(args.index + 1);
  st.args = std::move(args);
  return {[=](go_atom) { next(self); }};
}

} // namespace

load_result run_tpcb_phase(caf::actor_system& sys, const run_spec& spec,
                           size_t scale, const std::string& label) {
  return run_client_phase(sys, spec, pool_settings(spec.conninfo, spec.pool),
                          label, txn_timeout + 10s,
                          [scale](caf::actor_system& sys, client_args args) {
                            return sys.spawn(tpcb_client_impl, std::move(args),
                                             static_cast<int64_t>(scale));
                          });
}

} // namespace bench
