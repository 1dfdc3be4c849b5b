#include "relay.hpp"

#include <unordered_map>
#include <utility>
#include <vector>

#include "caf/actor_cast.hpp"
#include "caf/actor_system.hpp"
#include "caf/atom.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/message_view.hpp"
#include "caf/response_promise.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "pool/client.hpp"
#include "pool/error.hpp"
#include "pool/remote.hpp"

#include "actors.hpp"
#include "wire.hpp"

namespace pool::detail {

namespace {

using flush_atom = caf::atom_constant<caf::atom("rl_flush")>;

/// The most queries (or answers) one network message carries.
constexpr size_t max_batch = 256;

// -- the batching both ends share ---------------------------------------------

/// Items collected while an actor is busy, sent as one message when the actor
/// reaches the flush message it sent itself behind them (or when the batch is
/// full).
template <class T>
struct outbox {
  std::vector<T> items;
  bool flush_queued = false;

  /// Adds `x`. Returns true if the batch is full and must go now; else makes
  /// sure a flush message is queued behind the messages waiting now.
  template <class Self>
  bool add(Self* self, T x) {
    items.push_back(std::move(x));
    if (items.size() >= max_batch)
      return true;
    if (!flush_queued) {
      flush_queued = true;
      self->send(caf::actor_cast<caf::actor>(self), flush_atom::value);
    }
    return false;
  }

  /// Takes what was collected (moved into a message or a frame: a new batch
  /// starts empty).
  std::vector<T> take() {
    flush_queued = false;
    return std::exchange(items, {});
  }
};

/// Sends the batch `xs` on `link` if the relay has its own stream, else to
/// `dest` through CAF's node link (anonymously: the receiver answers to the
/// inbox it knows, not to the sender). Returns false if the stream broke.
template <class T>
bool send_batch(caf::actor_system& sys, wire_link* link, const caf::actor& dest,
                std::vector<T> xs) {
  if (xs.empty())
    return true;
  if (link)
    return write_frame(sys, *link, xs);
  caf::anon_send(dest, relay_atom::value, std::move(xs));
  return true;
}

/// The error of a relay or gateway whose stream broke.
caf::error stream_broke() {
  return make_error(pool_errc::pool_down,
                    "the relay's stream to the pool node closed (the node "
                    "stopped, or lost contact with this node)");
}

// -- the gateway (pool node) --------------------------------------------------

struct gateway_state {
  pool_actor pool;
  caf::actor inbox;
  outbox<relay_reply> out;
  /// The relay's own stream, once the acceptor handed it over.
  std::unique_ptr<wire_link> link;
  static const char* name;
};

const char* gateway_state::name = "pool.relay_gateway";

using gateway_ptr = caf::stateful_actor<gateway_state>*;

void gateway_flush(gateway_ptr self) {
  auto& st = self->state;
  if (!send_batch(self->system(), st.link.get(), st.inbox, st.out.take()))
    self->quit(stream_broke());
}

/// Runs `q` on the pool; `answer` gets its `relay_reply`. No timeout of our
/// own: the caller keeps the deadline, and the pool answers every request it
/// accepted (by its acquire timeout at most).
template <class Answer>
void run(gateway_ptr self, relay_query& q, const Answer& answer) {
  auto key = q.key;
  auto failed = [answer, key](caf::error& err) {
    answer(relay_reply{key, std::move(err), {}, {}});
  };
  auto& pool = self->state.pool;
  if (q.txn)
    self
      ->request(pool, caf::infinite, transaction_atom::value, q.prio,
                std::move(q.stmts))
      .then(
        [answer, key](std::vector<query_result>& rs) {
          answer(relay_reply{key, {}, {}, std::move(rs)});
        },
        failed);
  else
    self
      ->request(pool, caf::infinite, query_atom::value, q.prio,
                std::move(q.stmt))
      .then(
        [answer, key](query_result& r) {
          answer(relay_reply{key, {}, std::move(r), {}});
        },
        failed);
}

caf::behavior gateway_impl(gateway_ptr self, pool_actor pool, caf::actor inbox,
                           caf::actor acceptor, uint16_t port) {
  auto& st = self->state;
  st.pool = std::move(pool);
  st.inbox = std::move(inbox);
  self->monitor(st.pool);
  self->monitor(st.inbox);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  // The stream's token, registered with the node's acceptor until the
  // gateway stops.
  auto token = make_wire_token();
  if (acceptor) {
    self->send(acceptor, relay_atom::value, token[0], token[1],
               self->address());
    self->attach_functor([acceptor, token] {
      caf::anon_send(acceptor, relay_atom::value, token[0], token[1]);
    });
  } else {
    port = 0;
  }
  auto answer = [self](relay_reply x) {
    if (self->state.out.add(self, std::move(x)))
      gateway_flush(self);
  };
  return {
    [self, answer](relay_atom, std::vector<relay_query>& qs) {
      for (auto& q : qs)
        run(self, q, answer);
    },
    // Where the relay's own stream connects: port 0 if this node offers none.
    [port, token](relay_atom) {
      return caf::make_message(port, token[0], token[1]);
    },
    [self](relay_atom, std::shared_ptr<wire>& w) {
      auto& st = self->state;
      if (st.link)
        return; // one stream per gateway
      st.link = std::make_unique<wire_link>(wire_readiness(self->system()),
                                            std::move(w), self->address());
      if (!st.link->ok())
        self->quit(stream_broke());
    },
    [self, answer](wake_atom) {
      auto& st = self->state;
      if (!st.link)
        return;
      auto ok = read_frames<relay_query>(self->system(), *st.link,
                                         [&](std::vector<relay_query>& qs) {
                                           for (auto& q : qs)
                                             run(self, q, answer);
                                         });
      if (!ok)
        self->quit(stream_broke());
    },
    [self](flush_atom) { gateway_flush(self); },
  };
}

// -- the inbox (client node) --------------------------------------------------

struct inbox_state {
  caf::actor_addr relay;
  static const char* name;
};

const char* inbox_state::name = "pool.relay_inbox";

caf::behavior inbox_impl(caf::stateful_actor<inbox_state>* self) {
  return {
    [self](caf::actor_addr& relay) { self->state.relay = std::move(relay); },
    [self](relay_atom a, std::vector<relay_reply>& rs) {
      auto relay = caf::actor_cast<caf::actor>(self->state.relay);
      if (!relay) {
        self->quit();
        return;
      }
      self->send(relay, a, std::move(rs));
    },
  };
}

// -- the relay (client node) --------------------------------------------------

struct relay_state {
  pool_actor pool;
  caf::actor gateway;
  uint64_t next_key = 0;
  outbox<relay_query> out;
  /// A request sent and not answered: its caller, and whether the answer is
  /// a transaction's results.
  struct waiting {
    caf::response_promise rp;
    bool txn;
  };
  std::unordered_map<uint64_t, waiting> pending;
  /// The relay's own stream to the gateway, if the node offered one.
  std::unique_ptr<wire_link> link;
  static const char* name;
};

const char* relay_state::name = "pool.relay";

using relay_ptr = caf::stateful_actor<relay_state>*;

/// The pool, its node or the stream is gone: answers what is held with
/// `pool_down`, then stops with `reason`, as the pool's proxy would have.
void relay_lost(relay_ptr self, const caf::error& reason) {
  auto err = reason && reason.category() == pool_error_category::value
               ? reason
               : pool_down_error(reason);
  for (auto& kv : self->state.pending)
    kv.second.rp.deliver(err);
  self->state.pending.clear();
  self->quit(reason);
}

void relay_flush(relay_ptr self) {
  auto& st = self->state;
  if (!send_batch(self->system(), st.link.get(), st.gateway, st.out.take()))
    relay_lost(self, stream_broke());
}

/// Answers the callers of `rs`.
void relay_deliver(relay_ptr self, std::vector<relay_reply>& rs) {
  auto& pending = self->state.pending;
  for (auto& r : rs) {
    auto i = pending.find(r.key);
    if (i == pending.end())
      continue;
    auto& rp = i->second.rp;
    if (r.err)
      rp.deliver(std::move(r.err));
    else if (i->second.txn)
      rp.deliver(std::move(r.results));
    else
      rp.deliver(std::move(r.result));
    pending.erase(i);
  }
}

/// Queues `q` for the gateway; the caller's answer comes with its reply.
caf::response_promise relay_request(relay_ptr self, relay_query q) {
  auto& st = self->state;
  q.key = st.next_key++;
  auto rp = self->make_response_promise();
  st.pending.emplace(q.key, relay_state::waiting{rp, q.txn});
  if (st.out.add(self, std::move(q)))
    relay_flush(self);
  return rp;
}

caf::response_promise relay_query_of(relay_ptr self, priority prio,
                                     statement& stmt) {
  return relay_request(self, relay_query{0, prio, false, std::move(stmt), {}});
}

caf::response_promise relay_txn_of(relay_ptr self, priority prio,
                                   std::vector<statement>& stmts) {
  return relay_request(self, relay_query{0, prio, true, {}, std::move(stmts)});
}

caf::behavior relay_impl(relay_ptr self, pool_actor pool, caf::actor gateway,
                         caf::actor inbox, std::shared_ptr<wire> w) {
  auto& st = self->state;
  st.pool = std::move(pool);
  st.gateway = std::move(gateway);
  self->monitor(st.pool);
  self->monitor(st.gateway);
  self->attach_functor(
    [inbox] { caf::anon_send_exit(inbox, caf::exit_reason::user_shutdown); });
  if (w) {
    st.link = std::make_unique<wire_link>(wire_readiness(self->system()),
                                          std::move(w), self->address());
    if (!st.link->ok())
      st.link.reset(); // the node link carries the batches then
  }
  self->set_down_handler(
    [self](caf::down_msg& dm) { relay_lost(self, dm.reason); });
  // Every other request goes to the pool as it is, with its sender and
  // request id: the pool answers the caller directly.
  self->set_default_handler(
    [self](caf::scheduled_actor*,
           caf::message_view& x) -> caf::result<caf::message> {
      auto rp = self->make_response_promise();
      rp.delegate(caf::actor_cast<caf::actor>(self->state.pool),
                  x.move_content_to_message());
      return caf::delegated<caf::message>{};
    });
  return {
    [self](query_atom, statement& stmt) -> caf::result<query_result> {
      return relay_query_of(self, priority::normal, stmt);
    },
    [self](query_atom, priority prio, statement& stmt)
      -> caf::result<query_result> { return relay_query_of(self, prio, stmt); },
    [self](transaction_atom, std::vector<statement>& stmts)
      -> caf::result<std::vector<query_result>> {
      return relay_txn_of(self, priority::normal, stmts);
    },
    [self](transaction_atom, priority prio, std::vector<statement>& stmts)
      -> caf::result<std::vector<query_result>> {
      return relay_txn_of(self, prio, stmts);
    },
    [self](flush_atom) { relay_flush(self); },
    [self](relay_atom, std::vector<relay_reply>& rs) {
      relay_deliver(self, rs);
    },
    [self](wake_atom) {
      auto& st = self->state;
      if (!st.link)
        return;
      auto ok = read_frames<relay_reply>(
        self->system(), *st.link,
        [self](std::vector<relay_reply>& rs) { relay_deliver(self, rs); });
      if (!ok)
        relay_lost(self, stream_broke());
    },
  };
}

} // namespace

caf::actor spawn_relay_gateway(caf::actor_system& sys, pool_actor pool,
                               caf::actor inbox, caf::actor acceptor,
                               uint16_t port) {
  return sys.spawn(gateway_impl, std::move(pool), std::move(inbox),
                   std::move(acceptor), port);
}

caf::actor spawn_relay_inbox(caf::actor_system& sys) {
  return sys.spawn(inbox_impl);
}

pool_actor spawn_relay(caf::actor_system& sys, pool_actor pool,
                       caf::actor gateway, caf::actor inbox,
                       std::shared_ptr<wire> w) {
  auto relay = sys.spawn(relay_impl, std::move(pool), std::move(gateway), inbox,
                         std::move(w));
  caf::anon_send(inbox, relay.address());
  return caf::actor_cast<pool_actor>(std::move(relay));
}

} // namespace pool::detail
