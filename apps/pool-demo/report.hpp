#pragma once

// Merging the clients' reports and printing them.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "pool/types.hpp"

#include "workload.hpp"

namespace demo {

/// All clients' reports, merged.
struct totals {
  size_t reports = 0;
  std::array<size_t, 5> roles{};
  std::array<kind_tally, num_kinds> kinds;
  uint64_t unanswered = 0;
  uint64_t inserts_acked = 0;
  /// From the first client's start to the last client's finish.
  double wall_seconds = 0;

  uint64_t operations() const;
  uint64_t statements() const;
  uint64_t unexpected() const;
};

totals merge(std::vector<client_report> reports);

/// Prints the per-kind table, throughput, latencies and example errors.
void print_workload(totals& t);

/// Prints every field of `s`.
void print_stats(const pool::pool_stats& s);

/// Prints one check line and returns `ok`.
bool print_check(const char* name, bool ok, const std::string& detail);

} // namespace demo
