#include "client_phase.hpp"

#include <algorithm>
#include <thread>
#include <vector>

#include "caf/all.hpp"

#include "pool/error.hpp"

#include "pool_util.hpp"

namespace bench {

load_result run_client_phase(caf::actor_system& sys, const run_spec& spec,
                             pool::pool_config settings,
                             const std::string& label,
                             caf::timespan reply_timeout,
                             const client_spawner& spawn) {
  load_result res;
  // A remote pool belongs to its node: connect to it, do not start or stop
  // it.
  bool remote = !spec.remote.host.empty();
  auto pool = remote ? connect_remote_pool(sys, spec.remote, spec.pool,
                                           res.pool_connections)
                     : start_pool(sys, std::move(settings));
  if (!pool) {
    res.failure = pool::describe(pool.error());
    return res;
  }
  caf::scoped_actor self{sys};
  std::vector<caf::actor> clients;
  auto done = std::make_shared<std::atomic<uint64_t>>(0);
  auto times = phase_times::from_now(spec.warmup, spec.duration);
  for (size_t i = 0; i < spec.clients; ++i)
    clients.emplace_back(
      spawn(sys, client_args{*pool, caf::actor{self}, times, done, i}));
  std::this_thread::sleep_until(times.start);
  for (auto& c : clients)
    caf::anon_send(c, go_atom::value);
  auto usage = watch_window(label, times, *done, spec.server);
  std::vector<uint64_t> per_client;
  bool late = false;
  for (size_t i = 0; i < spec.clients && !late; ++i)
    self->receive(
      [&](client_samples& s) {
        per_client.push_back(s.hist.count());
        res.hist.merge(s.hist);
        if (res.errors == 0 && s.errors > 0)
          res.first_error = s.first_error;
        res.errors += s.errors;
        res.retryable += s.retryable;
      },
      caf::after(reply_timeout) >> [&] { late = true; });
  print_pool_stats(sys, *pool, ("after " + label).c_str());
  if (auto err = remote ? caf::error{} : stop_pool(sys, *pool))
    res.failure = "shutdown failed: " + pool::describe(err);
  if (late)
    res.failure = "only " + std::to_string(per_client.size()) + " of " +
                  std::to_string(spec.clients) + " clients reported";
  res.finish(usage, spec.duration);
  if (!per_client.empty()) {
    auto [lo, hi] = std::minmax_element(per_client.begin(), per_client.end());
    res.ops_min = *lo;
    res.ops_max = *hi;
  }
  return res;
}

} // namespace bench
