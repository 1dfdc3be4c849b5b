// The acquire phase: acquire latency with an idle connection available,
// in-process.

#include <chrono>

#include "caf/all.hpp"

#include "pool/error.hpp"

#include "phases.hpp"
#include "pool_util.hpp"
#include "requests.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;

/// What the acquiring actor measured.
struct acquire_samples {
  histogram acquire;
  histogram release;
  uint64_t errors = 0;
  std::string first_error;
};

} // namespace

} // namespace bench

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(bench::acquire_samples)

namespace bench {

namespace {

using go_atom = caf::atom_constant<caf::atom("go")>;

/// Gives up after this many errors: the pool is not working.
constexpr uint64_t max_errors = 20;

struct acquirer_state {
  pool::client db;
  caf::actor collector;
  size_t warmup = 0;
  size_t total = 0;
  size_t done = 0;
  acquire_samples out;
};

using acquirer_actor = caf::stateful_actor<acquirer_state>;

void finish(acquirer_actor* self) {
  self->send(self->state.collector, std::move(self->state.out));
  self->quit();
}

void on_error(acquirer_actor* self, const caf::error& err) {
  auto& out = self->state.out;
  if (out.errors++ == 0)
    out.first_error = pool::describe(err);
}

void next(acquirer_actor* self);

void release(acquirer_actor* self, uint64_t id, bool measured) {
  auto t0 = clock::now();
  request_release(
    self->state.db, 2s, id,
    [=](caf::ok_atom) {
      if (measured)
        self->state.out.release.record((clock::now() - t0).count());
      next(self);
    },
    [=](caf::error& err) {
      on_error(self, err);
      next(self);
    });
}

/// One round trip: acquire, record, release (waiting for its ok), repeat.
void next(acquirer_actor* self) {
  auto& st = self->state;
  if (st.done == st.total || st.out.errors >= max_errors)
    return finish(self);
  bool measured = st.done++ >= st.warmup;
  auto t0 = clock::now();
  request_acquire(
    st.db, 2s, caf::timespan{std::chrono::seconds(1)},
    [=](pool::lease& l) {
      auto t1 = clock::now();
      if (measured)
        self->state.out.acquire.record((t1 - t0).count());
      release(self, l.id, measured);
    },
    [=](caf::error& err) {
      on_error(self, err);
      next(self);
    });
}

caf::behavior acquirer(acquirer_actor* self, pool::pool_actor pool,
                       caf::actor collector, size_t warmup, size_t samples) {
  auto& st = self->state;
  st.db = pool::client{self, std::move(pool)};
  st.collector = std::move(collector);
  st.warmup = warmup;
  st.total = warmup + samples;
  self->send(self, go_atom::value);
  return {[=](go_atom) { next(self); }};
}

} // namespace

acquire_result run_acquire_phase(caf::actor_system& sys,
                                 const std::string& conninfo, size_t warmup,
                                 size_t samples) {
  acquire_result res;
  auto pool = start_pool(sys, pool_settings(conninfo, 2));
  if (!pool) {
    res.failure = pool::describe(pool.error());
    return res;
  }
  caf::scoped_actor self{sys};
  sys.spawn(acquirer, *pool, caf::actor{self}, warmup, samples);
  acquire_samples out;
  bool got = false;
  // Worst case: every round trip times out (4 s) until max_errors.
  self->receive(
    [&](acquire_samples& x) {
      out = std::move(x);
      got = true;
    },
    caf::after(std::chrono::minutes(10)) >> [] {});
  print_pool_stats(sys, *pool, "pool after the acquire phase");
  if (auto err = stop_pool(sys, *pool))
    res.failure = "shutdown failed: " + pool::describe(err);
  if (!got) {
    res.failure = "the acquiring actor did not report within 10 minutes";
    return res;
  }
  res.acquire = out.acquire.summary();
  res.release = out.release.summary();
  res.errors = out.errors;
  res.first_error = std::move(out.first_error);
  if (out.errors >= max_errors)
    res.failure = "gave up after " + std::to_string(out.errors) + " errors";
  return res;
}

} // namespace bench
