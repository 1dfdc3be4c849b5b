// The router of a routed pool (pool/routing.hpp): one actor in front of a
// primary pool and its replica pools. It delegates each request to the pool
// that serves it, so the reply goes from that pool to the requester without
// passing through the router again; it keeps per replica whether it serves,
// from a periodic lag check and the replica pool's breaker events.

#include "pool/routing.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "pool/error.hpp"
#include "pool/pool.hpp"

namespace pool {

const char* const primary_lsn_sql = "SELECT pg_current_wal_lsn()";

const char* const replica_lag_sql =
  "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(), "
  "CASE WHEN NOT pg_is_in_recovery() "
  "OR pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() THEN 0 "
  "ELSE COALESCE(EXTRACT(EPOCH FROM now() - "
  "pg_last_xact_replay_timestamp()), 0) END";

namespace {

using check_atom = caf::atom_constant<caf::atom("lagcheck")>;

using router_actor =
  pool_actor::extend<caf::reacts_to<breaker_event>, caf::reacts_to<check_atom>>;

// How long the router waits for its own pools' answers to the requests it
// fans out (stats, resume, reset) beyond any deadline they carry.
constexpr auto fan_out_slack = std::chrono::seconds(5);

struct replica_slot {
  pool_actor pool;
  replica_stats stats;
  caf::timespan check_timeout{0};
  bool breaker_open = false;
  bool lag_ok = false;
  bool checking = false;
};

// The primary's WAL position `lsn` as sampled at `at` (when the sample was
// asked for: the position was read no earlier).
struct lsn_sample {
  caf::actor_clock::time_point at;
  uint64_t lsn = 0;
};

struct router_state {
  pool_actor primary;
  std::vector<replica_slot> replicas;
  // The primary's WAL positions of recent lag checks, oldest first, each
  // larger than the one before (a sample equal to the last one is not kept:
  // the earliest time a position was seen is what counts).
  std::deque<lsn_sample> samples;
  // How long samples are kept; a replica behind all of them is at least
  // this far behind.
  caf::timespan keep_samples{0};
  bool sampling = false;
  bool fall_back = true;
  caf::timespan max_lag{0};
  caf::timespan interval{0};
  size_t next = 0;
  uint64_t reads_on_primary = 0;
  bool shutting_down = false;
  static inline const char* name = "pool_router";
};

using router_ptr = router_actor::stateful_pointer<router_state>;

std::string seconds_text(caf::timespan d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fs",
                std::chrono::duration<double>(d).count());
  return buf;
}

// Sets whether `r` serves; `why_not` is the lag check's complaint, if any.
void judge(replica_slot& r, std::string why_not) {
  if (why_not.empty() && r.breaker_open)
    why_not = "circuit breaker open";
  r.stats.serving = why_not.empty() && r.lag_ok;
  r.stats.reason = r.stats.serving ? std::string{} : std::move(why_not);
}

void on_lag(router_ptr self, size_t i, caf::timespan lag) {
  auto& st = self->state;
  auto& r = st.replicas[i];
  r.checking = false;
  r.stats.lag = lag;
  r.lag_ok = st.max_lag.count() == 0 || lag <= st.max_lag;
  std::string why;
  if (!r.lag_ok)
    why = "lag " + seconds_text(lag) + " above max_replica_lag " +
          seconds_text(st.max_lag);
  judge(r, std::move(why));
}

void on_lag_error(router_ptr self, size_t i, const caf::error& err) {
  auto& st = self->state;
  auto& r = st.replicas[i];
  r.checking = false;
  ++r.stats.lag_check_failures;
  r.lag_ok = false;
  judge(r, "lag check failed: " + describe(err));
}

// Parses a WAL position as PostgreSQL prints it ("16/B374D848").
caf::optional<uint64_t> parse_lsn(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size())
    return caf::none;
  char* end = nullptr;
  auto hi = std::strtoull(text.c_str(), &end, 16);
  if (end != text.c_str() + slash)
    return caf::none;
  auto lo = std::strtoull(text.c_str() + slash + 1, &end, 16);
  if (*end != '\0' || hi > 0xFFFFFFFFull || lo > 0xFFFFFFFFull)
    return caf::none;
  return (hi << 32) | lo;
}

caf::error bad_check(std::string what) {
  return make_error(pool_errc::query_failed, "lag check: " + std::move(what));
}

// What a replica's lag check (`replica_lag_sql`) returned.
struct replica_position {
  bool in_recovery = false;
  caf::optional<uint64_t> replayed; // none when the server never replayed
  caf::timespan estimate{0};        // the replica's own estimate
};

caf::expected<replica_position> parse_position(const query_result& res) {
  if (res.rows() != 1 || res.columns.size() != 3)
    return bad_check("expected one row of 3 values, got " +
                     std::to_string(res.rows()) + " rows of " +
                     std::to_string(res.columns.size()));
  replica_position out;
  if (res.is_null(0, 0) || res.is_null(0, 2))
    return bad_check("a value is NULL");
  out.in_recovery = res.at(0, 0) == "t";
  if (!res.is_null(0, 1)) {
    out.replayed = parse_lsn(res.at(0, 1));
    if (!out.replayed)
      return bad_check("not a WAL position: " + res.at(0, 1));
  }
  char* end = nullptr;
  auto& text = res.at(0, 2);
  auto secs = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || secs < 0)
    return bad_check("not a lag in seconds: " + text);
  out.estimate = std::chrono::duration_cast<caf::timespan>(
    std::chrono::duration<double>(secs));
  return out;
}

// Keeps the primary's position `lsn` sampled at `at`.
void add_sample(router_ptr self, caf::actor_clock::time_point at,
                uint64_t lsn) {
  auto& xs = self->state.samples;
  if (!xs.empty() && lsn == xs.back().lsn)
    return;
  if (!xs.empty() && lsn < xs.back().lsn)
    xs.clear(); // a new primary that had not reached the old one's position
  xs.push_back(lsn_sample{at, lsn});
  constexpr size_t max_samples = 1 << 16; // 1 MiB; a check interval of ms
  while (xs.size() > max_samples ||
         (xs.size() > 1 && xs.front().at < at - self->state.keep_samples))
    xs.pop_front();
}

// The lag of a replica at `pos`, `now`. With a fresh sample of the primary
// (`sampled`): 0 if it replayed the primary's latest position, else the time
// since the primary first showed a position beyond what it replayed (like
// pg_stat_replication's replay_lag; this sees a replica whose stream broke,
// which replayed all it received and so estimates 0 itself). Without one, or
// if it is behind every sample kept, its own estimate counts.
caf::timespan lag_of(router_ptr self, const replica_position& pos, bool sampled,
                     caf::actor_clock::time_point now) {
  auto& xs = self->state.samples;
  if (!pos.in_recovery)
    return caf::timespan{0};
  if (!sampled || xs.empty() || !pos.replayed)
    return pos.estimate;
  auto replayed = *pos.replayed;
  if (replayed >= xs.back().lsn)
    return caf::timespan{0};
  auto first_beyond =
    std::upper_bound(xs.begin(), xs.end(), replayed,
                     [](uint64_t x, const lsn_sample& s) { return x < s.lsn; });
  auto since = std::max(caf::timespan{0}, now - first_beyond->at);
  if (first_beyond == xs.begin())
    return std::max(since, pos.estimate);
  return since;
}

// Asks every replica not being checked for its position; `sampled` says
// whether the primary's position was just sampled.
void check_replicas(router_ptr self, bool sampled) {
  auto& st = self->state;
  for (size_t i = 0; i < st.replicas.size(); ++i) {
    auto& r = st.replicas[i];
    if (r.checking)
      continue;
    r.checking = true;
    ++r.stats.lag_checks;
    self
      ->request(r.pool, r.check_timeout, query_atom::value,
                priority::interactive, statement{replica_lag_sql})
      .then(
        [=](query_result& res) {
          auto pos = parse_position(res);
          if (pos)
            on_lag(self, i, lag_of(self, *pos, sampled, self->clock().now()));
          else
            on_lag_error(self, i, pos.error());
        },
        [=](caf::error& err) { on_lag_error(self, i, err); });
  }
}

// One round of lag checks: samples the primary's WAL position, then asks
// the replicas for theirs (at once if the primary cannot say: each replica's
// own estimate counts then). Schedules the next round.
void check_lag(router_ptr self) {
  auto& st = self->state;
  if (!st.sampling) {
    st.sampling = true;
    auto at = self->clock().now();
    // Bounded by the interval, so that a primary that does not answer
    // delays the replicas' checks by one interval at most.
    self
      ->request(st.primary, st.interval, query_atom::value,
                priority::interactive, statement{primary_lsn_sql})
      .then(
        [=](query_result& res) {
          self->state.sampling = false;
          caf::optional<uint64_t> lsn;
          if (res.rows() == 1 && res.columns.size() == 1 && !res.is_null(0, 0))
            lsn = parse_lsn(res.at(0, 0));
          if (lsn)
            add_sample(self, at, *lsn);
          check_replicas(self, static_cast<bool>(lsn));
        },
        [=](caf::error&) {
          self->state.sampling = false;
          check_replicas(self, false);
        });
  }
  if (!st.shutting_down)
    self->delayed_send(self, st.interval, check_atom::value);
}

// The replica that serves a read now (round robin), or null.
replica_slot* pick(router_ptr self) {
  auto& st = self->state;
  auto n = st.replicas.size();
  for (size_t k = 0; k < n; ++k) {
    auto& r = st.replicas[(st.next + k) % n];
    if (r.stats.serving) {
      st.next = (st.next + k + 1) % n;
      return &r;
    }
  }
  return nullptr;
}

std::string why_no_replica(router_ptr self) {
  std::string out = "no replica serves reads";
  for (auto& r : self->state.replicas)
    out += "; " + r.stats.name + ": " + r.stats.reason;
  if (self->state.replicas.empty())
    out += " (none configured)";
  return out;
}

bool all_read_only(const std::vector<statement>& xs) {
  return !xs.empty() &&
         std::all_of(xs.begin(), xs.end(), [](auto& x) { return x.read_only; });
}

// Whether a read that failed on a replica with `err` may run elsewhere: the
// replica could not be reached or its connection broke (a read that did run
// there changed nothing).
bool replica_unreachable(const caf::error& err) {
  return is(err, pool_errc::connect_failed) ||
         is(err, pool_errc::circuit_open) ||
         is(err, pool_errc::connection_lost) || is(err, pool_errc::auth_failed);
}

// Takes replica `i` out of service until its next successful lag check.
void take_out(router_ptr self, size_t i, std::string why) {
  auto& r = self->state.replicas[i];
  r.lag_ok = false;
  judge(r, std::move(why));
}

// Where a read goes now: a serving replica (counted in its `reads`), else
// the primary (counted in `reads_on_primary`) or, without fallback, nowhere
// (`no_replica`). Sets `*replica` to the replica's index, or to -1.
caf::expected<pool_actor> read_target(router_ptr self, ptrdiff_t* replica) {
  auto& st = self->state;
  *replica = -1;
  if (auto* r = pick(self)) {
    ++r->stats.reads;
    *replica = r - st.replicas.data();
    return r->pool;
  }
  if (!st.fall_back)
    return make_error(pool_errc::no_replica, why_no_replica(self));
  ++st.reads_on_primary;
  return st.primary;
}

// Sends a request where it belongs. Anything but a read is delegated to the
// primary, which answers the requester directly. A read goes to a serving
// replica through the router, so that a read the replica cannot run (it is
// down, its connection broke) runs once more elsewhere, at once, instead of
// failing: on another serving replica or as the fallback says; that replica
// is out until its next lag check succeeds.
template <class T, class... Ts>
caf::result<T> dispatch(router_ptr self, bool read_only, Ts... xs) {
  if (!read_only)
    return self->delegate(self->state.primary, std::move(xs)...);
  ptrdiff_t i = -1;
  auto target = read_target(self, &i);
  if (!target)
    return std::move(target.error());
  if (i < 0)
    return self->delegate(*target, std::move(xs)...);
  auto rp = self->make_response_promise<T>();
  // No request timeout, so no clock event per read: the replica pool
  // answers every request it gets, and it is linked to the router, so if it
  // died the router would too and the requester's monitor would fire.
  self->request(*target, caf::infinite, xs...)
    .then([rp](T& x) mutable { rp.deliver(std::move(x)); },
          [=](caf::error& err) mutable {
            if (!replica_unreachable(err)) {
              rp.deliver(std::move(err));
              return;
            }
            take_out(self, static_cast<size_t>(i),
                     "a read failed: " + describe(err));
            ptrdiff_t j = -1;
            auto next = read_target(self, &j);
            if (next)
              rp.delegate(*next, std::move(xs)...);
            else
              rp.deliver(std::move(next.error()));
          });
  return rp;
}

std::vector<pool_actor> all_pools(router_ptr self) {
  std::vector<pool_actor> out{self->state.primary};
  for (auto& r : self->state.replicas)
    out.push_back(r.pool);
  return out;
}

// Sends a request to every pool (`send(pool, is_primary)` makes each one);
// replies `ok` once all did, or the first error once all answered, and then
// calls `done`.
template <class Done, class Send>
caf::result<caf::ok_atom> to_all(router_ptr self, Done done, Send send) {
  auto rp = self->make_response_promise<caf::ok_atom>();
  struct progress {
    size_t pending;
    caf::error first;
  };
  auto pools = all_pools(self);
  auto p = std::make_shared<progress>(progress{pools.size(), {}});
  auto finish = [p, rp, done]() mutable {
    if (--p->pending > 0)
      return;
    if (p->first)
      rp.deliver(p->first);
    else
      rp.deliver(caf::ok_atom::value);
    done();
  };
  for (size_t i = 0; i < pools.size(); ++i)
    send(pools[i], i == 0)
      .then([finish](caf::ok_atom) mutable { finish(); },
            [p, finish](caf::error& err) mutable {
              if (!p->first)
                p->first = std::move(err);
              finish();
            });
  return rp;
}

// Sends `xs...` to every pool, as `to_all` above.
template <class Done, class... Ts>
caf::result<caf::ok_atom> same_to_all(router_ptr self, caf::timespan timeout,
                                      Done done, Ts... xs) {
  return to_all(self, done, [=](const pool_actor& pool, bool) {
    return self->request(pool, timeout, xs...);
  });
}

// Replies the primary's stats with the replicas' part filled in.
caf::result<pool_stats> collect_stats(router_ptr self) {
  auto rp = self->make_response_promise<pool_stats>();
  struct progress {
    size_t pending;
    pool_stats result;
    caf::error err;
    std::vector<replica_stats> replicas;
  };
  auto& st = self->state;
  auto p = std::make_shared<progress>();
  p->pending = 1 + st.replicas.size();
  for (auto& r : st.replicas)
    p->replicas.push_back(r.stats);
  auto reads_on_primary = st.reads_on_primary;
  auto finish = [p, rp, reads_on_primary]() mutable {
    if (--p->pending > 0)
      return;
    if (p->err) {
      rp.deliver(p->err);
      return;
    }
    p->result.replicas = std::move(p->replicas);
    p->result.reads_on_primary = reads_on_primary;
    rp.deliver(std::move(p->result));
  };
  self->request(st.primary, fan_out_slack, stats_atom::value)
    .then(
      [p, finish](pool_stats& x) mutable {
        p->result = std::move(x);
        finish();
      },
      [p, finish](caf::error& err) mutable {
        p->err = std::move(err);
        finish();
      });
  for (size_t i = 0; i < st.replicas.size(); ++i)
    self->request(st.replicas[i].pool, fan_out_slack, stats_atom::value)
      .then(
        [p, i, finish](pool_stats& x) mutable {
          p->replicas[i].connections_by_host = std::move(x.connections_by_host);
          finish();
        },
        [finish](caf::error&) mutable { finish(); }); // hosts stay unknown
  return rp;
}

router_actor::behavior_type router_impl(router_ptr self, pool_actor primary,
                                        std::vector<pool_actor> replicas,
                                        routed_pool_config cfg) {
  auto& st = self->state;
  st.primary = primary;
  st.fall_back = cfg.reads_fall_back_to_primary;
  st.max_lag = cfg.max_replica_lag;
  st.interval = cfg.lag_check_interval;
  // Long enough to tell lags up to the bound (with no bound: 10 minutes).
  st.keep_samples =
    (st.max_lag.count() > 0 ? st.max_lag
                            : caf::timespan{std::chrono::minutes(10)}) +
    2 * st.interval;
  self->link_to(primary);
  for (size_t i = 0; i < replicas.size(); ++i) {
    replica_slot r;
    r.pool = replicas[i];
    r.stats.name = cfg.replicas[i].name;
    r.stats.reason = "not checked yet";
    r.check_timeout = cfg.replicas[i].health_check_timeout;
    self->link_to(r.pool);
    // Breaker events reach the router as plain messages from the pool.
    self->request(r.pool, fan_out_slack, subscribe_atom::value)
      .then([](caf::ok_atom) {}, [](caf::error&) {});
    st.replicas.push_back(std::move(r));
  }
  check_lag(self);
  using results = std::vector<query_result>;
  return {
    [=](query_atom, statement& stmt) {
      auto ro = stmt.read_only;
      return dispatch<query_result>(self, ro, query_atom::value,
                                    std::move(stmt));
    },
    [=](query_atom, priority prio, statement& stmt) {
      auto ro = stmt.read_only;
      return dispatch<query_result>(self, ro, query_atom::value, prio,
                                    std::move(stmt));
    },
    [=](transaction_atom, std::vector<statement>& xs) {
      auto ro = all_read_only(xs);
      return dispatch<results>(self, ro, transaction_atom::value,
                               std::move(xs));
    },
    [=](transaction_atom, priority prio, std::vector<statement>& xs) {
      auto ro = all_read_only(xs);
      return dispatch<results>(self, ro, transaction_atom::value, prio,
                               std::move(xs));
    },
    [=](acquire_atom, caf::timespan timeout) {
      return self->delegate(self->state.primary, acquire_atom::value, timeout);
    },
    [=](acquire_atom, caf::timespan timeout, priority prio) {
      return self->delegate(self->state.primary, acquire_atom::value, timeout,
                            prio);
    },
    [=](release_atom, uint64_t id) {
      return self->delegate(self->state.primary, release_atom::value, id);
    },
    [=](stats_atom) { return collect_stats(self); },
    [=](subscribe_atom) {
      return self->delegate(self->state.primary, subscribe_atom::value);
    },
    [=](stream_atom, statement& stmt, caf::actor& receiver, uint32_t rows) {
      return self->delegate(self->state.primary, stream_atom::value,
                            std::move(stmt), std::move(receiver), rows);
    },
    [=](listen_atom, std::string& channel) {
      return self->delegate(self->state.primary, listen_atom::value,
                            std::move(channel));
    },
    [=](unlisten_atom, std::string& channel) {
      return self->delegate(self->state.primary, unlisten_atom::value,
                            std::move(channel));
    },
    [=](shutdown_atom, caf::timespan deadline) {
      // The pools exit normally once closed, which does not take the linked
      // router down: it leaves after answering.
      self->state.shutting_down = true;
      return same_to_all(
        self, std::max(deadline, caf::timespan{0}) + fan_out_slack,
        [self] { self->quit(); }, shutdown_atom::value, deadline);
    },
    [=](resize_atom, uint64_t min_size, uint64_t max_size) {
      return same_to_all(
        self, fan_out_slack, [] {}, resize_atom::value, min_size, max_size);
    },
    [=](limit_atom, uint64_t limit) {
      // A limit is a share of one server's connections: the primary's.
      return self->delegate(self->state.primary, limit_atom::value, limit);
    },
    [=](pause_atom, caf::timespan deadline) {
      return same_to_all(
        self, std::max(deadline, caf::timespan{0}) + fan_out_slack, [] {},
        pause_atom::value, deadline);
    },
    [=](resume_atom) {
      return same_to_all(
        self, fan_out_slack, [] {}, resume_atom::value);
    },
    [=](reset_atom) {
      return same_to_all(
        self, fan_out_slack, [] {}, reset_atom::value);
    },
    [=](reconfigure_atom, pool_settings& x) {
      // Every pool takes the settings, but a conninfo is the primary's: the
      // replicas keep their own.
      return to_all(
        self, [] {},
        [=](const pool_actor& pool, bool primary) {
          auto settings = x;
          if (!primary)
            settings.conninfo = caf::none;
          return self->request(pool, fan_out_slack, reconfigure_atom::value,
                               std::move(settings));
        });
    },
    [=](const breaker_event& ev) {
      // From a replica pool's breaker (the primary's go to its subscribers).
      for (auto& r : self->state.replicas)
        if (r.stats.name == ev.pool) {
          r.breaker_open = ev.state == breaker_state::open;
          judge(r, r.lag_ok ? "" : r.stats.reason);
        }
    },
    [=](check_atom) { check_lag(self); },
  };
}

} // namespace

caf::error validate(const routed_pool_config& cfg) {
  auto prefixed = [](const std::string& field, const caf::error& err) {
    return make_error(pool_errc::invalid_config,
                      field + "." + error_message(err));
  };
  if (auto err = validate(cfg.primary))
    return prefixed("primary", err);
  std::set<std::string> names{cfg.primary.name};
  for (size_t i = 0; i < cfg.replicas.size(); ++i) {
    auto field = "replicas[" + std::to_string(i) + "]";
    if (auto err = validate(cfg.replicas[i]))
      return prefixed(field, err);
    if (!names.insert(cfg.replicas[i].name).second)
      return make_error(pool_errc::invalid_config,
                        field + ".name: \"" + cfg.replicas[i].name +
                          "\" is taken by another pool of this routed pool");
  }
  if (cfg.max_replica_lag.count() < 0)
    return make_error(pool_errc::invalid_config,
                      "max_replica_lag: must not be negative, is " +
                        seconds_text(cfg.max_replica_lag));
  if (cfg.lag_check_interval.count() <= 0)
    return make_error(pool_errc::invalid_config,
                      "lag_check_interval: must be positive, is " +
                        seconds_text(cfg.lag_check_interval));
  return {};
}

caf::expected<pool_actor> spawn_routed_pool(caf::actor_system& sys,
                                            routed_pool_config cfg) {
  if (auto err = validate(cfg))
    return err;
  auto primary = spawn_pool(sys, cfg.primary);
  if (!primary)
    return primary.error();
  std::vector<pool_actor> replicas;
  for (auto& r : cfg.replicas) {
    auto pool = spawn_pool(sys, r);
    if (!pool)
      return pool.error(); // unreachable: validated above
    replicas.push_back(*pool);
  }
  auto router =
    sys.spawn(router_impl, *primary, std::move(replicas), std::move(cfg));
  return caf::actor_cast<pool_actor>(router);
}

} // namespace pool
