#include "breaker_watch.hpp"

#include <sstream>
#include <thread>

#include "caf/all.hpp"

#include "pool/error.hpp"

namespace chaos {

using namespace std::chrono_literals;

struct breaker_watch::shared {
  mutable std::mutex mtx;
  bool answered = false;
  std::string error; // the subscription's error, "" if ok
  std::vector<breaker_record> events;
};

namespace {

caf::behavior subscriber(caf::event_based_actor* self,
                         std::shared_ptr<breaker_watch::shared> sh,
                         pool::pool_actor p) {
  // caf::subscribe_atom: the same type as a pool::subscribe_atom declared
  // with CAF_ADD_ATOM(..., "subscribe").
  self->request(p, caf::timespan{10s}, caf::subscribe_atom::value)
    .then(
      [=](caf::ok_atom) {
        std::lock_guard<std::mutex> guard{sh->mtx};
        sh->answered = true;
      },
      [=](caf::error& err) {
        std::lock_guard<std::mutex> guard{sh->mtx};
        sh->answered = true;
        sh->error = pool::describe(err);
      });
  return {
    [=](pool::breaker_event& ev) {
      std::lock_guard<std::mutex> guard{sh->mtx};
      sh->events.push_back(
        breaker_record{std::chrono::steady_clock::now(), std::move(ev)});
    },
  };
}

} // namespace

breaker_watch::breaker_watch(caf::actor_system& sys, pool::pool_actor pool)
  : shared_(std::make_shared<shared>()) {
  subscriber_ = sys.spawn(subscriber, shared_, std::move(pool));
}

breaker_watch::~breaker_watch() {
  caf::anon_send_exit(subscriber_, caf::exit_reason::user_shutdown);
}

std::string breaker_watch::wait_subscribed(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    {
      std::lock_guard<std::mutex> guard{shared_->mtx};
      if (shared_->answered)
        return shared_->error;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return "no answer to subscribe within " + std::to_string(limit.count()) +
             " ms";
    std::this_thread::sleep_for(10ms);
  }
}

std::vector<breaker_record> breaker_watch::events() const {
  std::lock_guard<std::mutex> guard{shared_->mtx};
  return shared_->events;
}

std::string
breaker_watch::summary(std::chrono::steady_clock::time_point t0) const {
  std::ostringstream out;
  auto evs = events();
  if (evs.empty())
    return "(no breaker events)";
  for (size_t i = 0; i < evs.size(); ++i) {
    auto& e = evs[i];
    if (i > 0)
      out << " -> ";
    out << pool::to_string(e.event.previous) << "=>"
        << pool::to_string(e.event.state) << " @"
        << std::chrono::duration_cast<std::chrono::milliseconds>(e.at - t0)
             .count()
        << "ms";
    if (!e.event.reason.empty())
      out << " (" << e.event.reason << ")";
  }
  return out.str();
}

} // namespace chaos
