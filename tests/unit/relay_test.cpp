#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE relay
#include "fixture.hpp"

#include "pool/remote.hpp"
#include "relay.hpp"
#include "results.hpp"

// The batched query path of `connect_pool`, on one node under the test
// coordinator: a relay, its inbox and a gateway in front of a pool on the
// fake backend. A tap between relay and gateway counts the batches. (The
// same parts across two processes: tests/node, suite node.remote.)

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

/// What the tap saw: batches and the queries in them.
struct tap_counts {
  int batches = 0;
  size_t queries = 0;
};

/// Stands between the relay and the gateway: counts each batch, passes it on.
caf::behavior tap_impl(caf::event_based_actor* self, caf::actor next,
                       std::shared_ptr<tap_counts> counts) {
  return {
    [=](relay_atom a, std::vector<detail::relay_query>& qs) {
      ++counts->batches;
      counts->queries += qs.size();
      self->send(next, a, std::move(qs));
    },
  };
}

/// The exit reason of a watched actor, once it stopped.
struct watched {
  bool down = false;
  caf::error reason;
};

/// Spawns a watcher of `whom`, kept in `keep` (an unreferenced actor stops).
std::shared_ptr<watched> watch(caf::actor_system& sys, caf::actor whom,
                               std::vector<caf::actor>& keep) {
  auto w = std::make_shared<watched>();
  keep.push_back(sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    self->monitor(whom);
    self->set_down_handler([=](caf::down_msg& dm) {
      w->down = true;
      w->reason = dm.reason;
      self->quit();
    });
    return {[](caf::ok_atom) {}};
  }));
  return w;
}

struct relay_fixture : fixture {
  std::shared_ptr<tap_counts> counts = std::make_shared<tap_counts>();
  pool_actor pool;
  caf::actor inbox;
  caf::actor gateway;
  caf::actor tap;
  pool_actor relay;

  relay_fixture() {
    pool = start(make_config(2, 2));
    inbox = detail::spawn_relay_inbox(sys);
    gateway = detail::spawn_relay_gateway(sys, pool, inbox, caf::actor{}, 0);
    tap = sys.spawn(tap_impl, gateway, counts);
    relay = detail::spawn_relay(sys, pool, tap, inbox, nullptr);
    sched.run();
  }

  ~relay_fixture() override {
    for (auto& a : {caf::actor_cast<caf::actor>(relay), tap, gateway, inbox})
      caf::anon_send_exit(a, caf::exit_reason::kill);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(relay_tests, relay_fixture)

CAF_TEST(queries sent while the relay is busy travel in one batch) {
  std::vector<outcome_ptr<query_result>> os;
  for (int i = 0; i < 10; ++i) {
    auto sql = "SELECT " + std::to_string(i);
    script->rules[sql].result = one_value(std::to_string(i));
    if (i % 2 == 0)
      os.push_back(ask<query_result>(relay, query_atom_v, statement{sql}));
    else
      os.push_back(ask<query_result>(relay, query_atom_v, priority::batch,
                                     statement{sql}));
  }
  sched.run();
  CAF_CHECK_EQUAL(counts->batches, 1);
  CAF_CHECK_EQUAL(counts->queries, 10u);
  for (int i = 0; i < 10; ++i) {
    CAF_REQUIRE(os[i]->ok());
    CAF_CHECK_EQUAL(os[i]->value->at(0, 0), std::to_string(i));
  }
  // The pool counted them by class: the relay kept each query's priority.
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.by_priority[static_cast<size_t>(priority::batch)].acquired,
                  5u);
  CAF_CHECK_EQUAL(
    st.by_priority[static_cast<size_t>(priority::normal)].acquired, 5u);
}

CAF_TEST(a failed query reaches its caller with the error of the pool) {
  script->rules["SELECT broken"].error =
    make_error(pool_errc::query_failed, "syntax error", "42601");
  script->rules["SELECT 1"].result = one_value("1");
  auto bad = ask<query_result>(relay, query_atom_v, statement{"SELECT broken"});
  auto good = ask<query_result>(relay, query_atom_v, statement{"SELECT 1"});
  auto invalid = ask<query_result>(relay, query_atom_v, statement{""});
  sched.run();
  CAF_CHECK(bad->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(bad->err), "42601");
  CAF_CHECK(good->ok());
  CAF_CHECK(invalid->failed_with(pool_errc::invalid_request));
}

CAF_TEST(transactions travel in the batch with the queries) {
  script->rules["SELECT 1"].result = one_value("1");
  script->rules["SELECT 2"].result = one_value("2");
  script->rules["SELECT broken"].error =
    make_error(pool_errc::query_failed, "syntax error", "42601");
  using results = std::vector<query_result>;
  auto q = ask<query_result>(relay, query_atom_v, statement{"SELECT 2"});
  auto t = ask<results>(relay, transaction_atom_v,
                        std::vector<statement>{{"SELECT 1"}, {"SELECT 2"}});
  auto bad =
    ask<results>(relay, transaction_atom_v, priority::interactive,
                 std::vector<statement>{{"SELECT 1"}, {"SELECT broken"}});
  sched.run();
  CAF_CHECK_EQUAL(counts->batches, 1);
  CAF_CHECK_EQUAL(counts->queries, 3u);
  CAF_REQUIRE(q->ok());
  CAF_CHECK_EQUAL(q->value->at(0, 0), "2");
  CAF_REQUIRE(t->ok());
  CAF_REQUIRE_EQUAL(t->value->size(), 2u);
  CAF_CHECK_EQUAL((*t->value)[0].at(0, 0), "1");
  CAF_CHECK_EQUAL((*t->value)[1].at(0, 0), "2");
  CAF_CHECK(bad->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(bad->err), "42601");
  auto st = stats(pool);
  CAF_CHECK_EQUAL(
    st.by_priority[static_cast<size_t>(priority::interactive)].acquired, 1u);
}

CAF_TEST(other requests reach the pool with their sender) {
  auto l = ask<lease>(relay, acquire_atom_v, caf::timespan{5s});
  sched.run();
  CAF_REQUIRE(l->ok());
  CAF_CHECK_EQUAL(counts->batches, 0);
  CAF_CHECK_EQUAL(stats(pool).leased, 1u);
  // The holder is the client, not the relay: its death frees the lease.
  caf::anon_send_exit(l->client, caf::exit_reason::kill);
  sched.run();
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.leased, 0u);
  CAF_CHECK_EQUAL(st.leases_reclaimed, 1u);
}

CAF_TEST(a lost gateway fails the queries the relay holds and stops it) {
  script->rules["SELECT pg_sleep(60)"].hang = true;
  auto held =
    ask<query_result>(relay, query_atom_v, statement{"SELECT pg_sleep(60)"});
  sched.run();
  CAF_REQUIRE_EQUAL(held->answers, 0);
  auto r = watch(sys, caf::actor_cast<caf::actor>(relay), clients);
  auto i = watch(sys, inbox, clients);
  auto g = watch(sys, gateway, clients);
  sched.run();
  caf::anon_send_exit(tap, caf::exit_reason::remote_link_unreachable);
  sched.run();
  CAF_CHECK(held->failed_with(pool_errc::pool_down));
  CAF_CHECK_EQUAL(describe(held->err),
                  "pool_down: the pool's node is unreachable (connection "
                  "lost)");
  CAF_CHECK(r->down);
  CAF_CHECK_EQUAL(r->reason, caf::exit_reason::remote_link_unreachable);
  // The relay stopped its inbox, and the gateway followed the inbox.
  CAF_CHECK(i->down);
  CAF_CHECK(g->down);
  // A request to the stopped relay bounces: the client helper maps that to
  // shutting_down.
  auto late =
    ask_request<query_result>(relay, query_atom_v, statement{"SELECT 1"});
  sched.run();
  CAF_CHECK_EQUAL(late->err, caf::sec::request_receiver_down);
}

CAF_TEST(a relay that no caller holds stops with its inbox) {
  auto i = watch(sys, inbox, clients);
  auto g = watch(sys, gateway, clients);
  sched.run();
  relay = nullptr;
  sched.run();
  CAF_CHECK(i->down);
  CAF_CHECK(g->down);
}

CAF_TEST_FIXTURE_SCOPE_END()
