#pragma once

// Pools on other CAF nodes: a node publishes its pools by name (a directory
// actor behind CAF's middleman), and a client node connects to one of them
// by host, port and name. The handle it gets is the same `pool_actor`: every
// request of the protocol works remotely unchanged.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"
#include "caf/replies_to.hpp"
#include "caf/timespan.hpp"
#include "caf/typed_actor.hpp"

#include "pool/cluster.hpp"
#include "pool/protocol.hpp"

namespace pool::detail {

/// One request of a batch that a client node's relay sends to its gateway on
/// the pool's node (see `connect_pool`): a query (`stmt`), or a transaction
/// (`txn`, its statements in `stmts`). `key` names it in the answer.
struct relay_query {
  uint64_t key = 0;
  priority prio = priority::normal;
  bool txn = false;
  statement stmt;
  std::vector<statement> stmts;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay_query& x) {
  return f(caf::meta::type_name("pool::relay_query"), x.key, x.prio, x.txn,
           x.stmt, x.stmts);
}

/// The answer to the relayed request `key`: `err` if it failed, else
/// `result` (a query) or `results` (a transaction).
struct relay_reply {
  uint64_t key = 0;
  caf::error err;
  query_result result;
  std::vector<query_result> results;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay_reply& x) {
  return f(caf::meta::type_name("pool::relay_reply"), x.key, x.err, x.result,
           x.results);
}

} // namespace pool::detail

CAF_BEGIN_TYPE_ID_BLOCK(libpool_node, caf::first_custom_type_id + 100)
CAF_ADD_TYPE_ID(libpool_node, (pool::pool_actor))
CAF_ADD_TYPE_ID(libpool_node, (pool::detail::relay_query))
CAF_ADD_TYPE_ID(libpool_node, (std::vector<pool::detail::relay_query>))
CAF_ADD_TYPE_ID(libpool_node, (pool::detail::relay_reply))
CAF_ADD_TYPE_ID(libpool_node, (std::vector<pool::detail::relay_reply>))
CAF_ADD_ATOM(libpool_node, pool, lookup_atom, "lookup")
CAF_ADD_ATOM(libpool_node, pool, list_atom, "list")
CAF_ADD_ATOM(libpool_node, pool, relay_atom, "relay")
CAF_END_TYPE_ID_BLOCK(libpool_node)

namespace pool {

/// The directory of a pool node: the one actor a node publishes on its port.
///
/// - `(lookup_atom, name)` → the pool called `name`. Errors:
///   `invalid_request` naming the unknown pool and the pools the node has.
/// - `(list_atom)` → the names of the node's pools, sorted.
/// - `(relay_atom, name, inbox)` → a new gateway of the pool called `name`
///   for the client node whose relay's inbox is `inbox` (the batched query
///   path of `connect_pool`). Errors: `invalid_request`, as for `lookup`.
/// - `(cluster_atom)` → the node's cluster member (pool/cluster.hpp), which
///   answers `(cluster_atom)` with a `cluster_view`. Errors:
///   `invalid_request` if the node is not in a cluster.
using node_actor = caf::typed_actor<
  caf::replies_to<lookup_atom, std::string>::with<pool_actor>,
  caf::replies_to<list_atom>::with<std::vector<std::string>>,
  caf::replies_to<relay_atom, std::string, caf::actor>::with<caf::actor>,
  caf::replies_to<cluster_atom>::with<caf::actor>>;

/// How a node talks to other nodes.
struct node_options {
  /// Heartbeat period between connected nodes (`middleman.heartbeat-interval`).
  caf::timespan heartbeat_interval = std::chrono::milliseconds(250);
  /// A peer silent for this long is lost: its actors are reported down with
  /// `remote_link_unreachable` (`middleman.connection-timeout`).
  caf::timespan connection_timeout = std::chrono::seconds(1);
  /// Speak TLS to other nodes (CAF's OpenSSL module), with mutual
  /// certificate checks: each side presents `openssl.certificate` (with
  /// `openssl.key`) and accepts only peers whose certificate `openssl.cafile`
  /// (or `openssl.capath`) verifies. A TLS node cannot talk to a plain one.
  /// CAF checks the chain, not the host name.
  bool tls = false;
};

/// Prepares `cfg` for a node that serves or uses remote pools: loads CAF's
/// middleman, registers the pool's message types (`add_message_types`) and
/// sets the heartbeats of `opts`, so that a peer that went silent is noticed
/// within about `opts.connection_timeout` (CAF's default notices a killed
/// peer only when its socket closes, and a frozen one never). Command-line
/// options and configuration files parsed later override the heartbeats.
/// With `opts.tls`, loads CAF's OpenSSL module too: `publish_pools`,
/// `connect_pool` and `list_pools` then use TLS.
void configure_node(caf::actor_system_config& cfg, node_options opts = {});

/// A directory published by `publish_pools`.
struct published_pools {
  /// The directory actor; stop it with an exit message when the node stops.
  node_actor directory;
  /// The port it listens on (the one asked for, or the one chosen for 0).
  uint16_t port = 0;
};

/// Spawns a directory of `pools` (name → pool) and publishes it through
/// CAF's middleman on `address:port` (port 0 picks a free one; address
/// "127.0.0.1" unless the caller wants other interfaces). Each pool whose
/// name is a valid CAF atom (at most 10 characters) is also put in the
/// actor registry under that atom. A plain (non-TLS) node also listens on a
/// second port of `address`, chosen by the kernel, for the relays' own
/// streams (see `connect_pool`); a stream is closed unless it first presents
/// a token that its gateway handed out over the node link, within two
/// seconds. Blocking: call it from `main` or a
/// thread, not from an actor's handler. `cluster`, if given, is the node's
/// cluster member (`spawn_cluster_member`): the directory hands it to the
/// nodes and tools that ask (`cluster_atom`). Errors: `invalid_config` (no
/// pools, an empty name), or CAF's error when the port cannot be opened.
caf::expected<published_pools>
publish_pools(caf::actor_system& sys, std::map<std::string, pool_actor> pools,
              uint16_t port, const std::string& address = "127.0.0.1",
              caf::actor cluster = {});

/// Connects to the pool node at `host:port` and returns its pool called
/// `name`, all within `timeout`. The handle is a local relay: it batches the
/// queries and transactions (`query_atom`, `transaction_atom`) that its
/// callers send while it is busy into one network message per batch, and the
/// pool node's gateway batches their answers the same way, so that a query
/// costs a fraction of a network message. On a plain node the batches travel
/// on a TCP stream of the relay's own to the node's stream port (written by
/// the sending actor, read where readiness wakes the receiver: no middleman
/// thread); on a TLS node, or when that port cannot be reached within a
/// second, through the node link. Every other request goes to the pool
/// unchanged, with its sender (a lease is held by the actor that asked for it).
/// When the pool or its node is lost, the relay answers the queries it holds
/// with `pool_down` and stops with the same exit reason. Drop the handle (or
/// send it an exit message) before the actor system is destroyed: the system
/// waits for it. Blocking: call it from `main`, a thread or a detached actor,
/// never from an event-based actor's handler. Errors: `pool_down` (no node
/// there, or it did not answer within `timeout`; the message says which),
/// `invalid_request` (the node has no pool `name`; the message lists the ones
/// it has). The system must have been configured with `configure_node`.
caf::expected<pool_actor>
connect_pool(caf::actor_system& sys, const std::string& host, uint16_t port,
             const std::string& name,
             caf::timespan timeout = std::chrono::seconds(5));

/// The address of one pool node: its host and the port `publish_pools`
/// listens on.
struct node_address {
  std::string host;
  uint16_t port = 0;
};

/// Connects to the pool called `name` on the first of `nodes` that serves
/// it (in the order given: put the nearest first; each node gets a fair part
/// of `timeout`) and returns a local handle that fails over. It passes every
/// request to the relay of its current node (the single-node `connect_pool`
/// above): queries, transactions and acquires are delegated (one local
/// hop; the pool sees the caller as the lease's holder); every other
/// request (stats, release, stream, the operating requests) it sends itself
/// and holds until answered. Listen, unlisten and subscribe it serves
/// itself: it listens on the node once per channel (answering `ok` once the
/// node runs LISTEN, or the node's error) and passes every `notification`
/// on to the actors that listened through it; it subscribes to the node's
/// breaker once (answering `ok` once the node has) and passes every
/// `breaker_event` on to the actors that subscribed through it. When
/// the node is lost (killed, silent for the node's connection timeout) or
/// its pool stops, it connects to the next node of the list that serves the
/// pool, on a helper thread, with no action by the caller (round robin from
/// the lost node; nodes that failed within the last second are tried last;
/// every node is tried before giving up). What was pending on the lost node
/// fails: queries and transactions with `pool_down` (the relay answers
/// them; one that reaches the relay as it stops gets CAF's
/// `request_receiver_down`, which `pool::client` reports as
/// `shutting_down`), the requests it holds (listen and subscribe included)
/// with `pool_down`, and an acquire only by the caller's own deadline. A lease
/// on the lost node is over: its worker is reported down to a monitor, a query
/// sent to it through `pool::client` fails with `connection_lost` (sent without
/// the client, CAF drops it: no answer before the caller's deadline). Listeners
/// keep listening: the handle listens to their channels on the next node and
/// then sends each a `notifications_missed` (`listening` true; false with the
/// reason if that node refused the LISTEN). Subscribers keep receiving breaker
/// events: the handle subscribes on the next node, whose breaker sends them
/// from then on (a transition in between is not replayed; the new node's
/// current state is in its `pool_stats::breaker`). Requests that arrive while
/// no node is connected wait, at most `timeout` each and at most 10,000 of
/// them, and fail with `pool_down` naming every node tried and why when
/// their time passes or every node failed (a pass that found no node is not
/// repeated within a second). Each request that the handle holds or keeps
/// waiting is answered exactly once. The handle stops when its last
/// reference is dropped and nothing it holds waits for an answer, or at
/// once on an exit message (which answers what it holds with `pool_down`);
/// either way it stops its relay, and the node stops listening for it (the
/// node never sees the handle itself, only a helper actor that stops with
/// it).
/// Blocking: call it from `main`, a thread or a detached actor. Errors:
/// `invalid_request` (an empty list; or no node reached serves `name` and
/// one said it has no such pool), `pool_down` (no node reachable within
/// `timeout`). Both messages name each node and why, e.g. "no node of the
/// cluster serves 'orders': 10.0.0.1:4270: cannot reach ...; 10.0.0.2:4270:
/// ...". The system must have been configured with `configure_node`.
caf::expected<pool_actor>
connect_pool(caf::actor_system& sys, const std::vector<node_address>& nodes,
             const std::string& name,
             caf::timespan timeout = std::chrono::seconds(5));

/// Returns the names of the pools that the node at `host:port` serves.
/// Blocking, like `connect_pool`, with the same errors.
caf::expected<std::vector<std::string>>
list_pools(caf::actor_system& sys, const std::string& host, uint16_t port,
           caf::timespan timeout = std::chrono::seconds(5));

} // namespace pool
