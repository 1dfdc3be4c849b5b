#include <random>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/local_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "actors.hpp"
#include "pool/error.hpp"

namespace pool {

namespace {

struct supervisor_data {
  static const char* name;
  std::shared_ptr<const pool_context> ctx;
  manager_actor manager;
  breaker_actor breaker;
  /// Live workers by id; `true` once connected.
  std::unordered_map<uint32_t, std::pair<worker_actor, bool>> workers;
  uint32_t next_id = 0;
  /// Connections the manager wants (connecting and connected).
  uint32_t target = 0;
  /// Permit requests to the breaker not yet answered.
  uint32_t asking = 0;
  /// Consecutive failed connects.
  uint32_t failures = 0;
  /// No connect before this time (backoff after failures).
  caf::timespan not_before{0};
  /// Whether a retry tick is scheduled.
  bool retry_pending = false;
  /// Whether the pool shuts down: no more connects.
  bool closing = false;
  /// The connecting count last reported to the manager.
  uint32_t reported_connecting = 0;
  /// `ready`s seen (each forwarded by the manager, which has the connection
  /// already), and the number last reported with the connecting count.
  uint64_t readies = 0;
  uint64_t reported_readies = 0;
  std::minstd_rand rng{std::random_device{}()};
};

const char* supervisor_data::name = "pool.supervisor";

using supervisor_ptr = supervisor_actor::stateful_pointer<supervisor_data>;

caf::timespan now(supervisor_ptr self) {
  return self->clock().now().time_since_epoch();
}

// A random duration in [lo, hi].
caf::timespan uniform(supervisor_ptr self, caf::timespan lo, caf::timespan hi) {
  std::uniform_int_distribution<caf::timespan::rep> dist{lo.count(),
                                                         hi.count()};
  return caf::timespan{dist(self->state.rng)};
}

uint32_t connecting(const supervisor_data& st) {
  uint32_t n = st.asking;
  for (auto& kvp : st.workers)
    if (!kvp.second.second)
      ++n;
  return n;
}

void report_connecting(supervisor_ptr self) {
  auto& st = self->state;
  auto n = connecting(st);
  if (n != st.reported_connecting || st.readies != st.reported_readies) {
    st.reported_connecting = n;
    st.reported_readies = st.readies;
    self->send(st.manager, connecting_atom::value, n, st.readies);
  }
}

void spawn_one(supervisor_ptr self) {
  auto& st = self->state;
  auto id = st.next_id++;
  auto worker = spawn_worker(self, id, st.manager, st.ctx);
  self->monitor(worker);
  st.workers.emplace(id, std::make_pair(std::move(worker), false));
}

void attempt(supervisor_ptr self) {
  auto& st = self->state;
  if (!st.breaker) {
    spawn_one(self);
    return;
  }
  ++st.asking;
  self->request(st.breaker, st.ctx->cfg.connect_timeout, permit_atom::value)
    .then(
      [=](bool allowed) {
        auto& st = self->state;
        --st.asking;
        if (allowed && !st.closing)
          spawn_one(self);
        else if (!allowed && !st.retry_pending) {
          // Ask again once the cool-down may be over.
          st.retry_pending = true;
          self->delayed_send(self, st.ctx->cfg.breaker_cooldown,
                             tick_atom::value);
        }
        report_connecting(self);
      },
      [=](caf::error&) {
        --self->state.asking;
        report_connecting(self);
      });
}

// Opens connections until `target` exist or are being opened, within
// max_size (or the pool's limit). After failures, one connect at a time, each
// after the backoff.
void reconcile(supervisor_ptr self) {
  auto& st = self->state;
  if (st.closing || st.retry_pending)
    return;
  auto target = std::min<size_t>(st.target, st.ctx->max_open());
  auto total = [&] { return st.workers.size() + st.asking; };
  if (total() >= target)
    return;
  if (st.failures > 0) {
    if (connecting(st) > 0)
      return; // the previous attempt is still under way
    auto t = now(self);
    if (t < st.not_before) {
      st.retry_pending = true;
      self->delayed_send(self, st.not_before - t, tick_atom::value);
      return;
    }
    attempt(self);
  } else {
    while (total() < target)
      attempt(self);
  }
  report_connecting(self);
}

caf::timespan backoff(supervisor_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  auto delay = cfg.backoff_min;
  for (uint32_t i = 1; i < st.failures && delay < cfg.backoff_max; ++i)
    delay *= 2;
  delay = std::min(delay, cfg.backoff_max);
  return uniform(self, delay / 2, delay); // jitter
}

void on_down(supervisor_ptr self, caf::down_msg& dm) {
  auto& st = self->state;
  if (dm.source == st.manager.address()) {
    self->quit();
    return;
  }
  for (auto i = st.workers.begin(); i != st.workers.end(); ++i) {
    if (i->second.first.address() != dm.source)
      continue;
    bool connected = i->second.second;
    st.workers.erase(i);
    if (!connected && !st.closing) {
      auto err = dm.reason
                   ? dm.reason
                   : make_error(pool_errc::connect_failed, "connect abandoned");
      ++st.failures;
      st.not_before = now(self) + backoff(self);
      if (st.breaker)
        self->send(st.breaker, outcome_atom::value, err);
      self->send(st.manager, connfail_atom::value, err);
    }
    report_connecting(self);
    reconcile(self);
    return;
  }
}

supervisor_actor::behavior_type
supervisor_impl(supervisor_ptr self, manager_actor manager,
                breaker_actor breaker,
                std::shared_ptr<const pool_context> ctx) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.manager = manager;
  st.breaker = std::move(breaker);
  self->monitor(manager);
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  return {
    [=](want_atom, uint32_t n) {
      self->state.target = n;
      reconcile(self);
    },
    [=](trip_atom, std::string& why) {
      if (auto& st = self->state; st.breaker)
        self->send(st.breaker, trip_atom::value, std::move(why));
    },
    [=](ready_atom, uint32_t id) {
      // From the manager, which the worker told first.
      auto& st = self->state;
      ++st.readies;
      auto i = st.workers.find(id);
      if (i == st.workers.end()) {
        report_connecting(self);
        return;
      }
      i->second.second = true;
      st.failures = 0;
      st.not_before = caf::timespan{0};
      if (st.breaker)
        self->send(st.breaker, outcome_atom::value, caf::error{});
      auto lifetime = st.ctx->cfg.max_lifetime;
      if (lifetime.count() > 0)
        self->delayed_send(self, uniform(self, lifetime * 9 / 10, lifetime),
                           expire_atom::value, id);
      report_connecting(self);
      if (st.closing)
        self->send(i->second.first, close_atom::value);
      else
        reconcile(self);
    },
    [=](expire_atom, uint32_t id) {
      if (self->state.workers.count(id) > 0)
        self->send(self->state.manager, retire_atom::value, id);
    },
    [=](tick_atom) {
      self->state.retry_pending = false;
      reconcile(self);
    },
    [=](settings_atom, context_ptr& ctx) {
      // New workers connect with the new settings; running ones take the
      // new timeouts.
      auto& st = self->state;
      st.ctx = ctx;
      for (auto& kvp : st.workers)
        self->send(kvp.second.first, settings_atom::value, ctx);
      reconcile(self); // max_size may have grown
    },
    [=](reset_atom) {
      // The connects under way began before a reset: the manager replaces
      // each when it is ready (it may be already).
      std::vector<uint32_t> ids;
      for (auto& kvp : self->state.workers)
        if (!kvp.second.second)
          ids.push_back(kvp.first);
      return ids;
    },
    [=](close_atom) {
      auto& st = self->state;
      st.closing = true;
      for (auto& kvp : st.workers)
        if (!kvp.second.second)
          self->send(kvp.second.first, close_atom::value);
    },
  };
}

} // namespace

supervisor_actor spawn_supervisor(caf::local_actor* parent,
                                  manager_actor manager, breaker_actor breaker,
                                  std::shared_ptr<const pool_context> ctx) {
  return parent->spawn(supervisor_impl, std::move(manager), std::move(breaker),
                       std::move(ctx));
}

} // namespace pool
