// LISTEN through the failover handle (failover.hpp): the handle listens on
// its current node itself, once per channel, and fans each notification out
// to the actors that listened through it. When the node is lost, it listens
// to every channel again on the next node and sends each listener a
// `notifications_missed` (what was notified in between is gone), so that
// listeners keep listening across a failover with no action of their own.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor_cast.hpp"
#include "caf/sec.hpp"
#include "caf/send.hpp"

#include "failover.hpp"
#include "pool/error.hpp"

namespace pool::detail::failover {

namespace {

void tell(const caf::actor_addr& who, notifications_missed x) {
  if (auto a = caf::actor_cast<caf::actor>(who))
    caf::anon_send(a, std::move(x));
}

notifications_missed missed(const state& st, std::vector<std::string> channels,
                            std::string reason, bool listening) {
  notifications_missed x;
  x.pool = st.pool;
  x.channels = std::move(channels);
  x.reason = std::move(reason);
  x.listening = listening;
  return x;
}

bool listens(const state& st, const caf::actor_addr& who,
             const std::string& channel) {
  auto i = st.channels.find(channel);
  return i != st.channels.end() &&
         std::find(i->second.begin(), i->second.end(), who) != i->second.end();
}

// Adds `who` to the listeners of `channel` (monitored), unless it is one.
void add(handle_ptr self, const caf::actor_addr& who,
         const std::string& channel) {
  if (!who || listens(self->state, who, channel))
    return;
  self->state.channels[channel].push_back(who);
  self->monitor(caf::actor_cast<caf::actor>(who));
}

// Forgets one listen of `who` to `channel` sent to the node; true if there
// was one.
bool forget_asked(state& st, const caf::actor_addr& who,
                  const std::string& channel) {
  auto i = st.listening.find({who, channel});
  if (i == st.listening.end())
    return false;
  st.listening.erase(i);
  return true;
}

// Nobody listens to `channel` through this handle any more: the node stops
// listening to it for the handle (its answer does not matter).
void unlisten_on_node(handle_ptr self, const std::string& channel) {
  auto& st = self->state;
  st.channels.erase(channel);
  if (st.live.erase(channel) > 0 && st.relay)
    ask<caf::ok_atom>(
      self, caf::make_message(unlisten_atom::value, channel),
      [](caf::ok_atom) {}, [](caf::error&) {});
}

// Removes `who` from `channel`; true if it listened there.
bool remove(handle_ptr self, const caf::actor_addr& who,
            const std::string& channel) {
  auto& st = self->state;
  auto i = st.channels.find(channel);
  if (i == st.channels.end())
    return false;
  auto j = std::find(i->second.begin(), i->second.end(), who);
  if (j == i->second.end())
    return false;
  i->second.erase(j);
  if (i->second.empty())
    unlisten_on_node(self, channel);
  return true;
}

// Listens to `chs` through the current relay again (they were listened to
// and stopped: `why`); then tells each channel's listeners that they may
// have missed notifications, or that listening ended if the node refused.
void listen_on(handle_ptr self, const std::vector<std::string>& chs,
               const std::string& why) {
  auto& st = self->state;
  auto node = where(st.nodes[st.current]);
  auto relay = st.relay;
  for (auto& channel : chs) {
    ask<caf::ok_atom>(
      self, caf::make_message(listen_atom::value, channel),
      [self, channel, node, relay, why](caf::ok_atom) {
        auto& st = self->state;
        auto i = st.channels.find(channel);
        if (st.relay != relay || i == st.channels.end())
          return; // lost again, or nobody listens any more
        st.live.insert(channel);
        for (auto& who : i->second)
          tell(who, missed(st, {channel},
                           why + "; listening again through " + node, true));
      },
      [self, channel, node, relay, why](caf::error& err) {
        auto& st = self->state;
        auto i = st.channels.find(channel);
        if (st.relay != relay || i == st.channels.end() ||
            is(err, pool_errc::shutting_down) ||
            is(err, pool_errc::pool_down) ||
            err == caf::sec::request_receiver_down)
          return; // the relay goes down: the next node listens again
        auto who = std::move(i->second);
        st.channels.erase(i);
        for (auto& w : who)
          tell(w, missed(st, {channel},
                         why + "; listening again through " + node +
                           " failed: " + describe(err),
                         false));
      });
  }
}

} // namespace

caf::result<caf::ok_atom> listen(handle_ptr self, std::string channel) {
  auto& st = self->state;
  auto who = caf::actor_cast<caf::actor_addr>(self->current_sender());
  if (!who)
    return make_error(pool_errc::invalid_request,
                      "listen: the sender is anonymous (use a request from "
                      "an actor, which then receives the notifications)");
  if (st.relay && st.live.count(channel) > 0) { // the node listens already
    add(self, who, channel);
    return caf::ok_atom::value;
  }
  // The node checks the channel name and runs LISTEN; `listened` follows.
  st.listening.emplace(who, channel);
  auto rp = self->make_response_promise();
  auto msg = caf::make_message(listen_atom::value, std::move(channel));
  if (st.relay)
    forward_listen(self, rp, std::move(msg));
  else
    hold(self, rp, std::move(msg), &forward_listen);
  return caf::delegated<caf::ok_atom>{};
}

void listened(handle_ptr self, caf::response_promise& rp,
              const std::string& channel) {
  auto& st = self->state;
  auto who = caf::actor_cast<caf::actor_addr>(rp.source());
  st.live.insert(channel);
  if (forget_asked(st, who, channel))
    add(self, who, channel);
  if (st.channels.count(channel) == 0) // unlistened while LISTEN ran
    unlisten_on_node(self, channel);
  rp.deliver(caf::ok_atom::value);
}

void not_listened(handle_ptr self, caf::response_promise& rp,
                  const std::string& channel) {
  forget_asked(self->state, caf::actor_cast<caf::actor_addr>(rp.source()),
               channel);
}

caf::result<caf::ok_atom> unlisten(handle_ptr self,
                                   const std::string& channel) {
  auto who = caf::actor_cast<caf::actor_addr>(self->current_sender());
  forget_asked(self->state, who, channel);
  remove(self, who, channel);
  return caf::ok_atom::value;
}

void deliver(handle_ptr self, const notification& n) {
  auto i = self->state.channels.find(n.channel);
  if (i == self->state.channels.end())
    return;
  for (auto& who : i->second)
    if (auto a = caf::actor_cast<caf::actor>(who))
      caf::anon_send(a, n);
}

void deliver(handle_ptr self, const notifications_missed& m) {
  auto& st = self->state;
  if (!m.listening) {
    // The node's pool stopped listening (it shuts down, or the server
    // refused a LISTEN after a reconnect): listen again. A pool that shuts
    // down refuses; its relay goes down next, and the next node listens.
    std::vector<std::string> chs;
    for (auto& ch : m.channels)
      if (st.live.erase(ch) > 0 && st.channels.count(ch) > 0)
        chs.push_back(ch);
    if (st.relay)
      listen_on(self, chs, m.reason);
    return;
  }
  // Each listener hears about its own channels, once.
  std::vector<std::pair<caf::actor_addr, std::vector<std::string>>> per;
  for (auto& ch : m.channels) {
    auto i = st.channels.find(ch);
    if (i == st.channels.end())
      continue;
    for (auto& who : i->second) {
      auto j = std::find_if(per.begin(), per.end(),
                            [&](const auto& x) { return x.first == who; });
      if (j == per.end())
        per.emplace_back(who, std::vector<std::string>{ch});
      else
        j->second.push_back(ch);
    }
  }
  for (auto& [who, chs] : per)
    tell(who, missed(st, std::move(chs), m.reason, true));
}

bool drop_listener(handle_ptr self, const caf::actor_addr& who) {
  std::vector<std::string> chs;
  for (auto& kv : self->state.channels)
    if (std::find(kv.second.begin(), kv.second.end(), who) != kv.second.end())
      chs.push_back(kv.first);
  for (auto& ch : chs)
    remove(self, who, ch); // may erase the channel: not while iterating
  return !chs.empty();
}

void listen_again(handle_ptr self) {
  auto& st = self->state;
  st.live.clear();
  std::vector<std::string> all;
  for (auto& kv : st.channels)
    all.push_back(kv.first);
  listen_on(self, all, "the pool node was lost (" + st.lost_why + ")");
}

} // namespace pool::detail::failover
