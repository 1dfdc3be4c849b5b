#include "scheduler_mode.hpp"

#include "caf/actor_system_config.hpp"
#include "caf/error.hpp"
#include "caf/sec.hpp"

#include "pool/io_scheduler.hpp"

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
  pool::use_io_scheduler(cfg);
  return caf::none;
}

} // namespace bench
