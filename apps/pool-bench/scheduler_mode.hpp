#pragma once

// The scheduler modes of the pool phases: libpool's io scheduler (CAF
// workers wait for socket readiness themselves) or CAF's default scheduler
// with libpool's poller thread. The scheduler is fixed per actor system, so
// each mode runs in an actor system of its own.

#include <string>
#include <vector>

#include "caf/fwd.hpp"

namespace bench {

enum class scheduler_mode {
  /// libpool's io scheduler (`pool::use_io_scheduler`).
  io,
  /// CAF's default scheduler; the pool uses its poller thread.
  standard,
};

/// "io" or "default".
const char* to_string(scheduler_mode mode);

/// Parses `--scheduler`: "io", "default" or "both" (io, then default).
/// On bad input, returns nothing and says why in `error`.
std::vector<scheduler_mode> parse_scheduler_modes(const std::string& text,
                                                  std::string& error);

/// Configures `cfg` (before its actor system is constructed) for `mode`:
/// `io` loads libpool's io scheduler. Returns an error if it cannot.
caf::error apply_scheduler(caf::actor_system_config& cfg, scheduler_mode mode);

} // namespace bench
