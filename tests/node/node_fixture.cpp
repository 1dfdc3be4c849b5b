#include "node_fixture.hpp"

#include "caf/test/unit_test.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "ini.hpp"

namespace node_test {

std::string test_dsn() {
  auto v = std::getenv("POOL_TEST_DSN");
  return v != nullptr ? std::string{v} : std::string{};
}

std::string poold_path() {
  return POOL_NODE_POOLD;
}

std::string lease_holder_path() {
  return POOL_NODE_LEASE_HOLDER;
}

poold_node::poold_node() = default;

void poold_node::write_config(const std::string& reports) {
  std::ofstream out{config_file()};
  out << "[node]\nport=0\n"
      << "[http]\nport=0\n"
      << "[log]\nlevel=\"debug\"\n"
      << "[poold]\nshutdown-deadline=5s\nport-file="
      << app::ini_quote(dir() + "/port")
      << "\nhttp-port-file=" << app::ini_quote(dir() + "/http-port") << "\n"
      << "[pools.orders]\nconninfo=" << app::ini_quote(test_dsn())
      << "\nmin-size=2\nmax-size=4\nacquire-timeout=5s\n"
      << "[pools.reports]\nconninfo=" << app::ini_quote(test_dsn()) << "\n"
      << (reports.empty() ? "min-size=0\nmax-size=3\n" : reports) << more_pools;
}

std::string poold_node::start(const std::vector<std::string>& extra) {
  if (test_dsn().empty())
    return "POOL_TEST_DSN is not set (scripts/test sets it)";
  write_config();
  // A restart must not read the port file of the previous run.
  std::remove((dir() + "/port").c_str());
  std::vector<std::string> argv{poold_path(), "--config-file=" + config_file()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  if (auto err = proc_.start(argv, dir() + "/stdout", dir() + "/stderr");
      !err.empty())
    return err;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto text = read_file(dir() + "/port");
    if (!text.empty() && text.back() == '\n') {
      port_ = static_cast<uint16_t>(std::stoi(text));
      return {};
    }
    if (proc_.wait(std::chrono::milliseconds{20}) >= 0)
      return "poold exited at start: " + log();
  }
  return "poold did not write its port file within 20 s: " + log();
}

int poold_node::stop(std::chrono::milliseconds limit) {
  proc_.signal(SIGTERM);
  return proc_.wait(limit);
}

void poold_node::kill9() {
  proc_.signal(SIGKILL);
  proc_.wait(std::chrono::seconds(10));
}

std::string poold_node::log() const {
  return read_file(dir() + "/stderr");
}

pool::pool_actor client_fixture::connect(const std::string& name) {
  auto p = pool::connect_pool(sys, "127.0.0.1", node.port(), name);
  if (!p)
    CAF_FAIL("connect_pool " << name << ": " << pool::describe(p.error()));
  return *p;
}

client_fixture::~client_fixture() {
  if (!node.proc().running())
    return;
  auto rc = node.stop();
  if (rc != 0)
    CAF_ERROR("poold exit code " << rc << "; log:\n" << node.log());
}

std::pair<int, std::string> run_poold(const std::vector<std::string>& args) {
  temp_dir tmp;
  auto& dir = tmp.path();
  process p;
  std::vector<std::string> argv{poold_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (auto err = p.start(argv, dir + "/stdout", dir + "/stderr"); !err.empty())
    return {-1, err};
  auto rc = p.wait(std::chrono::seconds(20));
  return {rc, read_file(dir + "/stderr") + read_file(dir + "/stdout")};
}

} // namespace node_test
