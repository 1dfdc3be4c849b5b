#include "pool/client.hpp"

#include <algorithm>
#include <string>

#include "caf/actor_system.hpp"
#include "caf/atom.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scheduled_actor.hpp"
#include "caf/sec.hpp"
#include "caf/stateful_actor.hpp"

namespace pool {

caf::error translate_request_error(caf::error err, bool to_pool) {
  if (err == caf::sec::request_receiver_down) {
    if (to_pool)
      return make_error(pool_errc::shutting_down, "the pool has shut down");
    return make_error(pool_errc::invalid_lease,
                      "the lease's connection worker has stopped; the lease "
                      "is over");
  }
  if (err == caf::sec::request_timeout)
    return make_error(pool_errc::request_timeout,
                      "no answer by the caller's deadline");
  return err;
}

namespace detail {

// -- deadline_table -----------------------------------------------------------

void deadline_table::add(uint64_t id, time_point deadline,
                         const void* watched) {
  entries_.push_back(entry{id, deadline, watched, true});
  ++live_;
}

void deadline_table::take(const void* watched, std::vector<uint64_t>& out) {
  for (auto i = head_; i < entries_.size(); ++i) {
    auto& x = entries_[i];
    if (x.live && x.watched == watched) {
      x.live = false;
      --live_;
      out.push_back(x.id);
    }
  }
  compact();
}

bool deadline_table::erase(uint64_t id) {
  auto first = entries_.begin() + static_cast<std::ptrdiff_t>(head_);
  auto i =
    std::lower_bound(first, entries_.end(), id,
                     [](const entry& x, uint64_t y) { return x.id < y; });
  if (i == entries_.end() || i->id != id || !i->live)
    return false;
  i->live = false;
  --live_;
  while (head_ < entries_.size() && !entries_[head_].live)
    ++head_;
  if (head_ == entries_.size()) {
    entries_.clear(); // keeps the capacity
    head_ = 0;
  } else if (slots() - live_ > live_ + 16) {
    compact();
  }
  return true;
}

deadline_table::time_point
deadline_table::expire(time_point now, std::vector<uint64_t>& expired) {
  auto next = time_point::max();
  for (auto i = head_; i < entries_.size(); ++i) {
    auto& x = entries_[i];
    if (!x.live)
      continue;
    if (x.deadline <= now) {
      x.live = false;
      --live_;
      expired.push_back(x.id);
    } else if (x.deadline < next) {
      next = x.deadline;
    }
  }
  compact();
  return next;
}

void deadline_table::clear(std::vector<uint64_t>& out) {
  for (auto i = head_; i < entries_.size(); ++i)
    if (entries_[i].live)
      out.push_back(entries_[i].id);
  entries_.clear();
  head_ = 0;
  live_ = 0;
}

void deadline_table::compact() {
  entries_.erase(entries_.begin(),
                 entries_.begin() + static_cast<std::ptrdiff_t>(head_));
  head_ = 0;
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [](const entry& x) { return !x.live; }),
                 entries_.end());
}

// -- the companion ------------------------------------------------------------

caf::error pool_down_error(const caf::error& reason) {
  if (reason == caf::exit_reason::remote_link_unreachable)
    return make_error(pool_errc::pool_down,
                      "the pool's node is unreachable (connection lost)");
  return make_error(
    pool_errc::pool_down,
    "the pool actor is gone (exit reason: " + caf::to_string(reason) + ")");
}

namespace {

using tick_atom = caf::atom_constant<caf::atom("cl_tick")>;
using watch_atom = caf::atom_constant<caf::atom("cl_watch")>;

// The companion of one client: arms the client's timers on CAF's clock and
// watches the pool and the owner. It holds the owner only weakly, so it never
// keeps the owner alive.
struct companion_state {
  caf::actor_addr owner;
  caf::actor_addr pool;
  // Set once the pool is gone: every later tick is answered with it at once.
  caf::error down;
  // Ticks armed on the clock (response id, due time); on the pool's death
  // each of them is answered early with `down`.
  std::vector<std::pair<uint64_t, caf::timespan>> ticks;
  // Remote receivers of the owner's requests (leases' workers), monitored.
  std::vector<caf::actor_addr> watching;
  // Those of them lost and not yet reported to the owner, and why.
  std::vector<caf::actor_addr> lost;
  caf::error lost_reason;
  static const char* name;
};

const char* companion_state::name = "pool.client";

// Answers the owner's tick `rid` with `x` now.
template <class T>
void answer(caf::stateful_actor<companion_state>* self, uint64_t rid, T x) {
  auto owner = caf::actor_cast<caf::strong_actor_ptr>(self->state.owner);
  if (owner)
    owner->enqueue(caf::make_mailbox_element(nullptr, caf::message_id{rid}, {},
                                             std::move(x)),
                   self->context());
}

// Answers the owner's tick `rid` early with the receivers lost since the last
// report: the owner fails their requests, sweeps and re-arms.
void answer_lost(caf::stateful_actor<companion_state>* self, uint64_t rid) {
  auto& st = self->state;
  auto owner = caf::actor_cast<caf::strong_actor_ptr>(st.owner);
  if (owner)
    owner->enqueue(caf::make_mailbox_element(nullptr, caf::message_id{rid}, {},
                                             caf::ok_atom_v, std::move(st.lost),
                                             std::move(st.lost_reason)),
                   self->context());
  st.lost.clear();
  st.lost_reason = caf::error{};
}

// Reports the lost receivers through the armed tick that fires last, if it
// is still ahead (its clock message then finds no handler and is dropped).
// Without one, the next tick the owner arms is answered at once: a tick is
// armed whenever a request waits, so no waiting request misses the report.
void report_lost(caf::stateful_actor<companion_state>* self) {
  auto& st = self->state;
  auto now = self->clock().now().time_since_epoch();
  auto last = st.ticks.end();
  for (auto i = st.ticks.begin(); i != st.ticks.end(); ++i)
    if (i->second > now && (last == st.ticks.end() || i->second > last->second))
      last = i;
  if (last == st.ticks.end())
    return;
  auto rid = last->first;
  st.ticks.erase(last);
  answer_lost(self, rid);
}

caf::behavior companion_actor(caf::stateful_actor<companion_state>* self,
                              caf::actor_addr owner, pool_actor pool) {
  auto& st = self->state;
  st.owner = owner;
  st.pool = pool.address();
  auto strong_owner = caf::actor_cast<caf::actor>(owner);
  if (!strong_owner) { // the owner is gone already: nothing to watch for
    self->quit();
    return {};
  }
  self->monitor(strong_owner);
  self->monitor(pool);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.owner) {
      self->quit();
      return;
    }
    if (auto i = std::find(st.watching.begin(), st.watching.end(), dm.source);
        i != st.watching.end()) {
      st.watching.erase(i);
      st.lost.push_back(dm.source);
      st.lost_reason = dm.reason;
      report_lost(self);
      return;
    }
    if (dm.source != st.pool || st.down)
      return;
    st.down = pool_down_error(dm.reason);
    for (auto& t : st.ticks)
      answer(self, t.first, st.down);
    st.ticks.clear();
  });
  return {
    [self](watch_atom, const caf::actor& dest) {
      self->state.watching.push_back(dest.address());
      self->monitor(dest); // a lost node's proxy reports down at once
    },
    [self](tick_atom, uint64_t rid, caf::timespan at) {
      auto& st = self->state;
      if (st.down) {
        answer(self, rid, st.down);
        return;
      }
      if (!st.lost.empty()) { // the owner sweeps and re-arms at once
        answer_lost(self, rid);
        return;
      }
      auto owner = caf::actor_cast<caf::strong_actor_ptr>(st.owner);
      if (!owner)
        return;
      // Ticks due by now have been handed to the clock's queue already.
      auto now = self->clock().now().time_since_epoch();
      st.ticks.erase(
        std::remove_if(st.ticks.begin(), st.ticks.end(),
                       [now](const auto& t) { return t.second < now; }),
        st.ticks.end());
      st.ticks.emplace_back(rid, at);
      self->clock().schedule_message(
        caf::actor_clock::time_point{
          std::chrono::duration_cast<caf::actor_clock::duration_type>(at)},
        std::move(owner),
        caf::make_mailbox_element(nullptr, caf::message_id{rid}, {},
                                  caf::ok_atom_v));
    },
  };
}

} // namespace

// -- client_core --------------------------------------------------------------

client_core::client_core(caf::scheduled_actor* self, pool_actor pool,
                         caf::timespan granularity)
  : self_(self), pool_(std::move(pool)),
    granularity_(granularity > caf::timespan{0} ? granularity
                                                : caf::timespan{1}) {
  // nop
}

client_core::~client_core() {
  // The companion exits when the owner does; nothing to stop here.
}

void client_core::start() {
  companion_ = self_->system().spawn(companion_actor, self_->address(), pool_);
}

caf::message_id client_core::next_request_id() {
  return self_->new_request_id(caf::message_priority::normal);
}

caf::strong_actor_ptr client_core::sender() const {
  return caf::strong_actor_ptr{self_->ctrl()};
}

caf::execution_unit* client_core::context() const {
  return self_->context();
}

void client_core::track(caf::message_id mid, caf::timespan timeout,
                        caf::abstract_actor* dest) {
  // Longer than a year means "no deadline" in practice; keeps the
  // arithmetic clear of overflow.
  constexpr auto year = caf::timespan{std::chrono::hours(24 * 365)};
  auto deadline = self_->clock().now() + std::min(timeout, year);
  table_.add(mid.response_id().integer_value(), deadline,
             dest != nullptr ? watch(dest) : nullptr);
  arm(deadline);
}

const void* client_core::watch(caf::abstract_actor* dest) {
  auto* ctrl = dest->ctrl();
  if (ctrl->node() == self_->ctrl()->node())
    return nullptr; // local: a request to a stopped actor bounces
  for (auto& x : watched_)
    if (x.get() == ctrl)
      return ctrl;
  watched_.emplace_back(dest->address());
  companion_->enqueue(caf::make_mailbox_element(
                        nullptr, caf::make_message_id(), {}, watch_atom::value,
                        caf::actor_cast<caf::actor>(dest)),
                      context());
  return ctrl;
}

void client_core::on_lost(const std::vector<caf::actor_addr>& lost,
                          const caf::error& why) {
  auto err = make_error(
    pool_errc::connection_lost,
    "the lease's connection is on a node that was lost or its worker "
    "stopped (" +
      (why ? caf::to_string(why) : std::string{"no reason given"}) +
      "); the request may or may not have run");
  scratch_.clear();
  for (auto& addr : lost) {
    table_.take(addr.get(), scratch_);
    // Kept out of watched_: a later request to it is watched again and the
    // companion, monitoring a dead actor, reports it at once.
    watched_.erase(std::remove(watched_.begin(), watched_.end(), addr),
                   watched_.end());
  }
  fail_all(scratch_, err);
}

void client_core::fail_now(caf::message_id rid, caf::error err) {
  self_->eq_impl(rid, nullptr, context(), std::move(err));
}

void client_core::add_handler(caf::message_id response_id, caf::behavior bhvr) {
  self_->add_multiplexed_response_handler(response_id, std::move(bhvr));
}

void client_core::call_error_handler(caf::error& err) {
  self_->call_error_handler(err);
}

void client_core::arm(time_point deadline) {
  // Round up to the granularity, so that a burst of requests shares a tick.
  auto since = deadline.time_since_epoch();
  auto g = granularity_;
  auto at = ((since + g - caf::timespan{1}) / g) * g;
  for (auto t : ticks_)
    if (t <= at)
      return; // an earlier tick sweeps and re-arms
  ticks_.push_back(at);
  auto rid = next_request_id().response_id();
  auto core = shared_from_this();
  add_handler(
    rid,
    caf::behavior{
      [core, at](caf::ok_atom) { core->on_tick(at); },
      [core, at](caf::ok_atom, std::vector<caf::actor_addr>& lost,
                 caf::error& why) {
        core->on_lost(lost, why);
        core->on_tick(at);
      },
      [core, at](caf::error& err) { core->on_pool_down(at, std::move(err)); },
    });
  companion_->enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                                {}, tick_atom::value,
                                                rid.integer_value(), at),
                      context());
}

void client_core::on_tick(caf::timespan at) {
  auto i = std::find(ticks_.begin(), ticks_.end(), at);
  if (i != ticks_.end())
    ticks_.erase(i);
  scratch_.clear();
  auto next = table_.expire(self_->clock().now(), scratch_);
  fail_all(scratch_, make_error(pool_errc::request_timeout,
                                "no answer by the caller's deadline"));
  if (next != time_point::max())
    arm(next);
}

void client_core::on_pool_down(caf::timespan at, caf::error err) {
  auto i = std::find(ticks_.begin(), ticks_.end(), at);
  if (i != ticks_.end())
    ticks_.erase(i);
  if (!is(err, pool_errc::pool_down))
    err = make_error(pool_errc::pool_down,
                     "the client's watcher failed: " + describe(err));
  scratch_.clear();
  table_.clear(scratch_);
  fail_all(scratch_, err);
}

void client_core::fail_all(const std::vector<uint64_t>& ids,
                           const caf::error& err) {
  for (auto id : ids)
    fail_now(caf::message_id{id}, err);
}

} // namespace detail

// -- client -------------------------------------------------------------------

client::client(caf::scheduled_actor* self, pool_actor pool,
               caf::timespan granularity)
  : core_(std::make_shared<detail::client_core>(self, std::move(pool),
                                                granularity)) {
  core_->start();
}

client_response<caf::detail::type_list<query_result>>
client::query(const lease& l, caf::timespan timeout, statement st) {
  if (!l.worker) {
    auto rid = core_->next_request_id().response_id();
    core_->fail_now(rid, make_error(pool_errc::invalid_lease, "empty lease"));
    return {core_, rid, false};
  }
  return request_to(l.worker, timeout, query_atom_v, l.id, std::move(st));
}

client_response<caf::detail::type_list<query_result>>
client::query(caf::timespan timeout, priority prio, statement st) {
  return request(timeout, query_atom_v, prio, std::move(st));
}

client_response<caf::detail::type_list<lease>>
client::acquire(caf::timespan timeout, caf::timespan wait, priority prio) {
  return request(timeout, acquire_atom_v, wait, prio);
}

client_response<caf::detail::type_list<std::vector<query_result>>>
client::transaction(caf::timespan timeout, priority prio,
                    std::vector<statement> sts) {
  return request(timeout, transaction_atom_v, prio, std::move(sts));
}

} // namespace pool
