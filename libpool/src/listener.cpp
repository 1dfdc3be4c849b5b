// The LISTEN/NOTIFY hub of a pool (actors.hpp, spawn_listener). It holds one
// lease of the pool, pinned (never a leak, never reclaimed by
// lease_timeout), runs LISTEN on it for every channel someone listens to,
// and sends each notification the worker passes it to the actors listening
// to its channel. When the connection is lost it leases another, listens
// again and tells every listener that notifications may have been missed.
// With nothing left to listen to, it gives the lease back.

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor_cast.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "actors.hpp"
#include "pool/error.hpp"

namespace pool {

namespace {

// How long the listener waits for the pool's answers beyond their own
// timeouts.
constexpr auto slack = std::chrono::seconds(5);

// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes.
constexpr size_t max_channel_bytes = 63;

struct pending_listen {
  std::string channel;
  caf::actor who;
  caf::response_promise rp;
};

struct listener_state {
  static inline const char* name = "pool.listener";
  manager_actor manager;
  std::shared_ptr<const pool_context> ctx;
  /// Channel → who listens to it (LISTEN ran for each of them).
  std::map<std::string, std::set<caf::actor>> channels;
  /// Listen requests waiting for their LISTEN to run.
  std::vector<pending_listen> pending;
  enum phase_t { none, acquiring, ready } phase = none;
  /// The lease that listens (valid while `ready`).
  lease current;
  /// Counts leases, so that late answers about an earlier one are ignored.
  uint64_t epoch = 0;
  /// Channels LISTENed on `current`, and those whose LISTEN runs.
  std::set<std::string> on_server;
  std::set<std::string> starting;
  /// Why notifications may have been missed since the last connection was
  /// lost, and who is owed a `notifications_missed` once all listen again.
  std::string gap;
  std::set<caf::actor> owed;
  caf::timespan backoff{0};
  bool closing = false;
  listen_stats stats;
};

using listener_ptr = listener_actor::stateful_pointer<listener_state>;

std::string quote_ident(const std::string& x) {
  std::string out = "\"";
  for (auto c : x) {
    if (c == '"')
      out += '"';
    out += c;
  }
  return out + '"';
}

caf::error check_channel(const char* what, const std::string& ch) {
  auto bad = [&](const std::string& why) {
    return make_error(pool_errc::invalid_request,
                      std::string{what} + ": channel " + why);
  };
  if (ch.empty())
    return bad("is empty");
  if (ch.size() > max_channel_bytes)
    return bad("is " + std::to_string(ch.size()) + " bytes long, at most " +
               std::to_string(max_channel_bytes) + " are allowed");
  if (ch.find('\0') != std::string::npos)
    return bad("contains a NUL byte");
  return {};
}

worker_actor worker_of(listener_ptr self) {
  return caf::actor_cast<worker_actor>(self->state.current.worker);
}

caf::timespan query_wait(listener_ptr self) {
  return self->state.ctx->cfg.query_timeout + slack;
}

void report(listener_ptr self) {
  auto& st = self->state;
  st.stats.channels = static_cast<uint32_t>(st.channels.size());
  uint32_t n = 0;
  for (auto& kvp : st.channels)
    n += static_cast<uint32_t>(kvp.second.size());
  st.stats.subscriptions = n;
  self->send(st.manager, listener_atom::value, st.stats);
}

// The channels `who` listens to.
std::vector<std::string> channels_of(listener_ptr self, const caf::actor& who) {
  std::vector<std::string> out;
  for (auto& kvp : self->state.channels)
    if (kvp.second.count(who) > 0)
      out.push_back(kvp.first);
  return out;
}

void send_missed(listener_ptr self, const caf::actor& who, std::string reason,
                 bool listening) {
  notifications_missed x;
  x.pool = self->state.ctx->cfg.name;
  x.channels = channels_of(self, who);
  x.reason = std::move(reason);
  x.listening = listening;
  if (!x.channels.empty())
    caf::anon_send(who, std::move(x));
}

// Every listener.
std::set<caf::actor> everyone(listener_ptr self) {
  std::set<caf::actor> out;
  for (auto& kvp : self->state.channels)
    out.insert(kvp.second.begin(), kvp.second.end());
  return out;
}

void acquire(listener_ptr self);
void lost(listener_ptr self, const std::string& why);

bool wanted(listener_ptr self) {
  auto& st = self->state;
  return !st.channels.empty() || !st.pending.empty();
}

void release(listener_ptr self, uint64_t id) {
  self->request(self->state.manager, slack, release_atom::value, id)
    .then([](caf::ok_atom) {}, [](caf::error&) {});
}

// Gives the lease back: nothing is listened to any more, or the pool shuts
// down (`unlisten_first` false: the connection closes anyway). UNLISTEN *
// first returns the connection clean.
void give_back(listener_ptr self, bool unlisten_first = true) {
  auto& st = self->state;
  if (st.phase != listener_state::ready)
    return;
  auto id = st.current.id;
  self->demonitor(st.current.worker.address());
  if (unlisten_first)
    self
      ->request(worker_of(self), query_wait(self), query_atom::value, id,
                statement{"UNLISTEN *"})
      .then([=](query_result&) { release(self, id); },
            [=](caf::error&) { release(self, id); });
  else
    caf::anon_send(st.manager, release_atom::value, id);
  st.phase = listener_state::none;
  st.current = lease{};
  ++st.epoch;
  st.on_server.clear();
  st.starting.clear();
  self->send(st.manager, listener_atom::value, uint64_t{0});
}

// Once every channel listens again after a loss, the listeners learn that
// notifications may have been missed meanwhile.
void settle_gap(listener_ptr self) {
  auto& st = self->state;
  if (st.gap.empty() || !st.starting.empty() ||
      st.phase != listener_state::ready)
    return;
  for (auto& who : st.owed)
    send_missed(self, who, st.gap, true);
  st.owed.clear();
  st.gap.clear();
  ++st.stats.reconnects;
  report(self);
}

void on_listened(listener_ptr self, const std::string& ch) {
  auto& st = self->state;
  st.starting.erase(ch);
  st.on_server.insert(ch);
  auto i = std::stable_partition(
    st.pending.begin(), st.pending.end(),
    [&](const pending_listen& x) { return x.channel != ch; });
  std::vector<pending_listen> done(std::make_move_iterator(i),
                                   std::make_move_iterator(st.pending.end()));
  st.pending.erase(i, st.pending.end());
  for (auto& x : done) {
    if (channels_of(self, x.who).empty())
      self->monitor(x.who);
    st.channels[ch].insert(x.who);
    x.rp.deliver(caf::ok_atom::value);
  }
  if (st.channels.count(ch) == 0) {
    // Everyone left while LISTEN ran.
    self
      ->request(worker_of(self), query_wait(self), query_atom::value,
                st.current.id, statement{"UNLISTEN " + quote_ident(ch)})
      .then([](query_result&) {}, [](caf::error&) {});
    st.on_server.erase(ch);
  }
  report(self);
  settle_gap(self);
}

// Whether an error on the lease means its connection is gone.
bool connection_gone(const caf::error& err) {
  return err.category() != pool_error_category::value ||
         is(err, pool_errc::connection_lost) ||
         is(err, pool_errc::invalid_lease) || is(err, pool_errc::shutting_down);
}

// Removes `who` from `ch`; UNLISTENs a channel nobody listens to any more,
// and gives the lease back when no channel is left.
void drop(listener_ptr self, const caf::actor& who, const std::string& ch) {
  auto& st = self->state;
  auto i = st.channels.find(ch);
  if (i == st.channels.end() || i->second.erase(who) == 0)
    return;
  if (i->second.empty()) {
    st.channels.erase(i);
    if (st.phase == listener_state::ready && st.on_server.erase(ch) > 0)
      self
        ->request(worker_of(self), query_wait(self), query_atom::value,
                  st.current.id, statement{"UNLISTEN " + quote_ident(ch)})
        .then([](query_result&) {}, [](caf::error&) {});
  }
  if (channels_of(self, who).empty()) {
    self->demonitor(who);
    st.owed.erase(who);
  }
  if (!wanted(self))
    give_back(self);
  report(self);
}

void run_listen(listener_ptr self, const std::string& ch) {
  auto& st = self->state;
  if (st.phase != listener_state::ready || st.on_server.count(ch) > 0 ||
      !st.starting.insert(ch).second)
    return;
  auto epoch = st.epoch;
  self
    ->request(worker_of(self), query_wait(self), query_atom::value,
              st.current.id, statement{"LISTEN " + quote_ident(ch)})
    .then(
      [=](query_result&) {
        if (self->state.epoch == epoch)
          on_listened(self, ch);
      },
      [=](caf::error& err) {
        auto& st = self->state;
        if (st.epoch != epoch)
          return;
        if (connection_gone(err)) {
          lost(self, "the listening connection was lost: " + describe(err));
          return;
        }
        // The server refused this LISTEN: who waited for it learns why;
        // who listened before (a reconnect) stops listening, and is told.
        st.starting.erase(ch);
        auto i = std::stable_partition(
          st.pending.begin(), st.pending.end(),
          [&](const pending_listen& x) { return x.channel != ch; });
        for (auto j = i; j != st.pending.end(); ++j)
          j->rp.deliver(err);
        st.pending.erase(i, st.pending.end());
        if (auto k = st.channels.find(ch); k != st.channels.end()) {
          auto who = k->second;
          for (auto& w : who) {
            notifications_missed x;
            x.pool = st.ctx->cfg.name;
            x.channels = {ch};
            x.reason = "LISTEN failed: " + describe(err);
            x.listening = false;
            caf::anon_send(w, std::move(x));
            drop(self, w, ch);
          }
        }
        settle_gap(self);
        if (!wanted(self))
          give_back(self);
      });
}

void listen_all(listener_ptr self) {
  auto& st = self->state;
  std::set<std::string> all;
  for (auto& kvp : st.channels)
    all.insert(kvp.first);
  for (auto& x : st.pending)
    all.insert(x.channel);
  if (all.empty()) {
    give_back(self);
    return;
  }
  for (auto& ch : all)
    run_listen(self, ch);
}

void on_lease(listener_ptr self, lease l) {
  auto& st = self->state;
  if (st.closing || !wanted(self)) {
    release(self, l.id);
    st.phase = listener_state::none;
    return;
  }
  st.phase = listener_state::ready;
  st.current = std::move(l);
  st.backoff = caf::timespan{0};
  auto epoch = ++st.epoch;
  self->monitor(st.current.worker);
  self->send(st.manager, listener_atom::value, st.current.id);
  self
    ->request(worker_of(self), query_wait(self), listen_atom::value,
              st.current.id, caf::actor_cast<caf::actor>(self))
    .then(
      [=](caf::ok_atom) {
        if (self->state.epoch == epoch)
          listen_all(self);
      },
      [=](caf::error& err) {
        if (self->state.epoch == epoch)
          lost(self, "the listening connection was lost: " + describe(err));
      });
}

// Acquiring failed: who waited for a LISTEN learns why (and does not
// listen); those who listened already wait for the next attempt.
void on_acquire_failed(listener_ptr self, const caf::error& err) {
  auto& st = self->state;
  st.phase = listener_state::none;
  auto pending = std::move(st.pending);
  st.pending.clear();
  for (auto& x : pending)
    x.rp.deliver(err);
  if (st.closing || st.channels.empty())
    return;
  auto& cfg = st.ctx->cfg;
  st.backoff =
    std::min(cfg.backoff_max, std::max(cfg.backoff_min, st.backoff * 2));
  if (st.gap.empty())
    st.gap = "no listening connection: " + describe(err);
  self->delayed_send(self, st.backoff, tick_atom::value);
}

void acquire(listener_ptr self) {
  auto& st = self->state;
  if (st.phase != listener_state::none || st.closing || !wanted(self))
    return;
  st.phase = listener_state::acquiring;
  auto timeout = st.ctx->cfg.acquire_timeout;
  self
    ->request(st.manager, timeout + slack, acquire_atom::value, timeout,
              priority::interactive)
    .then([=](lease& l) { on_lease(self, std::move(l)); },
          [=](caf::error& err) { on_acquire_failed(self, err); });
}

// The listening connection is gone (or to be replaced): lease another,
// listen again, and owe everyone a `notifications_missed`.
void lost(listener_ptr self, const std::string& why) {
  auto& st = self->state;
  if (st.phase != listener_state::ready)
    return;
  self->demonitor(st.current.worker.address());
  // The worker may live on (the lease was reclaimed or is replaced): give
  // the lease back; an error (it is gone already) does not matter.
  release(self, st.current.id);
  st.phase = listener_state::none;
  st.current = lease{};
  ++st.epoch;
  st.on_server.clear();
  st.starting.clear();
  if (st.gap.empty())
    st.gap = why;
  for (auto& who : everyone(self))
    st.owed.insert(who);
  self->send(st.manager, listener_atom::value, uint64_t{0});
  acquire(self);
}

listener_actor::behavior_type
listener_impl(listener_ptr self, manager_actor manager,
              std::shared_ptr<const pool_context> ctx) {
  auto& st = self->state;
  st.manager = manager;
  st.ctx = std::move(ctx);
  self->monitor(manager);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.manager.address()) {
      self->quit();
      return;
    }
    if (st.phase == listener_state::ready &&
        dm.source == st.current.worker.address()) {
      lost(self, "the listening connection was lost: " + describe(dm.reason));
      return;
    }
    // A listener died (or its node was lost): drop its subscriptions.
    for (auto& who : everyone(self))
      if (who.address() == dm.source)
        for (auto& ch : channels_of(self, who))
          drop(self, who, ch);
  });
  return {
    [=](listen_atom, std::string& ch) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      if (st.closing)
        return make_error(pool_errc::shutting_down,
                          "listen: the pool is shutting down");
      if (auto err = check_channel("listen", ch))
        return err;
      auto who = caf::actor_cast<caf::actor>(self->current_sender());
      if (!who)
        return make_error(pool_errc::invalid_request,
                          "listen: anonymous senders cannot listen");
      auto i = st.channels.find(ch);
      if (i != st.channels.end() && i->second.count(who) > 0)
        return caf::ok_atom::value;
      if (st.phase == listener_state::ready && st.on_server.count(ch) > 0) {
        if (channels_of(self, who).empty())
          self->monitor(who);
        st.channels[ch].insert(who);
        report(self);
        return caf::ok_atom::value;
      }
      auto rp = self->make_response_promise<caf::ok_atom>();
      st.pending.push_back(pending_listen{ch, who, rp});
      if (st.phase == listener_state::ready)
        run_listen(self, ch);
      else
        acquire(self);
      return rp;
    },
    [=](unlisten_atom, std::string& ch) -> caf::result<caf::ok_atom> {
      if (auto err = check_channel("unlisten", ch))
        return err;
      auto who = caf::actor_cast<caf::actor>(self->current_sender());
      if (!who)
        return caf::ok_atom::value;
      // A listen of `who` still waiting for its LISTEN is superseded: it
      // gets its `ok`, and `who` does not listen.
      auto& st = self->state;
      auto i = std::stable_partition(
        st.pending.begin(), st.pending.end(), [&](const pending_listen& x) {
          return !(x.channel == ch && x.who == who);
        });
      for (auto j = i; j != st.pending.end(); ++j)
        j->rp.deliver(caf::ok_atom::value);
      st.pending.erase(i, st.pending.end());
      drop(self, who, ch);
      if (!wanted(self))
        give_back(self);
      return caf::ok_atom::value;
    },
    [=](notification& x) {
      auto& st = self->state;
      ++st.stats.received;
      x.pool = st.ctx->cfg.name;
      auto i = st.channels.find(x.channel);
      if (i != st.channels.end())
        for (auto& who : i->second) {
          caf::anon_send(who, x);
          ++st.stats.delivered;
        }
      report(self);
    },
    [=](lost_atom, uint64_t lease_id, caf::error& err) {
      // From the worker, before its down message: says why.
      auto& st = self->state;
      if (st.phase == listener_state::ready && st.current.id == lease_id)
        lost(self, "the listening connection was lost: " + describe(err));
    },
    [=](listener_atom) {
      // The manager replaces the connection (reset, max_lifetime).
      lost(self, "the listening connection was replaced (reset or "
                 "max_lifetime)");
    },
    [=](tick_atom) {
      if (self->state.phase == listener_state::none)
        acquire(self);
    },
    [=](close_atom) {
      // The pool shuts down: listening ends.
      auto& st = self->state;
      st.closing = true;
      auto pending = std::move(st.pending);
      st.pending.clear();
      for (auto& x : pending)
        x.rp.deliver(make_error(pool_errc::shutting_down,
                                "listen: the pool is shutting down"));
      for (auto& who : everyone(self))
        send_missed(self, who, "the pool shuts down", false);
      give_back(self, false);
      st.channels.clear();
      report(self);
      self->quit();
    },
  };
}

} // namespace

listener_actor spawn_listener(caf::local_actor* parent, manager_actor manager,
                              std::shared_ptr<const pool_context> ctx) {
  return parent->spawn(listener_impl, std::move(manager), std::move(ctx));
}

} // namespace pool
