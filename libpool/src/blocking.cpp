#include "pool/blocking.hpp"

#include "caf/scoped_actor.hpp"

#include "pool/error.hpp"

namespace pool {

struct blocking_pool::impl {
  impl(caf::actor_system& sys, pool_actor hdl, caf::timespan t)
    : self(sys), pool(std::move(hdl)), timeout(t) {
    // nop
  }

  // Sends a request to `dest` and waits for the typed reply.
  template <class T, class Dest, class... Ts>
  caf::expected<T> call(const Dest& dest, Ts&&... xs) {
    caf::expected<T> result{caf::sec::request_timeout};
    self->request(dest, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  caf::scoped_actor self;
  pool_actor pool;
  caf::timespan timeout;
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
  return impl_->call<query_result>(impl_->pool, query_atom::value,
                                   std::move(st));
}

caf::expected<lease> blocking_pool::acquire(caf::timespan wait) {
  return impl_->call<lease>(impl_->pool, acquire_atom::value, wait);
}

caf::expected<query_result> blocking_pool::query(const lease& l, statement st) {
  if (!l.worker)
    return make_error(pool_errc::invalid_lease, "empty lease");
  return impl_->call<query_result>(l.worker, query_atom::value, l.id,
                                   std::move(st));
}

caf::error blocking_pool::release(const lease& l) {
  auto res = impl_->call<caf::ok_atom>(impl_->pool, release_atom::value, l.id);
  return res ? caf::error{} : res.error();
}

caf::expected<std::vector<query_result>>
blocking_pool::transaction(std::vector<statement> sts) {
  return impl_->call<std::vector<query_result>>(
    impl_->pool, transaction_atom::value, std::move(sts));
}

caf::expected<pool_stats> blocking_pool::stats() {
  return impl_->call<pool_stats>(impl_->pool, stats_atom::value);
}

caf::error blocking_pool::shutdown(caf::timespan deadline) {
  auto res =
    impl_->call<caf::ok_atom>(impl_->pool, shutdown_atom::value, deadline);
  return res ? caf::error{} : res.error();
}

} // namespace pool
