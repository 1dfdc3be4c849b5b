#include <vector>

#include "caf/actor_system.hpp"
#include "caf/local_actor.hpp"
#include "caf/send.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "actors.hpp"
#include "pool/error.hpp"

namespace pool {

namespace {

struct breaker_data {
  static const char* name;
  std::shared_ptr<const pool_context> ctx;
  breaker_state state = breaker_state::closed;
  /// Consecutive connect failures.
  size_t failures = 0;
  /// Whether the half-open probe was granted.
  bool probe_granted = false;
  /// Identifies the current cool-down timer (older ones are stale).
  uint64_t epoch = 0;
  std::vector<caf::actor> subscribers;
};

const char* breaker_data::name = "pool.breaker";

using breaker_ptr = breaker_actor::stateful_pointer<breaker_data>;

void transition(breaker_ptr self, breaker_state next, std::string reason) {
  auto& st = self->state;
  breaker_event ev{next, st.state, std::move(reason), st.ctx->cfg.name};
  st.state = next;
  st.probe_granted = false;
  if (next == breaker_state::open)
    self->delayed_send(self, st.ctx->cfg.breaker_cooldown, tick_atom::value,
                       ++st.epoch);
  for (auto& sub : st.subscribers)
    caf::anon_send(sub, ev);
}

breaker_actor::behavior_type
breaker_impl(breaker_ptr self, caf::actor owner,
             std::shared_ptr<const pool_context> ctx) {
  self->state.ctx = std::move(ctx);
  self->monitor(owner);
  self->set_down_handler([=](caf::down_msg& dm) {
    if (dm.source == owner) {
      self->quit();
      return;
    }
    auto& subs = self->state.subscribers;
    subs.erase(std::remove(subs.begin(), subs.end(), dm.source), subs.end());
  });
  return {
    [=](permit_atom) {
      auto& st = self->state;
      switch (st.state) {
      case breaker_state::closed:
        return true;
      case breaker_state::open:
        return false;
      case breaker_state::half_open:
        if (st.probe_granted)
          return false;
        st.probe_granted = true;
        return true;
      }
      return false;
    },
    [=](outcome_atom, const caf::error& err) {
      auto& st = self->state;
      auto& cfg = st.ctx->cfg;
      if (!err) {
        st.failures = 0;
        if (st.state != breaker_state::closed)
          transition(self, breaker_state::closed, "a connect succeeded");
        return;
      }
      ++st.failures;
      if (st.state == breaker_state::half_open)
        transition(self, breaker_state::open,
                   "the probe connect failed: " + describe(err));
      else if (st.state == breaker_state::closed &&
               st.failures >= cfg.breaker_threshold)
        transition(self, breaker_state::open,
                   std::to_string(st.failures) +
                     " consecutive connect failures; last: " + describe(err));
    },
    [=](trip_atom, std::string& why) {
      if (self->state.state != breaker_state::open)
        transition(self, breaker_state::open, std::move(why));
    },
    [=](subscribe_atom, caf::actor sub) {
      self->monitor(sub);
      self->state.subscribers.push_back(std::move(sub));
      return caf::ok_atom::value;
    },
    [=](tick_atom, uint64_t epoch) {
      auto& st = self->state;
      if (epoch == st.epoch && st.state == breaker_state::open)
        transition(self, breaker_state::half_open,
                   "cool-down over; one probe connect may go through");
    },
  };
}

} // namespace

breaker_actor spawn_breaker(caf::local_actor* parent, caf::actor owner,
                            std::shared_ptr<const pool_context> ctx) {
  return parent->spawn(breaker_impl, std::move(owner), std::move(ctx));
}

} // namespace pool
