#include "pool/health.hpp"

#include "pool/error.hpp"

namespace pool {

health_status health(const caf::expected<pool_stats>& stats) {
  auto bad = [](std::string why) {
    return health_status{false, std::move(why)};
  };
  if (!stats)
    return bad("no stats: " + describe(stats.error()));
  auto& st = *stats;
  if (st.shutting_down)
    return bad("shutting down");
  if (st.paused)
    return bad("paused: no connection is handed out until resume");
  auto last = st.last_connect_error.empty() ? std::string{"none recorded"}
                                            : st.last_connect_error;
  if (st.breaker == breaker_state::open)
    return bad("circuit breaker open; last connect error: " + last);
  if (st.total == st.connecting && !st.last_connect_error.empty())
    return bad("no open connection and connects fail: " + last);
  return {true, {}};
}

} // namespace pool
