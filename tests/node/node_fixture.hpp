#pragma once

// The fixture of the multi-process tests: a poold child process serving two
// pools ("orders" and "reports") of the PostgreSQL server that scripts/test
// started (POOL_TEST_DSN), and a client actor system in the test process
// configured as a CAF node (pool::configure_node).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "caf/all.hpp"

#include "live_support.hpp"
#include "pool/all.hpp"
#include "pool/remote.hpp"
#include "process.hpp"

namespace node_test {

/// The test process's node: live_config (scheduler, pool types) plus the
/// middleman with libpool's heartbeats.
struct node_config : pool_test::live_config {
  node_config() { pool::configure_node(*this); }
};

/// The conninfo of the test server ("" when POOL_TEST_DSN is not set).
std::string test_dsn();

/// A poold child process.
class poold_node {
 public:
  poold_node();

  /// Writes the configuration file (pools orders: min 2, max 4; reports:
  /// min 0, max 3; node port 0) and starts poold with `extra` arguments;
  /// waits for its port file. Returns "" or what went wrong (with poold's
  /// stderr).
  std::string start(const std::vector<std::string>& extra = {});

  /// Writes the configuration file; `reports` replaces the settings of the
  /// pool "reports" after its conninfo (default: min 0, max 3).
  void write_config(const std::string& reports = "");

  /// INI sections that `write_config` appends (more pools); "" by default.
  std::string more_pools;

  /// The port poold listens on.
  uint16_t port() const { return port_; }

  /// SIGTERM, then waits at most `limit`: poold's exit code, or -1.
  int stop(std::chrono::milliseconds limit = std::chrono::seconds(30));

  /// SIGKILL, reaped.
  void kill9();

  /// poold's stderr so far (its log).
  std::string log() const;

  /// The directory of this node's files.
  const std::string& dir() const { return dir_.path(); }

  /// The path of the configuration file `start` writes.
  std::string config_file() const { return dir() + "/poold.ini"; }

  process& proc() { return proc_; }

 private:
  temp_dir dir_; // before proc_: poold stops before its files go
  process proc_;
  uint16_t port_ = 0;
};

/// The common fixture of the suites: a poold child (not started) and this
/// process's client node.
struct client_fixture {
  poold_node node;
  node_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  /// Connects to the pool `name` of `node`; fails the test if it cannot.
  pool::pool_actor connect(const std::string& name);

  /// Stops poold if it still runs; its exit code must be 0.
  ~client_fixture();
};

/// Runs poold with `args` only (no config file unless given) and returns its
/// exit code (-1 if it did not exit within 20 s) and stderr.
std::pair<int, std::string> run_poold(const std::vector<std::string>& args);

/// The path of the poold binary under test.
std::string poold_path();

/// The path of the lease_holder helper program.
std::string lease_holder_path();

} // namespace node_test
