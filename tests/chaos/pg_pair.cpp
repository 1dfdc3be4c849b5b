#include "pg_pair.hpp"

#include <chrono>
#include <fstream>
#include <vector>

#include <unistd.h>

#include "caf/test/unit_test.hpp"

#ifndef POOL_PG_PAIR_SCRIPT
#error "POOL_PG_PAIR_SCRIPT must name tests/support/pg_pair.sh"
#endif

namespace chaos {

pg_pair::pg_pair(const std::string& name) : name_(name) {
  auto t0 = std::chrono::steady_clock::now();
  start();
  start_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
}

void pg_pair::start() {
  auto path = "/tmp/libpool-" + name_ + ".XXXXXX";
  std::vector<char> tmpl(path.begin(), path.end());
  tmpl.push_back('\0');
  if (::mkdtemp(tmpl.data()) == nullptr) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl.data();
  auto rc = run_command(
    {"bash", POOL_PG_PAIR_SCRIPT, "start", dir_, std::to_string(::getpid())});
  if (rc != 0) {
    error_ = "pg_pair.sh start " + dir_ + " failed (exit " +
             std::to_string(rc) + "; its log is on stderr)";
    return;
  }
  std::ifstream in{dir_ + "/pair.env"};
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos)
      vars_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  for (auto key :
       {"PRIMARY_PORT", "PRIMARY_PGDATA", "PRIMARY_LOG", "PRIMARY_OPTS",
        "REPLICA_PORT", "REPLICA_PGDATA", "REPLICA_LOG", "REPLICA_OPTS",
        "PGBIN", "PGUSER_OS", "SOCKET_DIR"})
    if (vars_[key].empty())
      error_ += std::string{error_.empty() ? "" : ", "} + key + " missing in " +
                dir_ + "/pair.env";
}

pg_pair::~pg_pair() {
  if (!dir_.empty())
    run_command({"bash", POOL_PG_PAIR_SCRIPT, "stop", dir_});
}

std::string pg_pair::var(const std::string& key) const {
  auto i = vars_.find(key);
  return i != vars_.end() ? i->second : std::string{};
}

pg_control pg_pair::control(const std::string& which) const {
  pg_env env;
  env.host = var("SOCKET_DIR");
  env.port = var(which + "_PORT");
  env.dsn =
    "host=" + env.host + " port=" + env.port + " user=postgres dbname=pooltest";
  env.data = var(which + "_PGDATA");
  env.bin = var("PGBIN");
  env.log = var(which + "_LOG");
  env.os_user = var("PGUSER_OS");
  env.opts = var(which + "_OPTS");
  return pg_control{env};
}

std::string pg_pair::tcp_conninfo(const std::string& which) const {
  return control(which).tcp_conninfo(var(which + "_PORT"));
}

std::string pg_pair::describe() const {
  return "pair in " + dir_ + ": primary " + primary_port() + ", replica " +
         replica_port() + ", started in " + std::to_string(start_ms_) + " ms";
}

bool pg_pair::create_write_table(const std::string& table) const {
  auto primary = control("PRIMARY");
  bool ok = false;
  primary.scalar("CREATE TABLE " + table +
                   " (id bigserial PRIMARY KEY, v int NOT NULL); SELECT 1",
                 ok);
  if (!ok)
    CAF_ERROR("CREATE TABLE on the primary: " << primary.last_error());
  return ok;
}

bool pg_pair::ready() const {
  if (!error_.empty()) {
    CAF_ERROR("the " << name_ << " pair did not start: " << error_);
    return false;
  }
  CAF_MESSAGE(describe());
  return true;
}

} // namespace chaos
