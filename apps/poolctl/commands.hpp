#pragma once

// poolctl's commands: one entry each in one table, one function each.
// Adding a command (e.g. once the pool answers a new operator request) is a
// function and a table row.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/timespan.hpp"

#include "pool/protocol.hpp"

#include "ctl_options.hpp"

namespace poolctl {

/// poolctl's exit codes.
enum exit_code : int {
  /// The command did what it was asked (`health`: the pool is healthy).
  exit_ok = 0,
  /// A request failed, the node was unreachable, or the pool is unhealthy.
  exit_failed = 1,
  /// Bad command line.
  exit_usage = 2,
};

/// A pool found on the node.
struct target_pool {
  std::string name;
  pool::pool_actor actor;
};

/// What a command works with: the actor system, the options, and the
/// deadline of the whole run (--timeout from the start).
class ctl_context {
 public:
  ctl_context(caf::actor_system& sys, const ctl_options& opts);

  caf::actor_system& sys() { return sys_; }
  const ctl_options& opts() const { return opts_; }

  /// The time left until the deadline (at least 1 ms).
  caf::timespan remaining() const;

  /// The names of the node's pools; on error, says so on stderr and sets
  /// `rc` to the exit code.
  caf::expected<std::vector<std::string>> list(int& rc);

  /// The pool of --pool, or the node's only pool; on error, says so on
  /// stderr (listing the node's pools when --pool is needed) and sets `rc`.
  caf::expected<target_pool> connect(int& rc);

  /// Prints "poolctl: WHAT" on stderr and returns `rc`.
  int fail(const std::string& what, int rc = exit_failed) const;

  /// Prints "poolctl: CONTEXT: <describe(err)>" on stderr; `exit_failed`.
  int fail(const std::string& context, const caf::error& err) const;

  /// Prints `text` and a newline on stdout; returns `exit_ok`.
  int print(const std::string& text) const;

 private:
  caf::error node_error(const caf::error& err, int& rc) const;
  caf::actor_system& sys_;
  const ctl_options& opts_;
  std::chrono::steady_clock::time_point deadline_;
};

/// One command of poolctl.
struct command {
  /// The word on the command line.
  const char* name;
  /// Its arguments, for --help ("SQL [PARAM...]").
  const char* args;
  /// What it does, for --help.
  const char* summary;
  /// How many arguments it takes.
  size_t min_args;
  size_t max_args;
  /// Runs it; returns the exit code.
  int (*run)(ctl_context&);
};

/// Every command, in --help order.
const std::vector<command>& commands();

/// The command called `name`, or nullptr.
const command* find_command(const std::string& name);

/// "pools, stats, ...".
std::string command_names();

// The commands (commands.cpp: pools, stats, health, query; ops.cpp: the
// operator requests).
int run_pools(ctl_context& ctx);
int run_stats(ctl_context& ctx);
int run_health(ctl_context& ctx);
int run_query(ctl_context& ctx);
int run_resize(ctl_context& ctx);
int run_pause(ctl_context& ctx);
int run_resume(ctl_context& ctx);
int run_reset(ctl_context& ctx);
int run_cluster(ctl_context& ctx);

} // namespace poolctl
