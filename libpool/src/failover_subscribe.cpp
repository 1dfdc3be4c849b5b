// Breaker events through the failover handle (failover.hpp): the handle
// subscribes on its current node itself, once, and fans each
// `breaker_event` out to the actors that subscribed through it. When the
// node is lost it subscribes again on the next node, so that subscribers
// keep receiving the events of the breaker of whichever node serves them,
// with no action of their own. A transition during the gap is not replayed
// (the new node's breaker has its own history: its current state is in
// `pool_stats::breaker`).

#include <algorithm>
#include <utility>
#include <vector>

#include "caf/actor_cast.hpp"
#include "caf/sec.hpp"
#include "caf/send.hpp"

#include "failover.hpp"
#include "pool/error.hpp"

namespace pool::detail::failover {

namespace {

// Adds `who` to the subscribers (monitored), unless it is one.
void add_subscriber(handle_ptr self, const caf::actor_addr& who) {
  auto& subs = self->state.subscribers;
  if (!who || std::find(subs.begin(), subs.end(), who) != subs.end())
    return;
  subs.push_back(who);
  self->monitor(caf::actor_cast<caf::actor>(who));
}

// Answers every subscribe that waits for the node: `ok` (and the subscriber
// is added), or `err`.
void settle(handle_ptr self, const caf::error& err) {
  auto waiting = std::move(self->state.to_subscribe);
  self->state.to_subscribe.clear();
  for (auto& rp : waiting) {
    if (err) {
      rp.deliver(err);
      continue;
    }
    add_subscriber(self, caf::actor_cast<caf::actor_addr>(rp.source()));
    rp.deliver(caf::ok_atom::value);
  }
}

// Subscribes the courier on the current relay, unless it is or is being
// subscribed there.
void subscribe_on_node(handle_ptr self) {
  auto& st = self->state;
  if (!st.relay || st.subscribed || st.subscribing)
    return;
  st.subscribing = true;
  auto relay = st.relay;
  ask<caf::ok_atom>(
    self, caf::make_message(subscribe_atom::value),
    [self, relay](caf::ok_atom) {
      auto& st = self->state;
      if (st.relay != relay)
        return;
      st.subscribing = false;
      st.subscribed = true;
      settle(self, caf::error{});
    },
    [self, relay](caf::error& err) {
      auto& st = self->state;
      if (st.relay != relay)
        return;
      st.subscribing = false;
      // A relay that goes down answers the waiting subscribes when it is
      // lost (`subscribe_lost`), and the next node is subscribed again.
      if (is(err, pool_errc::shutting_down) || is(err, pool_errc::pool_down) ||
          err == caf::sec::request_receiver_down)
        return;
      settle(self, err);
    });
}

} // namespace

caf::result<caf::ok_atom> subscribe(handle_ptr self) {
  auto who = caf::actor_cast<caf::actor_addr>(self->current_sender());
  if (!who)
    return make_error(pool_errc::invalid_request,
                      "subscribe: the sender is anonymous (use a request "
                      "from an actor, which then receives the breaker "
                      "events)");
  auto rp = self->make_response_promise();
  auto msg = caf::make_message(subscribe_atom::value);
  if (self->state.relay)
    forward_subscribe(self, rp, std::move(msg));
  else
    hold(self, rp, std::move(msg), &forward_subscribe);
  return caf::delegated<caf::ok_atom>{};
}

void forward_subscribe(handle_ptr self, caf::response_promise& rp,
                       caf::message&&) {
  auto& st = self->state;
  if (st.subscribed) {
    add_subscriber(self, caf::actor_cast<caf::actor_addr>(rp.source()));
    rp.deliver(caf::ok_atom::value);
    return;
  }
  st.to_subscribe.push_back(rp);
  subscribe_on_node(self);
}

void deliver(handle_ptr self, const breaker_event& e) {
  for (auto& who : self->state.subscribers)
    if (auto a = caf::actor_cast<caf::actor>(who))
      caf::anon_send(a, e);
}

bool drop_subscriber(handle_ptr self, const caf::actor_addr& who) {
  auto& subs = self->state.subscribers;
  auto i = std::find(subs.begin(), subs.end(), who);
  if (i == subs.end())
    return false;
  subs.erase(i);
  return true;
}

void subscribe_lost(handle_ptr self, const caf::error& err) {
  auto& st = self->state;
  st.subscribed = false;
  st.subscribing = false; // its answer is forgotten with the relay's asks
  settle(self, err);
}

void subscribe_again(handle_ptr self) {
  if (!self->state.subscribers.empty())
    subscribe_on_node(self);
}

} // namespace pool::detail::failover
