#include "pg_control.hpp"

#include <cstdlib>
#include <memory>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

extern char** environ;

namespace chaos {

namespace {

std::string getenv_str(const char* name) {
  auto x = std::getenv(name);
  return x != nullptr ? std::string{x} : std::string{};
}

using conn_ptr = std::unique_ptr<PGconn, decltype(&PQfinish)>;

std::string trim(std::string x) {
  while (!x.empty() && (x.back() == '\n' || x.back() == ' '))
    x.pop_back();
  return x;
}

// A control connection to `dsn`, or null (with libpq's reason in `err`).
conn_ptr open_control(const std::string& dsn, std::string& err) {
  conn_ptr c{PQconnectdb((dsn + " application_name=chaos_ctl "
                                "connect_timeout=5")
                           .c_str()),
             PQfinish};
  if (PQstatus(c.get()) != CONNECTION_OK) {
    err = trim(PQerrorMessage(c.get()));
    c.reset();
  }
  return c;
}

} // namespace

std::string pg_env::load() {
  struct {
    const char* name;
    std::string* dst;
  } vars[] = {{"POOL_TEST_DSN", &dsn},           {"POOL_TEST_PGHOST", &host},
              {"POOL_TEST_PGPORT", &port},       {"POOL_TEST_PGDATA", &data},
              {"POOL_TEST_PGBIN", &bin},         {"POOL_TEST_PGLOG", &log},
              {"POOL_TEST_PGUSER_OS", &os_user}, {"POOL_TEST_PGOPTS", &opts}};
  std::string missing;
  for (auto& v : vars) {
    *v.dst = getenv_str(v.name);
    if (v.dst->empty())
      missing += (missing.empty() ? "" : ", ") + std::string{v.name};
  }
  if (missing.empty())
    return {};
  return "chaos: no server to control (not set: " + missing +
         "). The chaos tests stop and restart the PostgreSQL server that "
         "scripts/test (scripts/lib.sh pg_start) starts; run them with "
         "scripts/test, or source scripts/lib.sh and call pg_start first.";
}

int run_command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawn_file_actions_addchdir_np(&fa, "/");
  pid_t pid = 0;
  auto rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int pg_control::pg_ctl(std::vector<std::string> args) {
  std::vector<std::string> argv;
  if (::geteuid() == 0) {
    // pg_ctl refuses to run as root.
    argv = {"runuser", "-u", env_.os_user, "--"};
  }
  argv.push_back(env_.bin + "/pg_ctl");
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

bool pg_control::stop() {
  return pg_ctl({"-D", env_.data, "-m", "fast", "-w", "-t", "30", "stop"}) == 0;
}

bool pg_control::stop_immediate() {
  return pg_ctl(
           {"-D", env_.data, "-m", "immediate", "-w", "-t", "30", "stop"}) == 0;
}

bool pg_control::promote() {
  return pg_ctl({"-D", env_.data, "-w", "-t", "60", "promote"}) == 0;
}

bool pg_control::start() {
  return pg_ctl({"-D", env_.data, "-l", env_.log, "-o", env_.opts, "-w", "-t",
                 "60", "start"}) == 0;
}

bool pg_control::restart_fast() {
  return pg_ctl({"-D", env_.data, "-l", env_.log, "-o", env_.opts, "-m", "fast",
                 "-w", "-t", "60", "restart"}) == 0;
}

bool pg_control::running() {
  // 0: running, 3: not running, 4: no data directory.
  return pg_ctl({"-D", env_.data, "status"}) == 0;
}

bool pg_control::ensure_running() {
  if (running())
    return true;
  return start();
}

std::string pg_control::scalar(const std::string& sql, bool& ok) {
  ok = false;
  auto c = open_control(env_.dsn, last_error_);
  if (!c) {
    return {};
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> r{PQexec(c.get(), sql.c_str()),
                                                  PQclear};
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1 ||
      PQnfields(r.get()) != 1) {
    last_error_ = trim(PQerrorMessage(c.get()));
    if (last_error_.empty())
      last_error_ = "unexpected result shape for: " + sql;
    return {};
  }
  ok = true;
  return PQgetvalue(r.get(), 0, 0);
}

bool pg_control::exec(const std::string& sql) {
  auto c = open_control(env_.dsn, last_error_);
  if (!c) {
    return false;
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> r{PQexec(c.get(), sql.c_str()),
                                                  PQclear};
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    last_error_ = trim(PQerrorMessage(c.get()));
    if (last_error_.empty())
      last_error_ = "unexpected result for: " + sql;
    return false;
  }
  return true;
}

int pg_control::terminate_pool_backends() {
  bool ok = false;
  auto n =
    scalar("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
           "FROM pg_stat_activity WHERE application_name = '" +
             std::string{pool_app_name} + "' AND pid <> pg_backend_pid()",
           ok);
  return ok ? std::atoi(n.c_str()) : -1;
}

std::string pg_control::try_connect(const std::string& conninfo) {
  conn_ptr c{PQconnectdb(conninfo.c_str()), PQfinish};
  if (PQstatus(c.get()) == CONNECTION_OK)
    return {};
  auto msg = trim(PQerrorMessage(c.get()));
  return msg.empty() ? std::string{"connect failed"} : msg;
}

std::string pg_control::pool_conninfo() const {
  return env_.dsn + " application_name=" + pool_app_name;
}

std::string pg_control::tcp_conninfo(const std::string& port,
                                     const std::string& extra) const {
  return "host=127.0.0.1 port=" + port + " dbname=pooltest " + extra +
         " application_name=" + pool_app_name;
}

} // namespace chaos
