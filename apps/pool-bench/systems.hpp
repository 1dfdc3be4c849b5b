#pragma once

// One actor system per scheduler mode: the scheduler is fixed when an actor
// system is constructed, so each pool phase runs in a system of its own,
// configured from the same command line.

#include <string>
#include <utility>
#include <vector>

#include "caf/actor_system.hpp"

#include "pool/remote.hpp"

#include "bench_config.hpp"
#include "scheduler_mode.hpp"

namespace bench {

/// Makes actor systems from the command line.
class system_factory {
 public:
  /// `node`: configure every system with pool::configure_node (--remote).
  system_factory(int argc, char** argv, bool node = false)
    : argc_(argc), argv_(argv), node_(node) {
    // nop
  }

  /// Constructs an actor system for `mode` from a config parsed from the
  /// command line, runs `f(sys)` and destroys the system (waiting for its
  /// actors). Returns the error of parsing or of `apply_scheduler` (then
  /// `f` does not run).
  template <class F>
  caf::error run(scheduler_mode mode, F&& f) const {
    bench_config cfg;
    if (node_)
      pool::configure_node(cfg);
    if (auto err = cfg.parse_args(argc_, argv_))
      return err;
    if (auto err = apply_scheduler(cfg, mode))
      return err;
    caf::actor_system sys{cfg};
    f(sys);
    return caf::none;
  }

  /// The modes of `wanted` this build can run; says why for the others in
  /// `notes`.
  static std::vector<scheduler_mode>
  usable(const std::vector<scheduler_mode>& wanted,
         std::vector<std::string>& notes) {
    std::vector<scheduler_mode> out;
    for (auto mode : wanted) {
      bench_config probe;
      if (auto err = apply_scheduler(probe, mode))
        notes.emplace_back(std::string{"scheduler "} + to_string(mode) +
                           ": not run: " + caf::to_string(err));
      else
        out.push_back(mode);
    }
    return out;
  }

 private:
  int argc_;
  char** argv_;
  bool node_;
};

} // namespace bench
