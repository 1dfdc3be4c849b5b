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
#include "pool/tracer.hpp"

#include "client_phase.hpp"
#include "phases.hpp"
#include "pool_util.hpp"
#include "requests.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;
constexpr auto query_timeout = std::chrono::seconds(5);

struct client_state {
  pool::client db;
  client_args args;
  int32_t value = 0;
  client_samples out;
};

using client_actor = caf::stateful_actor<client_state>;

/// Sends the next query, or reports when the window is over.
void next(client_actor* self) {
  auto& st = self->state;
  auto t0 = clock::now();
  if (t0 >= st.args.times.window_end) {
    self->send(st.args.collector, std::move(st.out));
    self->quit();
    return;
  }
  auto v = st.value = st.value == 1000000 ? 1 : st.value + 1;
  request_query(
    st.db, query_timeout, pool::statement{"SELECT $1::int", {v}},
    [=](pool::query_result& r) {
      auto t1 = clock::now();
      auto& s = self->state;
      s.args.done->fetch_add(1, std::memory_order_relaxed);
      if (r.rows() != 1 || r.columns.size() != 1 ||
          std::atoi(r.at(0, 0).c_str()) != v)
        s.out.error("wrong answer to SELECT " + std::to_string(v));
      else if (t1 >= s.args.times.window_start && t1 < s.args.times.window_end)
        s.out.hist.record((t1 - t0).count());
      next(self);
    },
    [=](caf::error& err) {
      self->state.out.error(pool::describe(err));
      next(self);
    });
}

// The cheapest useful tracer: it counts the events.
struct counting_tracer : pool::tracer {
  std::atomic<uint64_t> events{0};
  void on_event(const pool::trace_event&) override {
    events.fetch_add(1, std::memory_order_relaxed);
  }
};

caf::behavior client(client_actor* self, client_args args) {
  auto& st = self->state;
  st.db = pool::client{self, args.pool};
  st.value = static_cast<int32_t>(args.index * 1000);
  st.args = std::move(args);
  return {[=](go_atom) { next(self); }};
}

} // namespace

load_result run_pool_phase(caf::actor_system& sys, const run_spec& spec,
                           const std::string& label) {
  auto settings = pool_settings(spec.conninfo, spec.pool);
  settings.pipeline_depth = spec.pipeline_depth;
  if (spec.trace)
    settings.tracer = std::make_shared<counting_tracer>();
  return run_client_phase(sys, spec, std::move(settings), label,
                          query_timeout + 10s,
                          [](caf::actor_system& sys, client_args args) {
                            return sys.spawn(client, std::move(args));
                          });
}

} // namespace bench
