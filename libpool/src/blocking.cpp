#include "pool/blocking.hpp"

#include <algorithm>
#include <chrono>

#include "caf/blocking_actor.hpp"
#include "caf/detail/blocking_behavior.hpp"
#include "caf/duration.hpp"
#include "caf/scoped_actor.hpp"

#include "pool/client.hpp"
#include "pool/error.hpp"

namespace pool {

namespace {

using steady = std::chrono::steady_clock;

// A blocking behaviour whose timeout is the time left until `deadline`,
// recomputed each time the actor waits: an unrelated message (a late reply
// of an earlier call) does not restart the wait.
struct until_deadline : caf::detail::blocking_behavior {
  until_deadline(caf::behavior& bhvr, steady::time_point deadline,
                 bool& expired)
    : blocking_behavior(bhvr), deadline_(deadline), expired_(expired) {
    // nop
  }

  caf::duration timeout() override {
    auto left = deadline_ - steady::now();
    if (left < steady::duration::zero())
      left = steady::duration::zero();
    return caf::duration{
      std::chrono::duration_cast<std::chrono::nanoseconds>(left)};
  }

  void handle_timeout() override { expired_ = true; }

  steady::time_point deadline_;
  bool& expired_;
};

// At most this many response ids of calls that timed out are remembered;
// their late replies are taken out of the mailbox before the next call.
constexpr size_t max_stale = 64;

} // namespace

struct blocking_pool::impl {
  impl(caf::actor_system& sys, pool_actor hdl, caf::timespan t)
    : self(sys), pool(std::move(hdl)), timeout(t) {
    // nop
  }

  // Takes the late replies of calls that timed out out of the mailbox (they
  // would otherwise stay there, skipped by every later receive).
  void drop_stale() {
    auto i = stale.begin();
    while (i != stale.end()) {
      bool expired = false;
      // Any reply, of any type, ends up in the error handler: CAF turns a
      // response no handler matches into `unexpected_response`.
      caf::behavior bhvr{[](caf::error&) {}};
      until_deadline wait{bhvr, steady::now(), expired};
      caf::blocking_actor::accept_one_cond rc;
      self->receive_impl(rc, *i, wait);
      i = expired ? i + 1 : stale.erase(i);
    }
  }

  // Sends a request to `dest` with `caf::infinite` (no CAF clock event) and
  // waits for its reply until the call's deadline, on this thread.
  template <class T, class Dest, class... Ts>
  caf::expected<T> call(const Dest& dest, bool to_pool, Ts&&... xs) {
    if (!stale.empty())
      drop_stale();
    auto deadline = steady::now() + timeout;
    caf::expected<T> result{make_error(pool_errc::request_timeout,
                                       "no answer by the caller's deadline")};
    auto hdl = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    bool expired = false;
    caf::behavior bhvr{[&](T& x) { result = std::move(x); },
                       [&](caf::error& err) {
                         result =
                           translate_request_error(std::move(err), to_pool);
                       }};
    until_deadline wait{bhvr, deadline, expired};
    caf::blocking_actor::accept_one_cond rc;
    self->receive_impl(rc, hdl.id(), wait);
    if (expired) {
      stale.push_back(hdl.id());
      if (stale.size() > max_stale)
        stale.erase(stale.begin());
    }
    return result;
  }

  caf::scoped_actor self;
  pool_actor pool;
  caf::timespan timeout;
  // Response ids of calls that timed out and whose reply has not arrived.
  std::vector<caf::message_id> stale;
};

blocking_pool::blocking_pool(caf::actor_system& sys, pool_actor pool,
                             caf::timespan timeout)
  : impl_(std::make_unique<impl>(sys, std::move(pool), timeout)) {
  // nop
}

blocking_pool::~blocking_pool() {
  // nop
}

caf::expected<query_result> blocking_pool::query(statement st) {
  return impl_->call<query_result>(impl_->pool, true, query_atom::value,
                                   std::move(st));
}

caf::expected<lease> blocking_pool::acquire(caf::timespan wait) {
  return impl_->call<lease>(impl_->pool, true, acquire_atom::value, wait);
}

caf::expected<query_result> blocking_pool::query(const lease& l, statement st) {
  if (!l.worker)
    return make_error(pool_errc::invalid_lease, "empty lease");
  return impl_->call<query_result>(l.worker, false, query_atom::value, l.id,
                                   std::move(st));
}

caf::error blocking_pool::release(const lease& l) {
  auto res =
    impl_->call<caf::ok_atom>(impl_->pool, true, release_atom::value, l.id);
  return res ? caf::error{} : res.error();
}

caf::expected<std::vector<query_result>>
blocking_pool::transaction(std::vector<statement> sts) {
  return impl_->call<std::vector<query_result>>(
    impl_->pool, true, transaction_atom::value, std::move(sts));
}

caf::expected<pool_stats> blocking_pool::stats() {
  return impl_->call<pool_stats>(impl_->pool, true, stats_atom::value);
}

caf::error blocking_pool::shutdown(caf::timespan deadline) {
  auto res = impl_->call<caf::ok_atom>(impl_->pool, true, shutdown_atom::value,
                                       deadline);
  return res ? caf::error{} : res.error();
}

caf::expected<query_result> blocking_pool::query(priority prio, statement st) {
  return impl_->call<query_result>(impl_->pool, true, query_atom::value, prio,
                                   std::move(st));
}

caf::expected<lease> blocking_pool::acquire(caf::timespan wait, priority prio) {
  return impl_->call<lease>(impl_->pool, true, acquire_atom::value, wait, prio);
}

caf::expected<std::vector<query_result>>
blocking_pool::transaction(priority prio, std::vector<statement> sts) {
  return impl_->call<std::vector<query_result>>(
    impl_->pool, true, transaction_atom::value, prio, std::move(sts));
}

namespace {

caf::error to_error(const caf::expected<caf::ok_atom>& res) {
  return res ? caf::error{} : res.error();
}

} // namespace

caf::error blocking_pool::resize(uint64_t min_size, uint64_t max_size) {
  return to_error(impl_->call<caf::ok_atom>(
    impl_->pool, true, resize_atom::value, min_size, max_size));
}

caf::error blocking_pool::pause(caf::timespan deadline) {
  return to_error(
    impl_->call<caf::ok_atom>(impl_->pool, true, pause_atom::value, deadline));
}

caf::error blocking_pool::resume() {
  return to_error(
    impl_->call<caf::ok_atom>(impl_->pool, true, resume_atom::value));
}

caf::error blocking_pool::reset() {
  return to_error(
    impl_->call<caf::ok_atom>(impl_->pool, true, reset_atom::value));
}

caf::error blocking_pool::reconfigure(pool_settings x) {
  return to_error(impl_->call<caf::ok_atom>(
    impl_->pool, true, reconfigure_atom::value, std::move(x)));
}

size_t blocking_pool::stale_replies() const noexcept {
  return impl_->stale.size();
}

} // namespace pool
