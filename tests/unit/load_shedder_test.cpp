// The manager's load shedding decision as a plain class.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE load_shedder
#include "caf/test/unit_test.hpp"

#include <chrono>

#include "load_shedder.hpp"

using namespace std::chrono_literals;
using pool::load_shedder;

CAF_TEST(shedding starts when every served request waited too long) {
  load_shedder s;
  s.start(50ms, 1s, 0s);
  s.served(100ms, 80ms);
  s.served(200ms, 60ms);
  CAF_CHECK(!s.overloaded()); // decided only when the window ends
  CAF_CHECK(s.roll(1s, std::nullopt));
  CAF_CHECK(s.overloaded());
  // One request served quickly in the next window ends it.
  s.served(1100ms, 90ms);
  s.served(1200ms, 10ms);
  CAF_CHECK(!s.roll(1500ms, std::nullopt)); // window not over yet
  CAF_CHECK(s.roll(2s, std::nullopt));
  CAF_CHECK(!s.overloaded());
}

CAF_TEST(a window with nothing served looks at the oldest waiter) {
  load_shedder s;
  s.start(50ms, 1s, 0s);
  // Nobody was served, but the oldest waiter has waited 900 ms.
  CAF_CHECK(s.roll(1s, caf::timespan{100ms}));
  CAF_CHECK(s.overloaded());
  // Nobody served and nobody waiting: not overloaded.
  CAF_CHECK(s.roll(2s, std::nullopt));
  CAF_CHECK(!s.overloaded());
  // A waiter within the target is no overload either.
  CAF_CHECK(!s.roll(3s, caf::timespan{2980ms}));
  CAF_CHECK(!s.overloaded());
}

CAF_TEST(a target of zero never sheds) {
  load_shedder s;
  s.start(0s, 1s, 0s);
  s.served(100ms, 10s);
  CAF_CHECK(!s.roll(5s, caf::timespan{0s}));
  CAF_CHECK(!s.overloaded());
}
