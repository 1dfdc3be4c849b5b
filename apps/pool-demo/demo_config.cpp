#include "demo_config.hpp"

#include "pool/pool.hpp"

namespace demo {

demo_config::demo_config() {
  opt_group{custom_options_, "global"}
    .add(conninfo, "conninfo", "libpq connection string")
    .add(clients, "clients", "number of client actors (default 32)")
    .add(duration, "duration", "workload duration in seconds (default 3)")
    .add(accounts, "accounts", "accounts used by the transfers (default 16)")
    .add(scheduler, "scheduler",
         "io (libpool's io scheduler, the default) or default (CAF's)")
    .add(remote, "remote",
         "HOST:PORT of a pool node (poold): use its pool over the network")
    .add(remote_pool, "remote-pool",
         "the remote pool's name (default: the node's only pool)")
    .add(progress, "progress",
         "seconds between progress lines while running (0: none; default 1)");
  opt_group{custom_options_, "pool"}
    .add(min_size, "min-size", "connections kept open (default 2)")
    .add(max_size, "max-size", "upper bound on connections (default 8)");
  // The database server shares this machine's cores: a scheduler that spins
  // while idle takes CPU from PostgreSQL (CAF-0.17-NOTES.md §12). The
  // command line can override both.
  set_default("scheduler.max-threads", 2);
  set("work-stealing.moderate-poll-attempts", 0);
  pool::add_message_types(*this);
}

} // namespace demo
