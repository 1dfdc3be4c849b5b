// The baselines: raw libpq on dedicated threads (the ceiling for a pool of
// P), and connect-per-request (what a pool saves).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "phases.hpp"

namespace bench {

namespace {

constexpr const char* sql = "SELECT $1::int";
constexpr const char* stmt_name = "bench_select";

/// What one thread measured.
struct thread_samples {
  histogram hist;
  uint64_t errors = 0;
  std::string first_error;
};

void on_error(thread_samples& out, std::string what) {
  if (out.errors++ == 0)
    out.first_error = std::move(what);
}

/// Opens a connection; with `prepare`, also prepares the statement. Returns
/// an error message or "" on success.
std::string open(const std::string& conninfo, PGconn*& conn, bool prepare) {
  conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK)
    return std::string{"PQconnectdb: "} + PQerrorMessage(conn);
  if (!prepare)
    return {};
  auto* res = PQprepare(conn, stmt_name, sql, 1, nullptr);
  std::string err;
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    err = std::string{"PQprepare: "} + PQresultErrorMessage(res);
  PQclear(res);
  return err;
}

/// Checks one result; returns whether it was the right answer.
bool check(PGresult* res, int v, thread_samples& out, const char* what) {
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    on_error(out, std::string{what} + ": " + PQresultErrorMessage(res));
    return false;
  }
  if (PQntuples(res) != 1 || std::atoi(PQgetvalue(res, 0, 0)) != v) {
    on_error(out, "wrong answer to SELECT " + std::to_string(v));
    return false;
  }
  return true;
}

/// Runs the closed loop on one thread. `conn` is the dedicated connection,
/// or nullptr to connect for every query.
void run_thread(const std::string& conninfo, PGconn* conn, int first_value,
                const phase_times& t, std::atomic<uint64_t>& done,
                thread_samples& out) {
  char buf[16];
  const char* values[1] = {buf};
  int v = first_value;
  std::this_thread::sleep_until(t.start);
  for (;;) {
    auto t0 = clock::now();
    if (t0 >= t.window_end)
      return;
    v = v == 1000000 ? 1 : v + 1;
    std::snprintf(buf, sizeof(buf), "%d", v);
    bool ok = false;
    if (conn != nullptr) {
      auto* res =
        PQexecPrepared(conn, stmt_name, 1, values, nullptr, nullptr, 0);
      ok = check(res, v, out, "PQexecPrepared");
      PQclear(res);
      if (PQstatus(conn) != CONNECTION_OK) {
        on_error(out, std::string{"connection lost: "} + PQerrorMessage(conn));
        return;
      }
    } else {
      PGconn* c = nullptr;
      if (auto err = open(conninfo, c, false); !err.empty()) {
        on_error(out, err);
      } else {
        auto* res =
          PQexecParams(c, sql, 1, nullptr, values, nullptr, nullptr, 0);
        ok = check(res, v, out, "PQexecParams");
        PQclear(res);
      }
      PQfinish(c);
    }
    auto t1 = clock::now();
    done.fetch_add(1, std::memory_order_relaxed);
    if (ok && t1 >= t.window_start && t1 < t.window_end)
      out.hist.record((t1 - t0).count());
  }
}

} // namespace

load_result run_raw_phase(const run_spec& spec, raw_mode mode) {
  load_result res;
  bool dedicated = mode == raw_mode::dedicated;
  std::vector<PGconn*> conns(spec.pool, nullptr);
  if (dedicated)
    for (auto& c : conns)
      if (auto err = open(spec.conninfo, c, true); !err.empty()) {
        res.failure = err;
        break;
      }
  if (res.failure.empty()) {
    auto times = phase_times::from_now(spec.warmup, spec.duration);
    std::atomic<uint64_t> done{0};
    std::vector<thread_samples> out(spec.pool);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < spec.pool; ++i)
      threads.emplace_back(run_thread, std::cref(spec.conninfo), conns[i],
                           static_cast<int>(i * 1000), std::cref(times),
                           std::ref(done), std::ref(out[i]));
    auto label = (dedicated ? "raw " : "connect ") + spec.name();
    auto usage = watch_window(label, times, done, spec.server);
    for (auto& t : threads)
      t.join();
    res.ops_min = UINT64_MAX;
    for (auto& o : out) {
      res.ops_min = std::min(res.ops_min, o.hist.count());
      res.ops_max = std::max(res.ops_max, o.hist.count());
      res.hist.merge(o.hist);
      if (res.errors == 0 && o.errors > 0)
        res.first_error = o.first_error;
      res.errors += o.errors;
    }
    res.finish(usage, spec.duration);
  }
  for (auto* c : conns)
    if (c != nullptr)
      PQfinish(c);
  return res;
}

} // namespace bench
