// pool::client against a real pool and server: many requests each answered
// once, a pool shut down with requests pending, a pool on another node whose
// connection is cut, and blocking_pool's own deadline.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE client
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <memory>

#include "caf/io/all.hpp"

#include "../chaos/tcp_forwarder.hpp"
#include "fixture.hpp"

using namespace it;
using pool::statement;

namespace {

/// What a client actor reports when all its requests are answered.
struct tally {
  int ok = 0;
  int wrong = 0;
  /// Errors by their rendering (`pool::describe`).
  std::vector<std::string> errors;
  /// Requests whose handlers ran more than once.
  int duplicates = 0;
};

struct looper_state {
  pool::client db;
  std::vector<int> answers;
  tally t;
  /// Sends the next query; kept in the state (not captured by itself) so
  /// that no reference cycle outlives the actor.
  std::function<void()> send_one;
  static const char* name;
};

const char* looper_state::name = "looper";

using looper_actor = caf::stateful_actor<looper_state>;

/// Sends `n` queries through a client, `parallel` at a time, each checked;
/// sends `(answer_atom, ok, wrong, duplicates, errors)` to `report` once all
/// are answered.
caf::behavior looper(looper_actor* self, pool::pool_actor p, int n,
                     int parallel, caf::timespan timeout, caf::actor report) {
  self->state.db = pool::client{self, p};
  self->state.answers.resize(static_cast<size_t>(n));
  auto next = std::make_shared<int>(0);
  auto done = std::make_shared<int>(0);
  auto finish = [=] {
    auto& t = self->state.t;
    for (auto a : self->state.answers)
      if (a > 1)
        ++t.duplicates;
    self->send(report, answer_atom::value, t.ok, t.wrong, t.duplicates,
               t.errors);
  };
  self->state.send_one = [=] {
    if (*next >= n)
      return;
    auto i = (*next)++;
    self->state.db
      .request(timeout, pool::query_atom_v, statement{"SELECT $1::int", {i}})
      .then(
        [=](const pool::query_result& r) {
          ++self->state.answers[static_cast<size_t>(i)];
          if (r.rows() == 1 && r.at(0, 0) == std::to_string(i))
            ++self->state.t.ok;
          else
            ++self->state.t.wrong;
          if (++*done == n)
            finish();
          self->state.send_one();
        },
        [=](caf::error& e) {
          ++self->state.answers[static_cast<size_t>(i)];
          self->state.t.errors.push_back(pool::describe(e));
          if (++*done == n)
            finish();
          self->state.send_one();
        });
  };
  for (int k = 0; k < parallel; ++k)
    self->state.send_one();
  return {[](caf::ok_atom) {}};
}

/// Waits at most `limit` for a looper's report.
tally await_report(caf::scoped_actor& self, caf::timespan limit) {
  tally t;
  bool got = false;
  self->receive(
    [&](answer_atom, int ok, int wrong, int dups,
        std::vector<std::string>& errors) {
      t.ok = ok;
      t.wrong = wrong;
      t.duplicates = dups;
      t.errors = std::move(errors);
      got = true;
    },
    caf::after(limit) >> [] {});
  if (!got)
    CAF_FAIL("no report from the client actor within the limit");
  return t;
}

/// An actor system that speaks to other nodes.
struct node_config : pool_test::live_config {
  node_config() { load<caf::io::middleman>(); }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(client_tests, fixture)

/// Proves: 2000 queries from 8 actors through pool::client, 4 in flight per
/// actor, are each answered exactly once with the right value.
CAF_TEST(many requests through the client are each answered once) {
  auto p = spawn(2, 4);
  std::vector<caf::actor> loopers;
  for (int i = 0; i < 8; ++i)
    loopers.push_back(
      sys.spawn(looper, p, 250, 4, caf::timespan{30s}, caf::actor{self}));
  int ok = 0;
  for (int i = 0; i < 8; ++i) {
    auto t = await_report(self, caf::timespan{120s});
    ok += t.ok;
    CAF_CHECK_EQUAL(t.wrong, 0);
    CAF_CHECK_EQUAL(t.duplicates, 0);
    CAF_CHECK_EQUAL(t.errors, std::vector<std::string>{});
  }
  CAF_CHECK_EQUAL(ok, 2000);
  for (auto& l : loopers)
    caf::anon_send_exit(l, caf::exit_reason::user_shutdown);
}

/// Proves: requests waiting in a pool that shuts down fail with
/// shutting_down (the pool answers them), and a request sent after the pool
/// has exited fails with shutting_down too (CAF's request_receiver_down,
/// translated by the client).
CAF_TEST(a pool shut down with requests pending) {
  auto p = spawn(1, 1);
  auto l = acquire(p);
  IT_REQUIRE_OK(l);
  auto waiting =
    sys.spawn(looper, p, 5, 5, caf::timespan{30s}, caf::actor{self});
  auto [st, held] =
    wait_for_stats(p, [](const pool::pool_stats& s) { return s.waiting == 5; });
  CAF_REQUIRE(held);
  self->monitor(p);
  self->send(p, pool::shutdown_atom_v, caf::timespan{1s});
  auto t = await_report(self, caf::timespan{30s});
  CAF_CHECK_EQUAL(t.ok, 0);
  CAF_REQUIRE_EQUAL(t.errors.size(), 5u);
  for (auto& e : t.errors)
    CAF_CHECK_EQUAL(e.substr(0, 13), "shutting_down");
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; },
                caf::after(caf::timespan{30s}) >> [] {});
  CAF_REQUIRE(down);
  pools.clear(); // shut down already
  auto late = sys.spawn(looper, p, 1, 1, caf::timespan{30s}, caf::actor{self});
  auto t2 = await_report(self, caf::timespan{30s});
  CAF_CHECK_EQUAL(t2.errors, std::vector<std::string>{
                               "shutting_down: the pool has shut down"});
  caf::anon_send_exit(waiting, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(late, caf::exit_reason::user_shutdown);
}

/// Proves: blocking_pool keeps its own deadline (request_timeout, the pool's
/// error), the late reply does not answer the next call, and it is dropped
/// from the mailbox.
CAF_TEST(blocking pool deadline and late reply) {
  // Two open connections and no pipelining: SELECT 2 must not queue behind
  // the slow statement.
  auto pc = make_config(2, 2);
  pc.pipeline_depth = 1;
  auto p = spawn(pc);
  CAF_REQUIRE(wait_for_stats(p, [](const pool::pool_stats& s) {
                return s.idle == 2;
              }).second);
  pool::blocking_pool bp{sys, p, caf::timespan{300ms}};
  auto slow = bp.query(statement{"SELECT pg_sleep(1)"});
  IT_CHECK_ERRC(slow, pool::pool_errc::request_timeout);
  CAF_CHECK_EQUAL(bp.stale_replies(), 1u);
  auto two = bp.query(statement{"SELECT 2"});
  IT_REQUIRE_OK(two);
  CAF_CHECK_EQUAL(two->at(0, 0), "2");
  std::this_thread::sleep_for(1200ms); // the slow reply arrives meanwhile
  auto three = bp.query(statement{"SELECT 3"});
  IT_REQUIRE_OK(three);
  CAF_CHECK_EQUAL(three->at(0, 0), "3");
  CAF_CHECK_EQUAL(bp.stale_replies(), 0u);
}

/// Proves: a client on another node whose connection to the pool's node is
/// cut gets pool_down ("node is unreachable") for its pending request, not
/// a silence until its 60 s deadline (CAF 0.17 fails nothing by itself).
CAF_TEST(a remote pool whose node is lost) {
  node_config cfg_a;
  caf::actor_system sys_a{cfg_a};
  auto pc = make_config(1, 1);
  auto pa = pool::spawn_pool(sys_a, pc);
  IT_REQUIRE_OK(pa);
  auto port = sys_a.middleman().publish(*pa, 0, "127.0.0.1");
  CAF_REQUIRE(port);
  auto fwd = std::make_unique<chaos::tcp_forwarder>(*port);
  CAF_REQUIRE(fwd->ok());
  {
    node_config cfg_b;
    caf::actor_system sys_b{cfg_b};
    caf::scoped_actor self_b{sys_b};
    auto remote = sys_b.middleman().remote_actor<pool::pool_actor>("127.0.0.1",
                                                                   fwd->port());
    CAF_REQUIRE(remote);
    auto result = std::make_shared<std::string>();
    auto c = sys_b.spawn([=, r = *remote, rep = caf::actor{self_b}](
                           caf::stateful_actor<looper_state>* self) {
      self->state.db = pool::client{self, r};
      self->state.db
        .request(caf::timespan{60s}, pool::query_atom_v,
                 statement{"SELECT pg_sleep(5)"})
        .then(
          [=](const pool::query_result&) {
            self->send(rep, answer_atom::value, std::string{"answered"});
          },
          [=](caf::error& e) {
            self->send(rep, answer_atom::value, pool::describe(e));
          });
      return caf::behavior{[](caf::ok_atom) {}};
    });
    // The query runs on the server; then the connection between the nodes
    // is cut (the forwarder closes both sides).
    caf::scoped_actor self_a{sys_a};
    auto running = pool_test::wait_for_stats(
      self_a, *pa, caf::timespan{10s},
      [](const pool::pool_stats& s) { return s.busy == 1; }, 5000ms);
    CAF_REQUIRE(running.second);
    fwd.reset();
    std::string got;
    self_b->receive([&](answer_atom, std::string& s) { got = s; },
                    caf::after(caf::timespan{30s}) >> [] {});
    CAF_CHECK_EQUAL(got, "pool_down: the pool's node is unreachable "
                         "(connection lost)");
    caf::anon_send_exit(c, caf::exit_reason::user_shutdown);
  }
  caf::scoped_actor self_a{sys_a};
  auto res = pool_test::call<caf::ok_atom>(
    self_a, *pa, caf::timespan{20s}, pool::shutdown_atom_v, caf::timespan{1s});
  CAF_CHECK(res);
}

CAF_TEST_FIXTURE_SCOPE_END()
