#include "report.hpp"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string>

namespace demo {

namespace {

/// Nearest-rank percentile of a sorted vector, in milliseconds.
double pct_ms(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty())
    return 0;
  auto rank = static_cast<size_t>(q * static_cast<double>(sorted.size()));
  rank = std::min(rank, sorted.size() - 1);
  return static_cast<double>(sorted[rank]) / 1e6;
}

void merge_into(kind_tally& dst, kind_tally& src) {
  dst.ok += src.ok;
  dst.expected_errors += src.expected_errors;
  dst.unexpected += src.unexpected;
  dst.statements += src.statements;
  dst.latency_ns.insert(dst.latency_ns.end(), src.latency_ns.begin(),
                        src.latency_ns.end());
  dst.more += src.more;
  for (auto& [line, n] : src.examples) {
    auto i = dst.examples.find(line);
    if (i != dst.examples.end())
      i->second += n;
    else if (dst.examples.size() < kind_tally::max_examples)
      dst.examples.emplace(line, n);
    else
      dst.more += n;
  }
}

} // namespace

uint64_t totals::operations() const {
  uint64_t n = 0;
  for (auto& k : kinds)
    n += k.ok + k.unexpected;
  return n;
}

uint64_t totals::statements() const {
  uint64_t n = 0;
  for (auto& k : kinds)
    n += k.statements;
  return n;
}

uint64_t totals::unexpected() const {
  uint64_t n = 0;
  for (auto& k : kinds)
    n += k.unexpected;
  return n;
}

totals merge(std::vector<client_report> reports) {
  totals t;
  if (reports.empty())
    return t;
  auto first = reports.front().started;
  auto last = reports.front().finished;
  for (auto& rep : reports) {
    ++t.reports;
    ++t.roles[static_cast<size_t>(rep.r)];
    for (size_t k = 0; k < num_kinds; ++k)
      merge_into(t.kinds[k], rep.kinds[k]);
    t.unanswered += rep.unanswered;
    t.inserts_acked += rep.inserts_acked;
    first = std::min(first, rep.started);
    last = std::max(last, rep.finished);
  }
  t.wall_seconds = std::chrono::duration<double>(last - first).count();
  return t;
}

void print_workload(totals& t) {
  std::printf("\n== workload ==\n");
  std::printf("clients: %zu (", t.reports);
  for (size_t r = 0; r < t.roles.size(); ++r)
    std::printf("%s%zu %s", r == 0 ? "" : ", ", t.roles[r],
                to_string(static_cast<role>(r)));
  std::printf("), ran %.2f s\n\n", t.wall_seconds);
  std::printf("%-9s %9s %9s %11s %11s %9s %9s\n", "kind", "ok", "of which",
              "unexpected", "statements", "p50 ms", "p99 ms");
  std::printf("%-9s %9s %9s %11s %11s %9s %9s\n", "", "", "exp. err", "", "",
              "", "");
  std::vector<int64_t> all;
  for (size_t k = 0; k < num_kinds; ++k) {
    auto& kt = t.kinds[k];
    std::sort(kt.latency_ns.begin(), kt.latency_ns.end());
    all.insert(all.end(), kt.latency_ns.begin(), kt.latency_ns.end());
    std::printf("%-9s %9" PRIu64 " %9" PRIu64 " %11" PRIu64 " %11" PRIu64
                " %9.2f %9.2f\n",
                to_string(static_cast<op_kind>(k)), kt.ok, kt.expected_errors,
                kt.unexpected, kt.statements, pct_ms(kt.latency_ns, 0.50),
                pct_ms(kt.latency_ns, 0.99));
  }
  std::sort(all.begin(), all.end());
  auto secs = t.wall_seconds > 0 ? t.wall_seconds : 1.0;
  std::printf("\noperations: %" PRIu64 " (%" PRIu64 " SQL statements), "
              "%.0f operations/s, %.0f statements/s\n",
              t.operations(), t.statements(),
              static_cast<double>(t.operations()) / secs,
              static_cast<double>(t.statements()) / secs);
  std::printf("latency, all operations: p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms\n",
              pct_ms(all, 0.50), pct_ms(all, 0.99), pct_ms(all, 1.0));
  std::printf("requests left unanswered past their timeout: %" PRIu64 "\n",
              t.unanswered);
  std::printf("\nerrors (count, kind, pool::describe):\n");
  bool any = false;
  for (size_t k = 0; k < num_kinds; ++k) {
    auto& kt = t.kinds[k];
    for (auto& [line, n] : kt.examples) {
      any = true;
      std::printf("  %6" PRIu64 "  %-8s %s\n", n,
                  to_string(static_cast<op_kind>(k)), line.c_str());
    }
    if (kt.more > 0)
      std::printf("  %6" PRIu64 "  %-8s (other error lines)\n", kt.more,
                  to_string(static_cast<op_kind>(k)));
  }
  if (!any)
    std::printf("  none\n");
}

void print_stats(const pool::pool_stats& s) {
  std::printf("\n== pool stats ==\n%s\n", pool::to_string(s).c_str());
  // Not a field: the mean wait per acquisition.
  auto wait_ms = std::chrono::duration<double, std::milli>(s.wait_time_total);
  std::printf("mean wait per acquisition %.3f ms\n",
              s.acquired > 0 ? wait_ms.count() / static_cast<double>(s.acquired)
                             : 0.0);
}

bool print_check(const char* name, bool ok, const std::string& detail) {
  std::printf("  %-4s %s: %s\n", ok ? "PASS" : "FAIL", name, detail.c_str());
  return ok;
}

} // namespace demo
