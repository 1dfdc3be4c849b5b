#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE fixture
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

// The fixture's own promises, checked against a server that misbehaves on
// purpose: if these fail, the other suites' "answered once" checks mean
// nothing.

namespace {

// Answers every `int` twice (through two copies of one promise) and every
// `std::string` not at all.
caf::behavior twice(caf::event_based_actor* self) {
  return {
    [=](int x) {
      auto rp = self->make_response_promise();
      auto copy = rp;
      rp.deliver(x);
      copy.deliver(x + 1);
    },
    [=](const std::string&) {
      // dropped: nobody answers
    },
  };
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(fixture_tests, fixture)

// `ask` (a plain send) sees both answers of a server that answers twice: in
// CAF 0.17.6 the answer to an asynchronous message is an ordinary message.
// `ask_request` sees only the first, because CAF drops the second response
// to a request it no longer waits for: why `ask` uses send.
CAF_TEST(a duplicate answer is counted) {
  auto server = sys.spawn(twice);
  clients.push_back(server);
  auto sent = ask<int>(server, 1);
  auto requested = ask_request<int>(server, 10);
  sched.run();
  CAF_CHECK_EQUAL(sent->answers, 2);
  CAF_CHECK(!sent->ok());
  CAF_CHECK_EQUAL(requested->answers, 1);
  CAF_CHECK_EQUAL(*requested->value, 10);
  // Not a defect of the pool: the counts are reset so that the fixture's
  // end-of-test check (which would flag the 2) passes.
  sent->answers = 1;
}

// An answer of the wrong type is counted as unexpected, not dropped.
CAF_TEST(an answer of the wrong type is counted) {
  auto server = sys.spawn(twice);
  clients.push_back(server);
  auto o = ask<std::string>(server, 5);
  sched.run();
  CAF_CHECK_EQUAL(o->answers, 0);
  CAF_CHECK_EQUAL(o->unexpected, 2);
  CAF_CHECK(!o->ok());
  o->unexpected = 0; // see above
}

// A request nobody answers has no answer: the counters do not invent one.
CAF_TEST(a missing answer is visible) {
  auto server = sys.spawn(twice);
  clients.push_back(server);
  auto o = ask<int>(server, std::string{"x"});
  sched.run();
  advance(1s);
  CAF_CHECK_EQUAL(o->answers, 0);
  CAF_CHECK(!o->ok());
}

// advance_exact fires each timer at its own time, not at a step's end.
CAF_TEST(advance_exact fires timers at their own time) {
  auto t0 = now();
  auto fired = std::make_shared<std::vector<caf::timespan>>();
  auto ticker = sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    self->delayed_send(self, 7ms, caf::ok_atom::value);
    self->delayed_send(self, 13ms, caf::ok_atom::value);
    return {[=](caf::ok_atom) {
      fired->push_back(self->clock().now().time_since_epoch());
    }};
  });
  clients.push_back(ticker);
  advance_exact(20ms);
  std::vector<caf::timespan> want{t0 + 7ms, t0 + 13ms};
  CAF_CHECK_EQUAL(*fired, want);
  CAF_CHECK_EQUAL(now(), t0 + 20ms);
}

CAF_TEST_FIXTURE_SCOPE_END()
