#include "scheduler_mode.hpp"

#include "caf/actor_system_config.hpp"
#include "caf/error.hpp"
#include "caf/sec.hpp"

// io-scheduler hook: pool/io_scheduler.hpp (`pool::use_io_scheduler`) is
// used as soon as the build has it; until then, io mode reports itself as
// unavailable.
#if __has_include("pool/io_scheduler.hpp")
#include "pool/io_scheduler.hpp"
#define POOL_BENCH_HAVE_IO_SCHEDULER 1
#else
#define POOL_BENCH_HAVE_IO_SCHEDULER 0
#endif

namespace bench {

const char* to_string(scheduler_mode mode) {
  return mode == scheduler_mode::io ? "io" : "default";
}

std::vector<scheduler_mode> parse_scheduler_modes(const std::string& text,
                                                  std::string& error) {
  if (text == "io")
    return {scheduler_mode::io};
  if (text == "default")
    return {scheduler_mode::standard};
  if (text == "both")
    return {scheduler_mode::io, scheduler_mode::standard};
  error = "bad --scheduler '" + text + "' (want io, default or both)";
  return {};
}

caf::error apply_scheduler(caf::actor_system_config& cfg, scheduler_mode mode) {
  if (mode == scheduler_mode::standard)
    return caf::none;
    // io-scheduler hook
#if POOL_BENCH_HAVE_IO_SCHEDULER
  pool::use_io_scheduler(cfg);
  return caf::none;
#else
  static_cast<void>(cfg);
  return caf::make_error(caf::sec::runtime_error,
                         "io scheduler not available in this build");
#endif
}

} // namespace bench
