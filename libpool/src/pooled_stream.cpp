// A pooled stream: `(stream_atom, statement, receiver, rows_per_chunk)` sent
// to the pool. A short-lived actor leases a connection (it is the lease's
// holder: if it dies, the pool reclaims the lease), runs the lease's stream
// with the caller's receiver, gives the connection back and answers with the
// stream's end. It watches the pool and the worker, because CAF 0.17 fails
// no request whose receiver dies.

#include <string>

#include "caf/event_based_actor.hpp"
#include "caf/local_actor.hpp"
#include "caf/typed_response_promise.hpp"

#include "manager_ops.hpp"
#include "pool/error.hpp"

namespace pool {

namespace {

struct runner_state {
  static const char* name;
  caf::typed_response_promise<stream_end> rp;
  pool_actor pool;
  /// The lease while held (0: none).
  uint64_t lease_id = 0;
  caf::actor_addr worker;
};

const char* runner_state::name = "pool.stream";

using runner_ptr = caf::stateful_actor<runner_state>*;

// Gives the lease back (if held), answers with `res` and exits.
void finish(runner_ptr self, caf::expected<stream_end> res) {
  auto& st = self->state;
  if (st.lease_id != 0)
    self->send(st.pool, release_atom::value, st.lease_id);
  st.lease_id = 0;
  if (st.rp.pending()) {
    if (res)
      st.rp.deliver(std::move(*res));
    else
      st.rp.deliver(std::move(res.error()));
  }
  self->quit();
}

caf::behavior runner(runner_ptr self, pool_actor pool, caf::timespan wait,
                     statement stmt, caf::actor receiver, uint32_t rows,
                     caf::typed_response_promise<stream_end> rp) {
  auto& st = self->state;
  st.rp = std::move(rp);
  st.pool = pool;
  self->monitor(pool);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.pool.address())
      finish(self, make_error(pool_errc::shutting_down,
                              "the pool stopped during the stream"));
    else if (dm.source == st.worker)
      finish(self, make_error(pool_errc::connection_lost,
                              "the stream's connection was lost"));
  });
  // The pool answers an acquire by its deadline; the slack covers a pool
  // that is busy (its loss is the down handler's).
  self->request(pool, wait + std::chrono::seconds(5), acquire_atom::value, wait)
    .then(
      [=](lease& l) {
        auto& st = self->state;
        st.lease_id = l.id;
        st.worker = l.worker.address();
        self->monitor(l.worker);
        // Bounded by the worker: it ends a stream that makes no progress for
        // query_timeout, and its death is the down handler's.
        self
          ->request(l.worker, caf::infinite, stream_atom::value, l.id, stmt,
                    receiver, rows)
          .then([=](stream_end& end) { finish(self, std::move(end)); },
                [=](caf::error& err) { finish(self, std::move(err)); });
      },
      [=](caf::error& err) { finish(self, std::move(err)); });
  return {[](caf::ok_atom) {}}; // a release's reply
}

} // namespace

void start_pooled_stream(manager_ptr self, statement stmt, caf::actor receiver,
                         uint32_t rows,
                         caf::typed_response_promise<stream_end> rp) {
  auto pool = caf::actor_cast<pool_actor>(self);
  self->spawn(runner, pool, self->state.ctx->cfg.acquire_timeout,
              std::move(stmt), std::move(receiver), rows, std::move(rp));
}

} // namespace pool
