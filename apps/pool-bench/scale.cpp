// The scale checks (--scale): many requests waiting on a small pool, and a
// pool as large as the server allows. Memory is the growth of this
// process's RSS (/proc/self/status), after malloc_trim, divided by the count.

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <thread>
#include <vector>

#include <libpq-fe.h>
#include <malloc.h>

#include "caf/all.hpp"

#include "pool/blocking.hpp"
#include "pool/error.hpp"

#include "flood.hpp"
#include "phases.hpp"
#include "pool_util.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;

constexpr auto wait_timeout = std::chrono::minutes(2);

uint64_t trimmed_rss() {
  malloc_trim(0);
  return rss_bytes();
}

double per_item(uint64_t before, uint64_t after, size_t n) {
  return (static_cast<double>(after) - static_cast<double>(before)) /
         static_cast<double>(n);
}

/// Waits up to `limit` for `done()`; returns whether it became true.
template <class F>
bool wait_for(F done, caf::timespan limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// Waits for a flood's report; false if none came in time.
bool await_report(caf::scoped_actor& self, flood_report& out) {
  bool got = false;
  self->receive([&](flood_report& r) { out = std::move(r), got = true; },
                caf::after(wait_timeout + 30s) >> [] {});
  return got;
}

bool print_flood(const char* what, const flood_report& r, size_t n) {
  std::printf("  %s: %" PRIu64 " of %zu answered (%" PRIu64 " ok, %" PRIu64
              " errors%s%s) in %.2f s (%.0f q/s)\n",
              what, r.ok + r.errors, n, r.ok, r.errors,
              r.errors ? ", first: " : "", r.first_error.c_str(), r.seconds,
              r.seconds > 0 ? static_cast<double>(r.ok) / r.seconds : 0.0);
  return r.ok == n && r.errors == 0;
}

/// The requesting side's memory per pending request: `n` requests to an
/// actor that never answers.
double requester_bytes(caf::actor_system& sys, size_t n) {
  auto received = std::make_shared<std::atomic<uint64_t>>(0);
  auto hole = spawn_black_hole(sys, received);
  caf::scoped_actor self{sys};
  auto before = trimmed_rss();
  auto flood = spawn_flood(sys, hole, n, wait_timeout, self);
  wait_for([&] { return received->load() >= n; }, 60s);
  auto after = rss_bytes();
  caf::anon_send_exit(flood, caf::exit_reason::kill);
  caf::anon_send_exit(hole, caf::exit_reason::kill);
  return per_item(before, after, n);
}

int max_connections(const std::string& conninfo, std::string& error) {
  auto* conn = PQconnectdb(conninfo.c_str());
  int result = -1;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    auto* res = PQexec(conn, "SHOW max_connections");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
      result = std::atoi(PQgetvalue(res, 0, 0));
    else
      error = PQresultErrorMessage(res);
    PQclear(res);
  }
  PQfinish(conn);
  return result;
}

/// `n` requests waiting on a pool of 16 whose connections are all leased.
bool waiting_requests(caf::actor_system& sys, const std::string& conninfo,
                      size_t n, json_object& j) {
  constexpr size_t size = 16;
  std::printf("\nscale 1: %zu requests waiting on a pool of %zu (its %zu "
              "connections leased first; max_waiters=%zu, acquire_timeout=2 "
              "min, queue_target=0: no load shedding)\n",
              n, size, size, n);
  auto requester = requester_bytes(sys, n);
  auto cfg = pool_settings(conninfo, size);
  cfg.max_waiters = n;
  cfg.acquire_timeout = wait_timeout;
  cfg.queue_target = caf::timespan{0};
  auto pool = start_pool(sys, cfg);
  if (!pool) {
    std::printf("  FAILED: %s\n", pool::describe(pool.error()).c_str());
    return false;
  }
  pool::blocking_pool db{sys, *pool, 10s};
  std::vector<pool::lease> leases;
  for (size_t i = 0; i < size; ++i)
    if (auto l = db.acquire(5s))
      leases.push_back(*l);
  caf::scoped_actor self{sys};
  auto before = trimmed_rss();
  auto t0 = std::chrono::steady_clock::now();
  spawn_flood(sys, caf::actor_cast<caf::actor>(*pool), n, wait_timeout, self);
  uint32_t waiting = 0;
  wait_for(
    [&] {
      auto st = db.stats();
      waiting = st ? st->waiting : 0;
      return waiting >= n;
    },
    60s);
  auto queued_s =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
  auto after = rss_bytes();
  auto total = per_item(before, after, n);
  std::printf("  %zu leases held; stats.waiting = %u after %.2f s; RSS %+.1f "
              "MB = %.0f B per waiting request, of which ~%.0f B on the "
              "requesting side (pending requests to an actor that never "
              "answers) and ~%.0f B in the pool\n",
              leases.size(), waiting, queued_s,
              (static_cast<double>(after) - static_cast<double>(before)) / 1e6,
              total, requester, total - requester);
  for (auto& l : leases)
    db.release(l);
  flood_report r;
  bool ok = await_report(self, r) &&
            print_flood("after releasing the leases", r, n) &&
            leases.size() == size && waiting == n;
  print_pool_stats(sys, *pool, "pool after scale 1");
  if (auto err = stop_pool(sys, *pool))
    std::printf("  shutdown failed: %s\n", pool::describe(err).c_str());
  j.add("waiters", uint64_t{n})
    .add("waiting_seen", uint64_t{waiting})
    .add("waiters_answered_ok", r.ok)
    .add("waiters_errors", r.errors)
    .add("bytes_per_waiting_request", total)
    .add("bytes_per_waiting_request_requester", requester)
    .add("bytes_per_waiting_request_pool", total - requester);
  return ok;
}

/// A pool of min(`wanted`, max_connections - 20) connections.
bool large_pool(caf::actor_system& sys, const std::string& conninfo,
                size_t wanted, size_t n_queries, json_object& j) {
  std::string error;
  auto max_conn = max_connections(conninfo, error);
  if (max_conn < 0) {
    std::printf("\nscale 2: SHOW max_connections failed: %s\n", error.c_str());
    return false;
  }
  auto allowed = static_cast<size_t>(std::max(max_conn - 20, 1));
  auto size = std::min(wanted, allowed);
  std::printf("\nscale 2: server max_connections = %d: a pool of min(%zu, "
              "%d - 20) = %zu connections%s\n",
              max_conn, wanted, max_conn, size,
              size < wanted ? " (the server allows no more)" : "");
  auto before = trimmed_rss();
  auto t0 = std::chrono::steady_clock::now();
  auto pool = start_pool(sys, pool_settings(conninfo, size), wait_timeout);
  if (!pool) {
    std::printf("  FAILED: %s\n", pool::describe(pool.error()).c_str());
    return false;
  }
  auto open_s =
    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
  auto after = rss_bytes();
  auto per_conn = per_item(before, after, size);
  std::printf("  all %zu idle after %.2f s; RSS %+.1f MB = %.1f KB per "
              "connection (this process only: libpq, worker actor, poller)\n",
              size, open_s,
              (static_cast<double>(after) - static_cast<double>(before)) / 1e6,
              per_conn / 1024);
  caf::scoped_actor self{sys};
  spawn_flood(sys, caf::actor_cast<caf::actor>(*pool), n_queries, 30s, self);
  flood_report r;
  bool ok =
    await_report(self, r) && print_flood("queries sent at once", r, n_queries);
  print_pool_stats(sys, *pool, "pool after scale 2");
  if (auto err = stop_pool(sys, *pool))
    std::printf("  shutdown failed: %s\n", pool::describe(err).c_str());
  j.add("max_connections", static_cast<int64_t>(max_conn))
    .add("large_pool", uint64_t{size})
    .add("large_pool_open_s", open_s)
    .add("bytes_per_connection", per_conn)
    .add("large_pool_queries_ok", r.ok)
    .add("large_pool_errors", r.errors);
  return ok;
}

} // namespace

scale_result run_scale(caf::actor_system& sys, const std::string& conninfo,
                       size_t waiters, size_t big_pool) {
  json_object j;
  j.add("mode", "scale");
  scale_result res;
  res.ok = waiting_requests(sys, conninfo, waiters, j);
  res.ok &= large_pool(sys, conninfo, big_pool, waiters, j);
  res.json = j.str();
  return res;
}

} // namespace bench
