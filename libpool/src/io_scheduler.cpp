#include "io_scheduler.hpp"

#include <algorithm>
#include <chrono>

#include <sys/epoll.h>
#include <unistd.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/scheduler/coordinator.hpp"

namespace pool {

namespace {

using io_coordinator = caf::scheduler::coordinator<io_policy>;

// Event data 0 is a set's eventfd; socket keys are never 0.
constexpr uint64_t signal_key = 0;

int to_ms(caf::timespan t) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(t).count();
  return static_cast<int>(std::clamp<decltype(ms)>(ms, 1, 60'000));
}

} // namespace

// -- io_hub -------------------------------------------------------------------

io_hub::~io_hub() {
  for (auto& s : sets_)
    s.close();
}

size_t io_hub::add_set() {
  sets_.push_back(epoll_set::make());
  return sets_.size() - 1;
}

uint64_t io_hub::add(int fd, waker w) {
  if (sets_.empty())
    return 0;
  auto i = next_.fetch_add(1, std::memory_order_relaxed) % sets_.size();
  return table_.add(fd, sets_[i].epoll_fd, std::move(w));
}

void io_hub::arm(uint64_t key, bool read, bool write) {
  table_.arm(key, read, write);
}

void io_hub::remove(uint64_t key) {
  table_.remove(key);
}

void io_hub::signal(size_t set) {
  sets_[set].signal();
}

size_t io_hub::harvest(size_t set, int timeout_ms, caf::execution_unit* host) {
  constexpr int max_events = 32;
  epoll_event events[max_events];
  auto& s = sets_[set];
  int n = epoll_wait(s.epoll_fd, events, max_events, timeout_ms);
  size_t woke = 0;
  waker w;
  for (int i = 0; i < n; ++i) {
    auto key = events[i].data.u64;
    if (key == signal_key) {
      s.drain();
      continue;
    }
    if (table_.find(key, w)) {
      w.wake(host);
      ++woke;
    }
  }
  return woke;
}

// -- io_policy ----------------------------------------------------------------

io_policy::worker_data::worker_data(caf::scheduler::abstract_coordinator* p)
  : base::worker_data(p), hub(static_cast<io_coordinator*>(p)->data().hub),
    park_ms(to_ms(hub->options().park_timeout)) {
  // nop
}

io_policy::worker_data::worker_data(const worker_data& other)
  : base::worker_data(other), hub(other.hub), set(hub->add_set()),
    park_ms(other.park_ms) {
  // nop
}

// -- public API ---------------------------------------------------------------

void use_io_scheduler(caf::actor_system_config& cfg,
                      io_scheduler_options opts) {
  cfg.module_factories.push_back(
    [opts](caf::actor_system& sys) -> caf::actor_system::module* {
      auto c = new io_coordinator(sys);
      c->data().hub = std::make_shared<io_hub>(opts);
      return c;
    });
}

std::shared_ptr<io_hub> io_hub_of(caf::actor_system& sys) {
  if (auto c = dynamic_cast<io_coordinator*>(&sys.scheduler()))
    return c->data().hub;
  return nullptr;
}

bool uses_io_scheduler(caf::actor_system& sys) {
  return io_hub_of(sys) != nullptr;
}

} // namespace pool
