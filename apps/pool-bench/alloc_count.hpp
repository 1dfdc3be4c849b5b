#pragma once

// Counts heap allocations of the whole process: every global `operator new`
// (all variants, overridden in alloc_count.cpp) and, unless built with a
// sanitizer (which brings its own allocator), every malloc/calloc/realloc
// call as well — libpq allocates with malloc, not with `operator new`.
// Counting costs one relaxed atomic increment per allocation.

#include <cstdint>

namespace bench {

struct alloc_counts {
  /// Calls of a global `operator new` (C++ allocations).
  uint64_t news = 0;
  /// Calls of malloc, calloc and realloc (C and C++ allocations; zero when
  /// `mallocs_counted()` is false).
  uint64_t mallocs = 0;
};

/// The counts since the process started.
alloc_counts current_alloc_counts();

/// Whether malloc calls are counted (false in sanitizer builds).
bool mallocs_counted();

} // namespace bench
