// poolctl: asks a running pool node (poold) about its pools and runs
// statements through them.
//
//   poolctl [--node HOST:PORT] [--pool NAME] [--json] [--timeout DURATION]
//           COMMAND [ARGS]
//
// Exit status: 0 done (health: healthy), 1 a request failed or the pool is
// unhealthy, 2 bad command line.

#include <cstdio>
#include <string>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"

#include "pool/remote.hpp"

#include "commands.hpp"
#include "ctl_options.hpp"

namespace {

void print_help() {
  std::printf(
    "usage: poolctl [--node HOST:PORT] [--pool NAME] [--json] "
    "[--timeout DURATION] COMMAND [ARGS]\n\n"
    "Talks to a running pool node (poold) as a CAF node.\n\ncommands:\n");
  for (auto& c : poolctl::commands()) {
    std::string left = std::string{"  "} + c.name;
    if (*c.args)
      left += std::string{" "} + c.args;
    if (left.size() < 24)
      left.resize(24, ' ');
    std::printf("%s %s\n", left.c_str(), c.summary);
  }
  std::printf(
    "\noptions (before or after the command; -- ends them):\n"
    "  --node HOST:PORT        the pool node (default 127.0.0.1:4270)\n"
    "  --pool NAME             the pool (default: the node's only pool)\n"
    "  --json                  print JSON (pools, stats, health, query)\n"
    "  --timeout DURATION      bound of the whole run, connecting included\n"
    "                          (default 10s; e.g. 500ms, 2s, 1min)\n"
    "  --null TEXT             query: a parameter equal to TEXT is SQL NULL\n"
    "  --read-only             query: mark it read-only (a pool with replicas\n"
    "                          runs it on a serving replica)\n"
    "  --help                  this text\n"
    "\nexit status: 0 done (health: healthy), 1 a request failed, the node\n"
    "is unreachable or the pool is unhealthy, 2 bad command line\n");
}

} // namespace

int main(int argc, char** argv) {
  using namespace poolctl;
  ctl_options opts;
  auto usage = [](const std::string& what) {
    std::fprintf(stderr, "poolctl: %s\n", what.c_str());
    return exit_usage;
  };
  if (auto err = parse_command_line(argc, argv, opts); !err.empty())
    return usage(err);
  if (opts.help) {
    print_help();
    return exit_ok;
  }
  if (opts.command.empty())
    return usage("no command (commands: " + command_names() +
                 "; see poolctl --help)");
  auto cmd = find_command(opts.command);
  if (cmd == nullptr)
    return usage("unknown command '" + opts.command +
                 "' (commands: " + command_names() + ")");
  if (opts.args.size() < cmd->min_args || opts.args.size() > cmd->max_args)
    return usage(std::string{"usage: poolctl [OPTIONS] "} + cmd->name +
                 (*cmd->args ? std::string{" "} + cmd->args : "") + " (got " +
                 std::to_string(opts.args.size()) + " argument" +
                 (opts.args.size() == 1 ? ")" : "s)"));
  // No caf-application.ini and no CAF options: poolctl's command line is
  // its own. Two scheduler threads are plenty for a few requests.
  caf::actor_system_config cfg;
  pool::configure_node(cfg);
  cfg.set("scheduler.max-threads", 2);
  cfg.set("work-stealing.moderate-poll-attempts", 0);
  caf::actor_system sys{cfg};
  ctl_context ctx{sys, opts};
  return cmd->run(ctx);
}
