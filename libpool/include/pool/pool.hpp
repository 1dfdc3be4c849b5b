#pragma once

#include "caf/actor_system_config.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

#include "pool/config.hpp"
#include "pool/error.hpp"
#include "pool/protocol.hpp"

namespace pool {

/// Registers the pool's message types and its error category with `cfg`.
/// Call it once per actor system before constructing it — on every node that
/// talks to a pool.
void add_message_types(caf::actor_system_config& cfg);

/// Validates `cfg` and spawns a pool in `sys`: the manager actor, which opens
/// `min_size` connections at once and more on demand. Returns the pool's
/// handle, or `invalid_config` naming the field (and spawns nothing).
/// Stop it with `(shutdown_atom, deadline)`; the actor system waits for it.
caf::expected<pool_actor> spawn_pool(caf::actor_system& sys, pool_config cfg);

} // namespace pool
