#include "pgbench.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace bench {

namespace {

/// What a child process did.
struct child_run {
  /// Exit status (-1: could not start or was killed).
  int status = -1;
  /// Its stdout and stderr, interleaved.
  std::string output;
  rusage usage{};
  std::string error;
};

/// Runs `args` (args[0] looked up on PATH if it has no '/'), capturing
/// stdout and stderr, and waits for it. No shell: the conninfo is passed as
/// one argument and never printed.
child_run run_child(const std::vector<std::string>& args) {
  child_run out;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    out.error = std::string{"pipe: "} + std::strerror(errno);
    return out;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::vector<char*> argv;
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  auto rc =
    posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    out.error = "cannot run " + args[0] + ": " + std::strerror(rc);
    return out;
  }
  char buf[4096];
  for (;;) {
    auto n = read(fds[0], buf, sizeof(buf));
    if (n > 0)
      out.output.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  close(fds[0]);
  int status = 0;
  while (wait4(pid, &status, 0, &out.usage) < 0 && errno == EINTR) {
    // retry
  }
  if (WIFEXITED(status))
    out.status = WEXITSTATUS(status);
  else
    out.error = args[0] + " was killed by signal " +
                std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return out;
}

/// The number after `key` in `text`, or NaN.
double number_after(const std::string& text, const std::string& key) {
  auto at = text.find(key);
  if (at == std::string::npos)
    return std::nan("");
  return std::strtod(text.c_str() + at + key.size(), nullptr);
}

double seconds_of(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

/// `args` + the conninfo as pgbench's database argument (libpq expands a
/// connection string there; nothing if empty: PG* variables apply).
std::vector<std::string> with_conninfo(std::vector<std::string> args,
                                       const std::string& conninfo) {
  if (!conninfo.empty())
    args.push_back(conninfo);
  return args;
}

bool executable(const std::string& path) {
  return access(path.c_str(), X_OK) == 0;
}

} // namespace

std::string find_pgbench(const std::string& given) {
  if (!given.empty())
    return given;
  if (const char* bin = std::getenv("POOL_TEST_PGBIN"))
    if (executable(std::string{bin} + "/pgbench"))
      return std::string{bin} + "/pgbench";
  if (executable("/usr/lib/postgresql/15/bin/pgbench"))
    return "/usr/lib/postgresql/15/bin/pgbench";
  return "pgbench";
}

std::string pgbench_init(const std::string& pgbench,
                         const std::string& conninfo, size_t scale) {
  auto r = run_child(with_conninfo(
    {pgbench, "-i", "-s", std::to_string(scale), "-q"}, conninfo));
  if (!r.error.empty())
    return r.error;
  if (r.status != 0)
    return "pgbench -i exited with " + std::to_string(r.status) + ":\n" +
           r.output;
  return {};
}

pgbench_result run_pgbench(const std::string& pgbench,
                           const std::string& conninfo, size_t clients,
                           int seconds, const server_cpu_probe& server) {
  pgbench_result res;
  auto threads = clients < 2 ? clients : 2;
  auto before = server.cpu_us();
  auto r = run_child(with_conninfo(
    {pgbench, "-M", "prepared", "-c", std::to_string(clients), "-j",
     std::to_string(threads), "-T", std::to_string(seconds), "-n"},
    conninfo));
  auto after = server.cpu_us();
  if (!r.error.empty()) {
    res.failure = r.error;
    return res;
  }
  res.tps = number_after(r.output, "tps = ");
  auto txns = number_after(r.output, "actually processed: ");
  auto failed = number_after(r.output, "number of failed transactions: ");
  if (r.status != 0 || !std::isfinite(res.tps) || !std::isfinite(txns)) {
    res.failure = "pgbench exited with " + std::to_string(r.status) +
                  (std::isfinite(res.tps) ? "" : ", no 'tps = ' line") + ":\n" +
                  r.output;
    res.tps = 0;
    return res;
  }
  res.transactions = static_cast<uint64_t>(txns);
  res.failed = std::isfinite(failed) ? static_cast<uint64_t>(failed) : 0;
  if (res.transactions > 0) {
    auto n = static_cast<double>(res.transactions);
    auto cpu = seconds_of(r.usage.ru_utime) + seconds_of(r.usage.ru_stime);
    res.cpu_us_per_txn = cpu * 1e6 / n;
    res.ctx_per_txn =
      static_cast<double>(r.usage.ru_nvcsw + r.usage.ru_nivcsw) / n;
    res.server_cpu_us_per_txn =
      before >= 0 && after >= 0 ? (after - before) / n : std::nan("");
  }
  return res;
}

} // namespace bench
