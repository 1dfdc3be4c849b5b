#pragma once

// The cluster member's state and the pieces its two files share:
// cluster.cpp (membership: dialling, hellos, losses, the leader, applying a
// plan) and cluster_leader.cpp (the leader's round: reports, the server's
// counts, the plan).

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/logger.h>

#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/stateful_actor.hpp"

#include "pool/cluster.hpp"

namespace pool::detail {

/// Member → member: `(report_atom)` → `std::vector<cluster_share>`: for each
/// of its clustered pools, the connections it may hold (`limit`, applied)
/// and holds (`open`, its own count, its watch connection included).
using report_atom = caf::atom_constant<caf::atom("cl_report")>;
/// Leader → member: `(plan_atom, leader, shares)`: the leader's plan; the
/// member applies its own shares and keeps the plan for its view.
using plan_atom = caf::atom_constant<caf::atom("cl_plan")>;
/// Member → itself: dial lost peers; the leader plans.
using round_atom = caf::atom_constant<caf::atom("cl_round")>;

/// Another node, configured (`address`) or joined (it dialled this one).
struct cluster_peer {
  /// "host:port" of its directory; "" if it joined without being configured.
  std::string address;
  /// Its name, once a hello told it.
  std::string name;
  /// Its member while live.
  caf::actor member;
  bool live = false;
  /// A dial is under way.
  bool dialing = false;
  /// Why it is not live.
  std::string reason = "not reached yet";
};

struct member_state {
  static const char* name;
  cluster_config cfg;
  std::shared_ptr<spdlog::logger> log;
  std::vector<cluster_peer> peers;
  /// Per clustered pool (in `cfg.pools` order): what this node may hold, as
  /// last applied (0 until the first plan).
  std::vector<uint32_t> allowance;
  /// The leader this member follows (the smallest live name, its own
  /// included).
  std::string leader;
  /// The leader's last plan, and how many arrived.
  std::vector<cluster_share> plan;
  uint64_t plans = 0;
  /// A leader round is under way (cluster_leader.cpp).
  bool planning = false;
};

using member_ptr = caf::stateful_actor<member_state>*;

/// The live members, this one included: name → actor.
std::vector<std::pair<std::string, caf::actor>> live_members(member_ptr self);

/// The request timeout of the member's own requests: twice the interval, at
/// least half a second.
caf::timespan member_timeout(const cluster_config& cfg);

/// Starts a leader round unless one is under way: asks every live member for
/// its report and the server for its counts (through each pool's watch),
/// then sends every live member the plan (cluster_leader.cpp).
void plan_round(member_ptr self);

/// The SQL that counts the cluster's connections on the server: rows of
/// (application_name, count, max_connections); one row with an empty name
/// carries max_connections alone.
const char* count_sql();

} // namespace pool::detail
