#include "flood.hpp"

#include <chrono>
#include <cstdlib>

#include "caf/all.hpp"

#include "pool/error.hpp"
#include "pool/protocol.hpp"

#include "requests.hpp"

namespace bench {

namespace {

using flood_clock = std::chrono::steady_clock;

struct flood_state {
  size_t expected = 0;
  flood_report out;
  flood_clock::time_point t0;
  caf::actor report_to;
};

using flood_actor = caf::stateful_actor<flood_state>;

void answered(flood_actor* self) {
  auto& st = self->state;
  if (st.out.ok + st.out.errors < st.expected)
    return;
  st.out.seconds =
    std::chrono::duration<double>(flood_clock::now() - st.t0).count();
  self->send(st.report_to, st.out);
  self->quit();
}

void on_error(flood_actor* self, std::string what) {
  auto& out = self->state.out;
  if (out.errors++ == 0)
    out.first_error = std::move(what);
  answered(self);
}

caf::behavior flood(flood_actor* self, caf::actor target, size_t n,
                    caf::timespan timeout, caf::actor report_to) {
  auto& st = self->state;
  st.expected = n;
  st.report_to = std::move(report_to);
  st.t0 = flood_clock::now();
  for (size_t i = 0; i < n; ++i) {
    auto v = static_cast<int32_t>(i + 1);
    request_query(
      self, target, timeout, pool::statement{"SELECT $1::int", {v}},
      [=](pool::query_result& r) {
        if (r.rows() != 1 || std::atoi(r.at(0, 0).c_str()) != v)
          return on_error(self, "wrong answer to SELECT " + std::to_string(v));
        ++self->state.out.ok;
        answered(self);
      },
      [=](caf::error& err) { on_error(self, pool::describe(err)); });
  }
  return {[](caf::ok_atom) {}};
}

caf::behavior black_hole(caf::event_based_actor*,
                         std::shared_ptr<std::atomic<uint64_t>> received) {
  return {
    [=](pool::query_atom, pool::statement&) -> caf::result<pool::query_result> {
      received->fetch_add(1, std::memory_order_relaxed);
      return caf::delegated<pool::query_result>{};
    },
  };
}

} // namespace

caf::actor spawn_flood(caf::actor_system& sys, caf::actor target, size_t n,
                       caf::timespan timeout, caf::actor report_to) {
  return sys.spawn(flood, std::move(target), n, timeout, std::move(report_to));
}

caf::actor spawn_black_hole(caf::actor_system& sys,
                            std::shared_ptr<std::atomic<uint64_t>> received) {
  return sys.spawn(black_hole, std::move(received));
}

} // namespace bench
