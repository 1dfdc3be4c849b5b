// Phase C: the baseline, raw libpq on dedicated threads.

#include <algorithm>
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

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* stmt_name = "bench_select";

/// What one thread measured.
struct thread_samples {
  std::vector<int64_t> latency_ns;
  uint64_t errors = 0;
  std::string first_error;
};

void on_error(thread_samples& out, std::string what) {
  if (out.errors++ == 0)
    out.first_error = std::move(what);
}

/// Opens a connection and prepares the statement; returns an error message
/// or "" on success.
std::string open(const std::string& conninfo, PGconn*& conn) {
  conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK)
    return std::string{"PQconnectdb: "} + PQerrorMessage(conn);
  auto* res = PQprepare(conn, stmt_name, "SELECT $1::int", 1, nullptr);
  std::string err;
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    err = std::string{"PQprepare: "} + PQresultErrorMessage(res);
  PQclear(res);
  return err;
}

void run_thread(PGconn* conn, int first_value, clock::time_point start,
                clock::time_point window_start, clock::time_point window_end,
                thread_samples& out) {
  out.latency_ns.reserve(1 << 16);
  char buf[16];
  const char* values[1] = {buf};
  int v = first_value;
  std::this_thread::sleep_until(start);
  for (;;) {
    auto t0 = clock::now();
    if (t0 >= window_end)
      return;
    v = v == 1000000 ? 1 : v + 1;
    std::snprintf(buf, sizeof(buf), "%d", v);
    auto* res = PQexecPrepared(conn, stmt_name, 1, values, nullptr, nullptr, 0);
    auto t1 = clock::now();
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
      on_error(out,
               std::string{"PQexecPrepared: "} + PQresultErrorMessage(res));
    else if (PQntuples(res) != 1 || std::atoi(PQgetvalue(res, 0, 0)) != v)
      on_error(out, "wrong answer to SELECT " + std::to_string(v));
    else if (t1 >= window_start && t1 < window_end)
      out.latency_ns.push_back((t1 - t0).count());
    PQclear(res);
    if (PQstatus(conn) != CONNECTION_OK) {
      on_error(out, std::string{"connection lost: "} + PQerrorMessage(conn));
      return;
    }
  }
}

} // namespace

load_result run_raw_phase(const run_spec& spec) {
  load_result res;
  std::vector<PGconn*> conns(spec.pool, nullptr);
  for (auto& c : conns)
    if (auto err = open(spec.conninfo, c); !err.empty()) {
      res.failure = err;
      break;
    }
  if (res.failure.empty()) {
    auto secs = [](double s) {
      return std::chrono::duration_cast<clock::duration>(
        std::chrono::duration<double>(s));
    };
    auto start = clock::now() + 20ms;
    auto window_start = start + secs(spec.warmup);
    auto window_end = window_start + secs(spec.duration);
    std::vector<thread_samples> out(spec.pool);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < spec.pool; ++i)
      threads.emplace_back(run_thread, conns[i], static_cast<int>(i * 1000),
                           start, window_start, window_end, std::ref(out[i]));
    std::this_thread::sleep_until(window_start);
    auto cpu0 = process_cpu_seconds();
    std::this_thread::sleep_until(window_end);
    auto cpu1 = process_cpu_seconds();
    for (auto& t : threads)
      t.join();
    std::vector<int64_t> all;
    res.ops_min = UINT64_MAX;
    for (auto& o : out) {
      res.ops_min = std::min<uint64_t>(res.ops_min, o.latency_ns.size());
      res.ops_max = std::max<uint64_t>(res.ops_max, o.latency_ns.size());
      all.insert(all.end(), o.latency_ns.begin(), o.latency_ns.end());
      if (res.errors == 0 && o.errors > 0)
        res.first_error = o.first_error;
      res.errors += o.errors;
    }
    res.ops = all.size();
    res.qps = static_cast<double>(res.ops) / spec.duration;
    res.latency = summarize(all);
    if (res.ops > 0)
      res.cpu_us_per_query = (cpu1 - cpu0) * 1e6 / static_cast<double>(res.ops);
  }
  for (auto* c : conns)
    if (c != nullptr)
      PQfinish(c);
  return res;
}

} // namespace bench
