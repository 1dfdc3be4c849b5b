#include "load_shedder.hpp"

#include <algorithm>

namespace pool {

void load_shedder::start(caf::timespan target, caf::timespan interval,
                         caf::timespan now) {
  target_ = target;
  interval_ = interval;
  window_start_ = now;
  served_ = 0;
  overloaded_ = false;
}

void load_shedder::served(caf::timespan now, caf::timespan wait) {
  if (target_.count() == 0)
    return;
  roll(now, std::nullopt);
  min_wait_ = served_ == 0 ? wait : std::min(min_wait_, wait);
  ++served_;
}

bool load_shedder::roll(caf::timespan now,
                        std::optional<caf::timespan> oldest) {
  if (!due(now))
    return false;
  // The window is over: overloaded if every request served in it waited
  // longer than the target (a window with nothing served changes nothing
  // unless requests waited past the target without being served).
  bool was = overloaded_;
  if (served_ > 0)
    overloaded_ = min_wait_ > target_;
  else if (oldest)
    overloaded_ = now - *oldest > target_;
  else
    overloaded_ = false;
  window_start_ = now;
  served_ = 0;
  return was != overloaded_;
}

} // namespace pool
