#pragma once

// Internals shared by the client roles (workload.cpp, session.cpp).

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/stateful_actor.hpp"

#include "pool/client.hpp"

#include "workload.hpp"

namespace demo::detail {

using clock = std::chrono::steady_clock;
using pace_atom = caf::atom_constant<caf::atom("pace")>;

/// Every request carries a deadline, kept by the client (`pool::client`).
constexpr auto request_timeout = std::chrono::seconds(5);
/// How long `acquire` may wait for a connection.
constexpr auto acquire_wait = std::chrono::seconds(2);
/// The deliberately failing clients pause between attempts.
constexpr auto failing_pace = std::chrono::milliseconds(20);

struct client_state {
  client_params p;
  /// Sends every request of this client with its deadline.
  pool::client db;
  client_report rep;
  std::minstd_rand rng;
  clock::time_point deadline;
  uint64_t seq = 0;
  bool insert_failed = false;
};

using client_actor = caf::stateful_actor<client_state>;

kind_tally& tally(client_actor* self, op_kind k);

/// Each of these records one finished operation (its outcome and latency)
/// and starts the client's next operation.
void succeed(client_actor* self, op_kind k, clock::time_point start);
void fail(client_actor* self, op_kind k, clock::time_point start,
          const caf::error& err, bool expected = false);
/// An answer arrived but says something wrong.
void mismatch(client_actor* self, op_kind k, clock::time_point start,
              const std::string& what);

/// role::session: lease a connection, run a multi-statement session on it,
/// check that the session state held, release.
void run_session(client_actor* self);

} // namespace demo::detail
