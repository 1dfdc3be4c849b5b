#pragma once

// The batched query path between a client node and a pool node (see
// `connect_pool`): on the client node a relay stands in for the remote pool
// and sends the queries it collects while busy as one message; on the pool
// node a gateway runs them on the pool and sends the answers back batched
// the same way, to the relay's inbox.

#include <cstdint>
#include <memory>

#include "caf/actor.hpp"
#include "caf/fwd.hpp"

#include "pool/protocol.hpp"

namespace pool::detail {

class wire;

/// Spawns, on the pool's node, the gateway of one client node's relay: it
/// runs each query of a `(relay_atom, std::vector<relay_query>)` batch on
/// `pool` and sends the answers as `(relay_atom, std::vector<relay_reply>)`
/// batches to `inbox`. It stops when `inbox` or `pool` goes down. With a
/// wire `acceptor` (from `spawn_wire_acceptor`, listening on `port`) it
/// offers the relay a stream of its own (wire.hpp): `(relay_atom)` answers
/// `(port, token0, token1)`, port 0 when there is no acceptor; batches and
/// answers then travel on that stream.
caf::actor spawn_relay_gateway(caf::actor_system& sys, pool_actor pool,
                               caf::actor inbox, caf::actor acceptor,
                               uint16_t port);

/// Spawns the inbox of a relay, on the client node: the actor the gateway
/// answers to. It forwards each batch of answers to the relay. It is the
/// relay's only part that the pool node knows, so that the relay itself
/// lives only as long as its callers hold it (the middleman keeps every
/// actor that it has named to another node alive until that actor stops).
caf::actor spawn_relay_inbox(caf::actor_system& sys);

/// Spawns the relay of the remote pool `pool`, whose gateway is `gateway`
/// and whose inbox is `inbox` (from `spawn_relay_inbox`), and returns it as
/// the pool's handle. Batches travel on `w` (the gateway's stream, see
/// `wire_connect`) if not null, else through the node link. The relay stops
/// `inbox` when it stops.
pool_actor spawn_relay(caf::actor_system& sys, pool_actor pool,
                       caf::actor gateway, caf::actor inbox,
                       std::shared_ptr<wire> w);

} // namespace pool::detail
