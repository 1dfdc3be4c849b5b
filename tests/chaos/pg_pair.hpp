#pragma once

// A private primary and its streaming replica for scenarios that break
// their servers (failover kills the primary, replica_down the replica), so
// that they never touch the shared cluster of scripts/test. Started with
// tests/support/pg_pair.sh (POOL_PG_PAIR_SCRIPT).

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
  /// `name` names the directory (e.g. the scenario).
  explicit pg_pair(const std::string& name);

  ~pg_pair();

  pg_pair(const pg_pair&) = delete;
  pg_pair& operator=(const pg_pair&) = delete;

  /// "" or why the pair did not start.
  const std::string& error() const { return error_; }

  const std::string& dir() const { return dir_; }

  /// A value of DIR/pair.env (PRIMARY_PORT, REPLICA_PORT, ...), or "".
  std::string var(const std::string& key) const;

  /// The control of the primary (`which` = "PRIMARY") or the replica
  /// ("REPLICA"): pg_ctl as the cluster's owner, control queries over the
  /// socket directory.
  pg_control control(const std::string& which) const;

 private:
  std::string dir_;
  std::string error_;
  std::map<std::string, std::string> vars_;
};

} // namespace chaos
