#include "proc_stat.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

namespace bench {

namespace {

/// What /proc/<pid>/stat says about one process.
struct proc_entry {
  int ppid = 0;
  /// utime + stime + cutime + cstime, in clock ticks.
  uint64_t ticks = 0;
};

/// Reads /proc/<pid>/stat; false if the process is gone or unreadable.
bool read_stat(int pid, proc_entry& out) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  std::ifstream in{path};
  std::string line;
  if (!std::getline(in, line))
    return false;
  // The name (field 2) is in parentheses and may contain anything: the
  // fields after the last ')' are state, ppid, ... (fields 3 ...).
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return false;
  // Fields 3..17: state ppid pgrp session tty_nr tpgid flags minflt cminflt
  // majflt cmajflt utime stime cutime cstime.
  std::istringstream fields{line.substr(close + 1)};
  std::string state;
  int ppid = 0;
  long long skip = 0; // tpgid may be -1
  unsigned long long t[4] = {};
  fields >> state >> ppid;
  for (int i = 0; i < 9; ++i)
    fields >> skip;
  fields >> t[0] >> t[1] >> t[2] >> t[3];
  if (!fields)
    return false;
  out.ppid = ppid;
  out.ticks = t[0] + t[1] + t[2] + t[3];
  return true;
}

bool named_postgres(int pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/comm", pid);
  std::ifstream in{path};
  std::string name;
  return std::getline(in, name) && name == "postgres";
}

/// Calls `f(pid)` for every process in /proc.
template <class F>
void for_each_pid(F f) {
  auto* dir = opendir("/proc");
  if (dir == nullptr)
    return;
  while (auto* e = readdir(dir)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0])))
      continue;
    f(std::atoi(e->d_name));
  }
  closedir(dir);
}

double ticks_to_us(uint64_t ticks) {
  static const long hz = sysconf(_SC_CLK_TCK);
  return static_cast<double>(ticks) * 1e6 / static_cast<double>(hz);
}

} // namespace

uint64_t context_switches() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_nvcsw) +
         static_cast<uint64_t>(ru.ru_nivcsw);
}

int server_cpu_probe::postmaster_pid() const {
  if (pgdata_.empty())
    return 0;
  std::ifstream in{pgdata_ + "/postmaster.pid"};
  int pid = 0;
  if (!(in >> pid) || pid <= 0)
    return 0;
  proc_entry e;
  return read_stat(pid, e) ? pid : 0;
}

double server_cpu_probe::cpu_us() const {
  uint64_t ticks = 0;
  bool found = false;
  proc_entry e;
  if (auto pm = postmaster_pid(); pm != 0) {
    for_each_pid([&](int pid) {
      if (read_stat(pid, e) && (pid == pm || e.ppid == pm)) {
        ticks += e.ticks;
        found = true;
      }
    });
  } else {
    for_each_pid([&](int pid) {
      if (named_postgres(pid) && read_stat(pid, e)) {
        ticks += e.ticks;
        found = true;
      }
    });
  }
  return found ? ticks_to_us(ticks) : -1;
}

std::string server_cpu_probe::describe() const {
  if (auto pm = postmaster_pid(); pm != 0)
    return "the postmaster (pid " + std::to_string(pm) + ", from " + pgdata_ +
           "/postmaster.pid) and its children";
  std::string why = pgdata_.empty() ? "no --pgdata / POOL_TEST_PGDATA"
                                    : "cannot read a live pid from " + pgdata_ +
                                        "/postmaster.pid";
  return "every process named 'postgres' on this machine (" + why +
         "): other PostgreSQL servers here count too";
}

} // namespace bench
