#include "invariants.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace chaos {

long long median_latency(std::vector<answer_record> records) {
  if (records.empty())
    return -1;
  std::vector<long long> xs;
  for (auto& r : records)
    xs.push_back(r.latency().count());
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

uint64_t check_answers(const std::string& scenario, const load_report& rep,
                       const std::set<std::string>& allowed, bool every_op_ok) {
  CAF_MESSAGE(scenario << " answers: " << rep.summary());
  std::map<std::string, long long> max_latency;
  for (auto& r : rep.records) {
    auto& m = max_latency[r.kind];
    m = std::max<long long>(m, r.latency().count());
  }
  for (auto& kv : max_latency)
    CAF_MESSAGE(scenario << "   " << kv.first << ": " << rep.count(kv.first)
                         << " answers, max latency " << kv.second << " ms"
                         << (rep.example.count(kv.first)
                               ? ", e.g. \"" + rep.example.at(kv.first) + "\""
                               : std::string{}));
  CAF_CHECK_GREATER(rep.sent, 0u);
  CAF_CHECK_EQUAL(rep.sent, rep.answered);
  CAF_CHECK_EQUAL(rep.duplicates, 0u);
  CAF_CHECK_EQUAL(rep.wrong_values, 0u);
  // A request the pool did not answer before the client's own deadline
  // (which exceeds every deadline the pool has) breaks invariant 1.
  CAF_CHECK_EQUAL(rep.count(no_answer_kind), 0u);
  uint64_t unexpected = 0;
  for (auto& kv : rep.by_kind) {
    if (kv.first == ok_kind || allowed.count(kv.first) > 0)
      continue;
    unexpected += kv.second;
    CAF_ERROR(scenario << ": " << kv.second << " answers of unexpected kind "
                       << kv.first
                       << (rep.example.count(kv.first)
                             ? ", e.g. \"" + rep.example.at(kv.first) + "\""
                             : std::string{}));
  }
  CAF_CHECK_EQUAL(unexpected, 0u);
  // Per operation: what each one got. Errors that only a lease can get
  // (its connection was lost under it, its worker quit) must not appear
  // elsewhere.
  for (auto& kv : rep.by_op) {
    std::string text;
    for (auto& kinds : kv.second)
      text += " " + kinds.first + "=" + std::to_string(kinds.second);
    CAF_MESSAGE(scenario << "   op " << kv.first << ":" << text);
    if (kv.first != op_release && kv.first != op_lease_query)
      CAF_CHECK_EQUAL(rep.count(kv.first, "invalid_lease"), 0u);
    if (kv.first != op_lease_query)
      CAF_CHECK_EQUAL(rep.count(kv.first, receiver_down_kind), 0u);
  }
  // The whole mix ran: pooled queries, acquire/query/release on leases and
  // transactions each got correct results.
  if (every_op_ok)
    for (auto op :
         {op_query, op_acquire, op_lease_query, op_release, op_transaction}) {
      if (rep.count(op, ok_kind) == 0)
        CAF_ERROR(scenario << ": no correct answer for any " << op);
      CAF_CHECK_GREATER(rep.count(op, ok_kind), 0u);
    }
  // When did the unexpected answers happen? (Times from the load's start.)
  std::map<std::string, int> shown;
  for (auto& r : rep.records) {
    if (r.kind == ok_kind ||
        (allowed.count(r.kind) > 0 && r.kind != no_answer_kind))
      continue;
    if (++shown[r.kind] > 5)
      continue;
    CAF_MESSAGE(scenario << "   " << r.kind << ": sent at +" << rep.at(r.sent)
                         << " ms, answered at +" << rep.at(r.answered)
                         << " ms (from the load's start)");
  }
  return unexpected;
}

void check_no_leases(fixture& f, const pool::pool_actor& p, ms bound) {
  auto t0 = clock_type::now();
  auto res = f.wait_for_stats(
    p, [](const pool::pool_stats& st) { return st.leased == 0; }, bound);
  CAF_MESSAGE("no lease left: " << (res.second ? "yes" : "NO") << " after "
                                << ms_since(t0) << " ms (bound "
                                << bound.count()
                                << " ms): " << describe(res.first));
  CAF_CHECK(res.second);
  CAF_CHECK_EQUAL(res.first.leased, 0u);
}

long long check_size_in_range(fixture& f, const pool::pool_actor& p,
                              size_t min_size, size_t max_size, ms bound,
                              time_point since) {
  auto in_range = [=](const pool::pool_stats& st) {
    return st.total <= max_size && st.total - st.connecting >= min_size;
  };
  auto remaining =
    std::chrono::duration_cast<ms>(since + bound - clock_type::now());
  auto res = f.wait_for_stats(p, in_range, std::max(remaining, ms{0}));
  auto took = res.second ? ms_since(since) : -1;
  CAF_MESSAGE("pool size in [" << min_size << ", " << max_size << "] "
                               << (res.second ? "after " : "NOT within ")
                               << (res.second ? took : bound.count())
                               << " ms from the end of the fault (bound "
                               << bound.count()
                               << " ms): " << describe(res.first));
  CAF_CHECK(res.second);
  return took;
}

void check_idle_ping(fixture& f, const pool::pool_actor& p) {
  // At rest: every connection open and idle, nothing running or waiting.
  auto quiet = f.wait_for_stats(
    p,
    [](const pool::pool_stats& st) {
      return st.total > 0 && st.idle == st.total && st.waiting == 0;
    },
    5000ms);
  if (!quiet.second) {
    CAF_ERROR("idle ping: the pool is not at rest within 5 s: "
              << describe(quiet.first));
    return;
  }
  auto before = quiet.first;
  auto n = before.total;
  // Lease every connection (n leases of n idle connections: no new one is
  // opened), and ask each for its backend's pid.
  std::vector<pool::lease> leases;
  std::vector<std::string> errors;
  for (uint32_t i = 0; i < n; ++i) {
    auto l = f.acquire(p, caf::timespan{3s});
    if (l)
      leases.push_back(*l);
    else
      errors.push_back("acquire: " + pool::describe(l.error()));
  }
  std::set<caf::actor_addr> workers;
  std::set<std::string> pids;
  for (auto& l : leases) {
    workers.insert(caf::actor_cast<caf::actor_addr>(l.worker));
    auto r = f.query(l, pool::statement{"SELECT pg_backend_pid()"});
    if (r && r->rows() == 1 && !r->is_null(0, 0))
      pids.insert(r->at(0, 0));
    else
      errors.push_back("SELECT pg_backend_pid() on lease " +
                       std::to_string(l.id) + ": " + describe(r));
  }
  // The pids are live backends of the server (asked from outside the pool).
  std::string alive = "?";
  if (!pids.empty()) {
    std::string list;
    for (auto& pid : pids)
      list += (list.empty() ? "" : ",") + pid;
    bool ok = false;
    alive = f.pg.scalar(
      "SELECT count(*) FROM pg_stat_activity WHERE pid IN (" + list + ")", ok);
    if (!ok)
      errors.push_back("pg_stat_activity: " + f.pg.last_error());
  }
  for (auto& l : leases) {
    auto r = f.release(p, l.id);
    if (!r)
      errors.push_back("release " + std::to_string(l.id) + ": " +
                       pool::describe(r.error()));
  }
  // A dead connection that was handed out would have been pinged and
  // replaced (validate_after_idle) or closed by a health check meanwhile:
  // either changes these counters.
  auto after = f.stats(p);
  if (!after)
    CAF_FAIL(
      "idle ping: stats after the pings: " << pool::describe(after.error()));
  CAF_MESSAGE("idle ping: " << pids.size() << " distinct live backends ("
                            << alive << " alive on the server) answered on "
                            << workers.size() << " workers, for " << n
                            << " connections; before: " << describe(before)
                            << "; after: " << describe(*after));
  for (auto& e : errors)
    CAF_ERROR("idle ping: " << e);
  CAF_CHECK(errors.empty());
  CAF_CHECK_EQUAL(leases.size(), n);
  CAF_CHECK_EQUAL(workers.size(), n);
  CAF_CHECK_EQUAL(pids.size(), n);
  CAF_CHECK_EQUAL(alive, std::to_string(n));
  CAF_CHECK_EQUAL(after->connections_created, before.connections_created);
  CAF_CHECK_EQUAL(after->connections_closed, before.connections_closed);
  CAF_CHECK_EQUAL(after->health_check_failures, before.health_check_failures);
}

void check_at_rest(fixture& f, const pool::pool_actor& p, size_t min_size,
                   size_t max_size) {
  check_no_leases(f, p, 5000ms);
  check_size_in_range(f, p, min_size, max_size, 2000ms, clock_type::now());
  check_idle_ping(f, p);
}

stats_monitor::stats_monitor(caf::actor_system& sys, pool::pool_actor p,
                             ms interval)
  : sys_(sys), pool_(std::move(p)), interval_(interval) {
  thread_ = std::thread{[this] {
    caf::scoped_actor self{sys_};
    while (!stop_) {
      self->request(pool_, caf::timespan{5s}, pool::stats_atom_v)
        .receive(
          [&](pool::pool_stats& st) {
            ++samples_;
            if (st.total > max_total_)
              max_total_ = st.total;
          },
          [&](caf::error&) { ++failed_; });
      std::this_thread::sleep_for(interval_);
    }
  }};
}

stats_monitor::~stats_monitor() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
}

void stats_monitor::check(size_t max_size) {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
  CAF_MESSAGE("stats monitor: " << samples_ << " samples, " << failed_
                                << " failed, largest total " << max_total_
                                << " (max_size " << max_size << ")");
  CAF_CHECK_LESS_OR_EQUAL(max_total_.load(), max_size);
  CAF_CHECK_EQUAL(failed_.load(), 0u);
}

namespace {

pool::pool_actor spawn_warm(fixture& f, const pool::pool_config& pc) {
  auto p = f.spawn(pc);
  f.wait_warm(p, pc.min_size);
  return p;
}

} // namespace

loaded_pool::loaded_pool(fixture& f, pool::pool_config config)
  : pc(std::move(config)), p(spawn_warm(f, pc)), mon(f.sys, p), load(f.sys, p) {
  load.start();
  CAF_CHECK(load.wait_for_ok(50, 5000ms));
}

load_report loaded_pool::stop_load() {
  CAF_CHECK(load.stop(12000ms));
  return load.report();
}

void loaded_pool::check_final(fixture& f) {
  mon.check(pc.max_size);
  check_at_rest(f, p, pc.min_size, pc.max_size);
  auto st = f.stats(p);
  if (!st)
    CAF_FAIL("final stats: " << pool::describe(st.error()));
  CAF_MESSAGE("final stats: " << describe(*st));
}

} // namespace chaos
