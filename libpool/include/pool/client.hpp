#pragma once

// pool::client: requests to the pool from an event-based actor, with the
// caller's deadline kept by the client instead of CAF's clock (see README,
// "Calling the pool from actors").

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "caf/abstract_actor.hpp"
#include "caf/actor.hpp"
#include "caf/actor_addr.hpp"
#include "caf/actor_cast.hpp"
#include "caf/actor_clock.hpp"
#include "caf/behavior.hpp"
#include "caf/detail/implicit_conversions.hpp"
#include "caf/detail/type_traits.hpp"
#include "caf/detail/typed_actor_util.hpp"
#include "caf/error.hpp"
#include "caf/fwd.hpp"
#include "caf/mailbox_element.hpp"
#include "caf/message_id.hpp"
#include "caf/response_type.hpp"
#include "caf/timespan.hpp"

#include "pool/error.hpp"
#include "pool/protocol.hpp"

namespace pool {

/// Maps an error that CAF (not the pool) produced for a request to the pool's
/// category: `sec::request_receiver_down` (the request reached an actor that
/// had already terminated) becomes `shutting_down` ("the pool has shut down")
/// when `to_pool`, else `invalid_lease` (the lease's worker has stopped, so
/// the lease is over);
/// `sec::request_timeout` becomes `request_timeout`. Other errors are
/// returned unchanged.
caf::error translate_request_error(caf::error err, bool to_pool = true);

namespace detail {

/// The `pool_down` error for a pool that went down with exit reason
/// `reason` (its node unreachable, or the pool actor gone).
caf::error pool_down_error(const caf::error& reason);

/// The requests of one client that wait for an answer, with their deadlines.
/// Request ids only grow, so entries are appended in id order; erased
/// entries become tombstones that are compacted away, so adding and erasing
/// allocate nothing once the vector has grown to the number of requests in
/// flight.
class deadline_table {
 public:
  using time_point = caf::actor_clock::time_point;

  /// Adds request `id` (greater than every id added before), sent to the
  /// remote actor `watched` (null if the receiver is not watched).
  void add(uint64_t id, time_point deadline, const void* watched = nullptr);

  /// Removes every request sent to `watched`, appending its id to `out`.
  void take(const void* watched, std::vector<uint64_t>& out);

  /// Removes request `id`; returns false if it is not (or no longer) here.
  bool erase(uint64_t id);

  /// Removes every request whose deadline is at or before `now`, appending
  /// its id to `expired`. Returns the earliest deadline left, or
  /// `time_point::max()` if none is left.
  time_point expire(time_point now, std::vector<uint64_t>& expired);

  /// Removes every request, appending its id to `out`.
  void clear(std::vector<uint64_t>& out);

  /// Returns the number of requests waiting.
  size_t size() const noexcept { return live_; }

  /// Returns the number of slots in use, tombstones included (for tests).
  size_t slots() const noexcept { return entries_.size() - head_; }

 private:
  struct entry {
    uint64_t id;
    time_point deadline;
    const void* watched;
    bool live;
  };

  void compact();

  std::vector<entry> entries_;
  size_t head_ = 0;
  size_t live_ = 0;
};

/// The state shared by a `client` and the handlers of its requests. Lives in
/// the owning actor; only that actor touches it.
class client_core : public std::enable_shared_from_this<client_core> {
 public:
  using time_point = caf::actor_clock::time_point;

  client_core(caf::scheduled_actor* self, pool_actor pool,
              caf::timespan granularity);

  ~client_core();

  /// Spawns the companion actor that watches the pool and the owner.
  void start();

  /// A fresh request id of the owner.
  caf::message_id next_request_id();

  /// The owner, as the sender of a request.
  caf::strong_actor_ptr sender() const;

  /// The owner's execution unit.
  caf::execution_unit* context() const;

  /// Records request `mid`, due after `timeout`, and arms the timer if it is
  /// the earliest deadline. A request to an actor on another node (`dest`,
  /// null for the pool) fails with `connection_lost` as soon as that actor
  /// or its node is lost.
  void track(caf::message_id mid, caf::timespan timeout,
             caf::abstract_actor* dest = nullptr);

  /// Answers the request whose response id is `rid` with `err` at once
  /// (through the owner's mailbox).
  void fail_now(caf::message_id rid, caf::error err);

  /// Forgets the request whose response id is `rid` (it was answered).
  void forget(caf::message_id rid) { table_.erase(rid.integer_value()); }

  /// Installs `bhvr` as the response handler of `response_id`.
  void add_handler(caf::message_id response_id, caf::behavior bhvr);

  /// Hands `err` to the owner's error handler (for `then` without one).
  void call_error_handler(caf::error& err);

  /// The number of requests waiting for an answer.
  size_t pending() const noexcept { return table_.size(); }

  /// The number of timer ticks this client has armed and not yet seen fire.
  size_t armed() const noexcept { return ticks_.size(); }

  const pool_actor& pool() const noexcept { return pool_; }

  const caf::actor& companion() const noexcept { return companion_; }

 private:
  const void* watch(caf::abstract_actor* dest);
  void arm(time_point deadline);
  void on_tick(caf::timespan at);
  void on_lost(const std::vector<caf::actor_addr>& lost, const caf::error& why);
  void on_pool_down(caf::timespan at, caf::error err);
  void fail_all(const std::vector<uint64_t>& ids, const caf::error& err);

  caf::scheduled_actor* self_;
  pool_actor pool_;
  caf::actor companion_;
  caf::timespan granularity_;
  deadline_table table_;
  std::vector<caf::timespan> ticks_;     // armed, not yet fired
  std::vector<caf::actor_addr> watched_; // remote receivers the companion
                                         // monitors for us
  std::vector<uint64_t> scratch_;
};

/// Wraps a value handler: forgets the request, then calls the user's
/// handler with the same arguments (so CAF matches the same signature).
template <class F, class Args>
struct client_value_handler;

template <class F, class... Args>
struct client_value_handler<F, caf::detail::type_list<Args...>> {
  std::shared_ptr<client_core> core;
  caf::message_id mid;
  F f;

  void operator()(Args... xs) {
    core->forget(mid);
    f(std::forward<Args>(xs)...);
  }
};

/// Wraps an error handler: forgets the request, translates CAF's errors
/// (`translate_request_error`), then calls the user's handler.
template <class G>
struct client_error_handler {
  std::shared_ptr<client_core> core;
  caf::message_id mid;
  bool to_pool;
  G g;

  void operator()(caf::error& err) {
    core->forget(mid);
    auto e = translate_request_error(std::move(err), to_pool);
    g(e);
  }
};

} // namespace detail

/// The handle of one request sent through a `client`, like CAF's
/// `response_handle`: call `then` once to install its handlers.
template <class Output>
class client_response {
 public:
  client_response(std::shared_ptr<detail::client_core> core,
                  caf::message_id response_id, bool to_pool)
    : core_(std::move(core)), rid_(response_id), to_pool_(to_pool) {
    // nop
  }

  /// Installs `f` for the reply and `g` for an error; exactly one of them
  /// runs, once. `f` takes the reply's types as CAF's `then` does (e.g.
  /// `const query_result&`, `lease`, `caf::ok_atom`). `g` takes
  /// `caf::error&`: the pool's error, or `request_timeout` (deadline
  /// passed), `pool_down` (the pool or its node is gone), `shutting_down`
  /// (the request reached a pool that had shut down), `connection_lost` (a
  /// request on a lease whose worker's node was lost).
  template <class F, class G>
  void then(F f, G g) const {
    caf::detail::type_checker<Output, F>::check();
    using args = typename caf::detail::get_callable_trait<F>::arg_types;
    using value_handler = detail::client_value_handler<F, args>;
    using error_handler = detail::client_error_handler<G>;
    core_->add_handler(
      rid_, caf::behavior{value_handler{core_, rid_, std::move(f)},
                          error_handler{core_, rid_, to_pool_, std::move(g)}});
  }

  /// Installs `f` for the reply; an error goes to the owner's error handler
  /// (by default, CAF's: the actor quits with that error).
  template <class F>
  void then(F f) const {
    auto core = core_;
    then(std::move(f),
         [core](caf::error& err) { core->call_error_handler(err); });
  }

  /// The id of the response this handle waits for.
  caf::message_id id() const noexcept { return rid_; }

 private:
  std::shared_ptr<detail::client_core> core_;
  caf::message_id rid_;
  bool to_pool_;
};

/// Sends requests to one pool from one event-based actor (untyped, typed or
/// stateful) and keeps their deadlines without a CAF clock event per request.
///
/// CAF 0.17's `request(dest, timeout, ...)` wakes CAF's clock thread for
/// every request and never cancels that timeout; it does not fail a request
/// whose receiver dies after accepting it, nor one whose node is lost. A
/// client sends with `caf::infinite`, keeps each deadline in a table, and
/// keeps at most one timer armed (for the earliest deadline, rounded up to
/// `granularity` so that a burst shares it); when it fires, every request
/// past its deadline fails with `request_timeout`. A companion actor,
/// spawned by the client, monitors the pool and the owner: when the pool
/// dies (or its node becomes unreachable) every pending request fails at
/// once with `pool_down`; when the owner dies, the companion exits. The
/// owner's behaviour, down and exit handlers are left alone.
///
/// Use it only from the owner's own handlers. While a request is pending (or
/// until its timer fires) the owner stays alive like with any `then`.
class client {
 public:
  /// An unbound client; bind one with the other constructor.
  client() = default;

  /// A client of `pool` for the actor `self`: spawns its companion.
  /// `granularity` is how far a deadline may be rounded up.
  client(caf::scheduled_actor* self, pool_actor pool,
         caf::timespan granularity = std::chrono::milliseconds(5));

  /// Sends `(xs...)` to the pool; the request fails with `request_timeout`
  /// if no answer came within `timeout` (`invalid_request` if `timeout` is
  /// not positive). Returns the handle to install the
  /// handlers on; see `client_response::then` for the errors.
  template <class... Ts>
  auto request(caf::timespan timeout, Ts&&... xs) {
    return send_to(core_->pool(), true, timeout, std::forward<Ts>(xs)...);
  }

  /// Sends `(xs...)` to `dest` (e.g. a lease's worker) with a deadline, as
  /// `request`; it also fails with `pool_down` when the pool dies. A request
  /// that reaches a terminated `dest` fails with `invalid_lease` (the lease
  /// is over). When `dest` is on another node, the client monitors it: if
  /// that node is lost (or `dest` stops), every request waiting on `dest`
  /// fails at once with `connection_lost`, and so does every later one (the
  /// lease is lost with its node; it may or may not have run).
  template <class Handle, class... Ts>
  auto request_to(const Handle& dest, caf::timespan timeout, Ts&&... xs) {
    return send_to(dest, false, timeout, std::forward<Ts>(xs)...);
  }

  /// Runs `st` on lease `l`: `(query_atom, l.id, st)` to `l.worker`. Replies
  /// `query_result`; errors as the lease's worker answers, plus those of
  /// `request_to`; `invalid_lease` for a lease without worker.
  client_response<caf::detail::type_list<query_result>>
  query(const lease& l, caf::timespan timeout, statement st);

  /// Runs `st` on any connection with priority class `prio`:
  /// `(query_atom, prio, st)`. Replies and errors as that request, plus
  /// those of `request`.
  client_response<caf::detail::type_list<query_result>>
  query(caf::timespan timeout, priority prio, statement st);

  /// Leases a connection with priority class `prio`, waiting at most `wait`
  /// in the pool: `(acquire_atom, wait, prio)`. Replies `lease`; errors as
  /// that request, plus those of `request`.
  client_response<caf::detail::type_list<lease>>
  acquire(caf::timespan timeout, caf::timespan wait, priority prio);

  /// Runs `sts` in one transaction with priority class `prio`:
  /// `(transaction_atom, prio, sts)`. Replies one `query_result` per
  /// statement; errors as that request, plus those of `request`.
  client_response<caf::detail::type_list<std::vector<query_result>>>
  transaction(caf::timespan timeout, priority prio, std::vector<statement> sts);

  /// The number of requests waiting for an answer (or their deadline).
  size_t pending() const noexcept { return core_ ? core_->pending() : 0; }

  /// The number of timers armed and not yet fired (at most a few).
  size_t armed() const noexcept { return core_ ? core_->armed() : 0; }

  /// The pool this client talks to.
  const pool_actor& pool() const { return core_->pool(); }

  /// Whether this client is bound to an actor and a pool.
  explicit operator bool() const noexcept { return static_cast<bool>(core_); }

 private:
  template <class Handle, class... Ts>
  auto send_to(const Handle& dest, bool to_pool, caf::timespan timeout,
               Ts&&... xs) {
    using token =
      caf::detail::type_list<typename caf::detail::implicit_conversions<
        typename std::decay<Ts>::type>::type...>;
    static_assert(
      caf::response_type_unbox<caf::signatures_of_t<Handle>, token>::valid,
      "receiver does not accept given message");
    using output =
      caf::response_type_t<typename Handle::signatures,
                           typename caf::detail::implicit_conversions<
                             typename std::decay<Ts>::type>::type...>;
    auto mid = core_->next_request_id();
    if (timeout <= caf::timespan{0}) {
      core_->fail_now(mid.response_id(),
                      make_error(pool_errc::invalid_request,
                                 "the request's timeout must be "
                                 "positive"));
    } else if (dest) {
      auto ptr = caf::actor_cast<caf::abstract_actor*>(dest);
      ptr->enqueue(caf::make_mailbox_element(core_->sender(), mid, {},
                                             std::forward<Ts>(xs)...),
                   core_->context());
      core_->track(mid, timeout, to_pool ? nullptr : ptr);
    } else {
      core_->fail_now(mid.response_id(),
                      make_error(pool_errc::invalid_request,
                                 "the destination actor handle is "
                                 "empty"));
    }
    return client_response<output>{core_, mid.response_id(), to_pool};
  }

  std::shared_ptr<detail::client_core> core_;
};

} // namespace pool
