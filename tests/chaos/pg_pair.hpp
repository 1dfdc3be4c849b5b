#pragma once

// A private primary and its streaming replica for scenarios that break
// their servers (failover kills the primary, replica_down the replica,
// replica_cut cuts its stream), so that they never touch the shared cluster
// of scripts/test. Started with tests/support/pg_pair.sh
// (POOL_PG_PAIR_SCRIPT).

#include <map>
#include <string>

#include "pg_control.hpp"

namespace chaos {

/// A primary and its streaming replica of their own, in a fresh directory
/// /tmp/libpool-<name>.XXXXXX; stopped and deleted by the destructor, and by
/// the pair's guard process if this process dies first (pg_pair.sh start
/// DIR PID).
class pg_pair {
 public:
  /// `name` names the directory (e.g. the scenario). Starts the pair and
  /// waits until both servers run (see `error()`).
  explicit pg_pair(const std::string& name);

  /// Stops both servers and deletes the directory.
  ~pg_pair();

  pg_pair(const pg_pair&) = delete;
  pg_pair& operator=(const pg_pair&) = delete;

  /// "" or why the pair did not start.
  const std::string& error() const { return error_; }

  /// Whether the pair runs. If it does, logs `describe()` (CAF_MESSAGE);
  /// if not, fails the test with `error()` (CAF_ERROR), and the caller
  /// returns.
  bool ready() const;

  /// The pair's directory (its servers' data, logs and pair.env).
  const std::string& dir() const { return dir_; }

  /// A value of DIR/pair.env (PRIMARY_PORT, REPLICA_PORT, ...), or "".
  std::string var(const std::string& key) const;

  /// The control of the primary (`which` = "PRIMARY") or the replica
  /// ("REPLICA"): pg_ctl as the cluster's owner, control queries over the
  /// socket directory.
  pg_control control(const std::string& which) const;

  /// Creates `table` on the primary as the load's `write` workload needs it
  /// (`id bigserial PRIMARY KEY, v int NOT NULL`). Returns whether it did;
  /// if not, fails the test with the server's error (CAF_ERROR).
  bool create_write_table(const std::string& table) const;

  /// The primary's TCP port on 127.0.0.1 (PRIMARY_PORT).
  std::string primary_port() const { return var("PRIMARY_PORT"); }

  /// The replica's TCP port on 127.0.0.1 (REPLICA_PORT).
  std::string replica_port() const { return var("REPLICA_PORT"); }

  /// Conninfo for a chaos pool over TCP to the primary (`which` =
  /// "PRIMARY") or the replica ("REPLICA"): user postgres, database
  /// pooltest, application_name=chaos (pg_control::tcp_conninfo).
  std::string tcp_conninfo(const std::string& which) const;

  /// "pair in DIR: primary P, replica R, started in N ms".
  std::string describe() const;

 private:
  // The constructor's work: mkdtemp, pg_pair.sh start, DIR/pair.env.
  void start();

  std::string name_;
  std::string dir_;
  std::string error_;
  std::map<std::string, std::string> vars_;
  // How long the constructor took, in milliseconds.
  long long start_ms_ = 0;
};

} // namespace chaos
