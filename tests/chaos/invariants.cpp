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
                       const std::set<std::string>& allowed) {
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
  // A request the pool did not answer before the request's own timeout
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
  auto st = f.stats(p);
  if (!st) {
    CAF_ERROR("stats failed: " << pool::describe(st.error()));
    return;
  }
  auto n = st->idle;
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
  size_t pings_ok = 0;
  for (auto& l : leases) {
    workers.insert(caf::actor_cast<caf::actor_addr>(l.worker));
    auto r = f.query(l, pool::statement{"SELECT 1"});
    if (r && r->rows() == 1 && r->at(0, 0) == "1")
      ++pings_ok;
    else
      errors.push_back("SELECT 1 on lease " + std::to_string(l.id) + ": " +
                       describe(r));
  }
  for (auto& l : leases) {
    auto r = f.release(p, l.id);
    if (!r)
      errors.push_back("release " + std::to_string(l.id) + ": " +
                       pool::describe(r.error()));
  }
  CAF_MESSAGE("idle ping: " << pings_ok << " of " << n
                            << " idle connections answered SELECT 1 ("
                            << workers.size() << " distinct workers)");
  for (auto& e : errors)
    CAF_ERROR("idle ping: " << e);
  CAF_CHECK_EQUAL(pings_ok, n);
  CAF_CHECK_EQUAL(workers.size(), leases.size());
  CAF_CHECK(errors.empty());
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
  if (auto st = f.stats(p))
    CAF_MESSAGE("final stats: " << describe(*st));
}

} // namespace chaos
