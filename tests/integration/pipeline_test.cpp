// Pipelining against a real server: several pooled queries in flight on one
// connection, each independent of its neighbours — a failing one (at
// execution or at its prepare) fails alone, a statement that could open a
// transaction is never pipelined, a stale cached plan is re-prepared, and a
// timed-out query leaves its neighbours answered exactly once.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE pipeline
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <map>

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

namespace {

/// What one client actor saw: its answers in order (value or error), and
/// answers that came while it had no request in flight.
struct client_log {
  std::vector<caf::expected<pool::query_result>> answers;
  size_t duplicates = 0;
};

/// What one client actor needs: where to send, what, where to log.
struct client_job {
  pool::pool_actor pool;
  caf::actor reply_to;
  size_t client = 0;
  size_t rounds = 0;
  std::shared_ptr<std::function<statement(size_t, size_t)>> make;
  client_log* log = nullptr;
};

/// How long a client stays alive after its last answer, counting whatever
/// still arrives as a duplicate.
constexpr auto grace = std::chrono::milliseconds(300);

/// Sends `job->rounds` statements one after another (closed loop) with plain
/// `send`, so that the pool's answers arrive as ordinary messages and a
/// second answer to a request is seen (CAF 0.17.6 drops a second response
/// to a `request`). After the last answer and `grace`, reports to
/// `job->reply_to` and quits.
caf::behavior pipeline_client(caf::event_based_actor* self,
                              std::shared_ptr<client_job> job) {
  auto sent = std::make_shared<size_t>(0);
  auto in_flight = std::make_shared<bool>(false);
  auto send_next = [=] {
    *in_flight = true;
    self->send(job->pool, pool::query_atom_v,
               (*job->make)(job->client, (*sent)++));
  };
  auto on_answer = [=](caf::expected<pool::query_result> a) {
    if (!*in_flight) {
      ++job->log->duplicates;
      return;
    }
    *in_flight = false;
    job->log->answers.emplace_back(std::move(a));
    if (*sent < job->rounds)
      send_next();
    else
      self->delayed_send(self, grace, answer_atom::value);
  };
  // Errors answering a plain `send` arrive as asynchronous messages.
  self->set_error_handler([=](caf::error& err) { on_answer(std::move(err)); });
  send_next();
  return {
    [=](pool::query_result& r) { on_answer(std::move(r)); },
    [=](answer_atom) {
      self->send(job->reply_to, answer_atom::value);
      self->quit();
    },
  };
}

/// Runs `clients` client actors at once; client `c` sends `rounds`
/// statements `make(c, i)` one after another (closed loop) and the answers
/// are collected; checks that each client got exactly one answer per
/// request. Returns one log per client.
std::vector<client_log>
run_clients(fixture& fx, const pool::pool_actor& p, size_t clients,
            size_t rounds, std::function<statement(size_t, size_t)> make) {
  std::vector<client_log> logs(clients);
  auto make_ptr = std::make_shared<decltype(make)>(std::move(make));
  for (size_t c = 0; c < clients; ++c) {
    auto job = std::make_shared<client_job>();
    job->pool = p;
    job->reply_to = caf::actor_cast<caf::actor>(fx.self);
    job->client = c;
    job->rounds = rounds;
    job->make = make_ptr;
    job->log = &logs[c];
    fx.sys.spawn(pipeline_client, job);
  }
  size_t finished = 0;
  fx.self->receive_for(finished, clients)(
    [&](answer_atom) {},
    caf::after(std::chrono::seconds(60)) >>
      [&] { CAF_FAIL("clients did not finish within 60 s"); });
  // Exactly once: one answer per request, no second one.
  for (size_t c = 0; c < clients; ++c) {
    CAF_CHECK_EQUAL(logs[c].answers.size(), rounds);
    CAF_CHECK_EQUAL(logs[c].duplicates, 0u);
  }
  return logs;
}

struct pipeline_fixture : fixture {
  /// One connection, pipeline_depth 4: concurrent queries must share it.
  pool::pool_actor one_connection(caf::timespan query_timeout = 10s) {
    auto pc = make_config(1, 1);
    pc.pipeline_depth = 4;
    pc.query_timeout = query_timeout;
    return spawn(pc);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(pipeline_tests, pipeline_fixture)

CAF_TEST(a failing query fails alone) {
  auto p = one_connection();
  // Clients 0-2 select their own numbers; client 3 divides by zero.
  auto logs = run_clients(*this, p, 4, 200, [](size_t c, size_t i) {
    auto n = std::to_string(c * 1000 + i);
    if (c == 3)
      return statement{"SELECT 1 / ($1::int - $1::int)", {param{n}}};
    return statement{"SELECT $1::int", {param{n}}};
  });
  for (size_t c = 0; c < 4; ++c) {
    CAF_REQUIRE_EQUAL(logs[c].answers.size(), 200u);
    size_t good = 0;
    for (size_t i = 0; i < 200; ++i) {
      auto& a = logs[c].answers[i];
      if (c == 3) {
        if (a || pool::sqlstate(a.error()) != "22012")
          CAF_ERROR("client 3, round " << i << ": " << describe(a));
        else
          ++good;
      } else if (a && a->rows() == 1 &&
                 a->at(0, 0) == std::to_string(c * 1000 + i)) {
        ++good;
      } else {
        CAF_ERROR("client " << c << ", round " << i << ": " << describe(a));
      }
    }
    CAF_CHECK_EQUAL(good, 200u);
  }
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_MESSAGE(st->pipelined << " of 800 queries joined a busy pipeline");
  CAF_CHECK_GREATER(st->pipelined, 0u);
  CAF_CHECK_EQUAL(st->total, 1u);
}

CAF_TEST(a failing prepare fails alone and with its own error) {
  auto p = one_connection();
  // Client 3's SQL text does not parse; its first use is prepared in the
  // pipeline while the next ones may already use the cached name.
  auto logs = run_clients(*this, p, 4, 50, [](size_t c, size_t i) {
    if (c == 3)
      return statement{"SELEKT $1::int", {param{std::to_string(i)}}};
    return statement{"SELECT $1::int + 1", {param{std::to_string(i)}}};
  });
  for (size_t c = 0; c < 4; ++c)
    for (size_t i = 0; i < 50; ++i) {
      auto& a = logs[c].answers[i];
      bool right = c == 3 ? !a && pool::sqlstate(a.error()) == "42601"
                          : a && a->at(0, 0) == std::to_string(i + 1);
      if (!right)
        CAF_ERROR("client " << c << ", round " << i << ": " << describe(a));
      CAF_CHECK(right);
    }
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_MESSAGE(st->pipelined << " of 200 queries joined a busy pipeline");
  CAF_CHECK_GREATER(st->pipelined, 0u);
}

CAF_TEST(a pooled BEGIN never swallows pipelined neighbours) {
  auto table = table_name("pipe_begin");
  auto setup = spawn(1, 1);
  exec(setup, "DROP TABLE IF EXISTS " + table);
  exec(setup, "CREATE TABLE " + table + " (c int, i int)");
  auto p = one_connection();
  // Client 0 sends BEGIN as a pooled autocommit query (the pool rolls the
  // connection back afterwards); the others insert. An insert that joined
  // the open transaction would be rolled back with it and lost.
  auto logs = run_clients(*this, p, 4, 100, [&](size_t c, size_t i) {
    if (c == 0)
      return statement{"BEGIN"};
    return statement{"INSERT INTO " + table + " VALUES ($1::int, $2::int)",
                     {param{std::to_string(c)}, param{std::to_string(i)}}};
  });
  size_t inserted = 0;
  for (size_t c = 1; c < 4; ++c)
    for (auto& a : logs[c].answers)
      if (a && a->affected == 1)
        ++inserted;
      else
        CAF_ERROR("insert failed: " << describe(a));
  CAF_CHECK_EQUAL(inserted, 300u);
  CAF_CHECK_EQUAL(scalar(setup, "SELECT count(*) FROM " + table), "300");
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_GREATER(st->pipelined, 0u);
  exec(setup, "DROP TABLE " + table);
}

CAF_TEST(a stale cached plan is prepared again inside the pipeline) {
  auto table = table_name("pipe_stale");
  auto setup = spawn(1, 1);
  exec(setup, "DROP TABLE IF EXISTS " + table);
  exec(setup, "CREATE TABLE " + table + " (a int)");
  exec(setup, "INSERT INTO " + table + " VALUES (1)");
  auto p = one_connection();
  auto select = [&](size_t, size_t i) {
    return statement{"SELECT * FROM " + table + " WHERE $1::int >= 0",
                     {param{std::to_string(i)}}};
  };
  auto before = run_clients(*this, p, 4, 20, select);
  for (auto& log : before)
    for (auto& a : log.answers)
      CAF_CHECK(a && a->columns.size() == 1u);
  // The cached plans' result type changes (0A000 on their next use).
  exec(setup, "ALTER TABLE " + table + " ADD COLUMN b int DEFAULT 2");
  auto after = run_clients(*this, p, 4, 20, select);
  for (auto& log : after)
    for (auto& a : log.answers)
      if (!a || a->columns.size() != 2u)
        CAF_ERROR("after ALTER TABLE: " << describe(a));
      else
        CAF_CHECK_EQUAL(a->at(0, 1), "2");
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_MESSAGE(st->pipelined << " of 160 queries joined a busy pipeline");
  CAF_CHECK_GREATER(st->pipelined, 0u);
  exec(setup, "DROP TABLE " + table);
}

CAF_TEST(evicted statements are deallocated while pipelining) {
  auto pc = make_config(1, 1);
  pc.pipeline_depth = 4;
  pc.statement_cache_size = 2;
  auto p = spawn(pc);
  // 60 SQL texts through a cache of 2: without deallocation inside the
  // pipeline the session would keep every one of them prepared.
  auto logs = run_clients(*this, p, 4, 60, [](size_t c, size_t i) {
    auto k = std::to_string((c * 60 + i) % 60);
    return statement{"SELECT $1::int + " + k, {param{std::to_string(i)}}};
  });
  for (size_t c = 0; c < 4; ++c)
    for (size_t i = 0; i < 60; ++i) {
      auto& a = logs[c].answers[i];
      auto want = std::to_string(i + (c * 60 + i) % 60);
      if (!a || a->at(0, 0) != want)
        CAF_ERROR("client " << c << ", round " << i << ": " << describe(a));
    }
  // The one connection's session: at most the cache, a batch waiting for
  // deallocation and this statement's own prepare.
  auto left =
    std::stoi(scalar(p, "SELECT count(*) FROM pg_prepared_statements"));
  CAF_MESSAGE(left << " statements prepared on the session at the end");
  CAF_CHECK_LESS_OR_EQUAL(left, 2 + 8 + 1);
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_GREATER(st->pipelined, 0u);
}

/// Proves: a query past query_timeout is answered query_timeout, while the
/// quick queries pipelined around it on the same connection get their
/// results (each neighbour most of its rounds), every request exactly one
/// answer, and the connection is clean afterwards.
CAF_TEST(a timed out query leaves its neighbours answered once) {
  auto p = one_connection(300ms);
  // Client 0 sleeps past query_timeout at its first round; the others
  // run quick queries in the same pipeline around it.
  auto logs = run_clients(*this, p, 4, 20, [](size_t c, size_t i) {
    if (c == 0 && i == 0)
      return statement{"SELECT pg_sleep(5)"};
    return statement{"SELECT $1::int", {param{std::to_string(i)}}};
  });
  size_t timeouts = 0;
  size_t ok = 0;
  std::vector<size_t> ok_of(4, 0);
  for (size_t c = 0; c < 4; ++c) {
    for (size_t i = 0; i < logs[c].answers.size(); ++i) {
      auto& a = logs[c].answers[i];
      if (a && a->at(0, 0) == std::to_string(i)) {
        ++ok;
        ++ok_of[c];
      } else if (!a && pool::is(a.error(), pool::pool_errc::query_timeout)) {
        ++timeouts;
      } else {
        CAF_ERROR("client " << c << ", round " << i << ": " << describe(a));
      }
    }
  }
  CAF_MESSAGE(ok << " answered, " << timeouts << " timed out; per client "
                 << ok_of[0] << "/" << ok_of[1] << "/" << ok_of[2] << "/"
                 << ok_of[3] << " results of 20");
  CAF_CHECK(!logs[0].answers[0]);
  if (!logs[0].answers[0])
    CAF_CHECK(
      pool::is(logs[0].answers[0].error(), pool::pool_errc::query_timeout));
  CAF_CHECK_EQUAL(ok + timeouts, 80u);
  // The neighbours got results: only a round that was queued behind the
  // sleeping query may share its fate; the other rounds run.
  for (size_t c = 1; c < 4; ++c)
    CAF_CHECK_GREATER_OR_EQUAL(ok_of[c], 10u);
  CAF_CHECK_GREATER_OR_EQUAL(ok_of[0], 10u); // its rounds after the sleep
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_MESSAGE(st->pipelined << " of 80 queries joined a busy pipeline");
  CAF_CHECK_GREATER(st->pipelined, 0u);
  // The connection is clean and usable afterwards.
  CAF_CHECK_EQUAL(scalar(p, statement{"SELECT $1::int", {param{"7"}}}), "7");
}

/// Proves: with statement_cache_size = 0 (for PgBouncer's transaction mode)
/// parameterised queries work, alone and pipelined, and the session never
/// holds a prepared statement of the pool (named `lp_*`); with the default
/// cache the same queries do leave `lp_*` statements (so the check can see
/// them).
CAF_TEST(statement cache off prepares nothing on the session) {
  const std::string count_lp = "SELECT count(*) FROM pg_prepared_statements "
                               "WHERE name LIKE 'lp\\_%'";
  for (size_t cache : {size_t{0}, pool::pool_config{}.statement_cache_size}) {
    auto pc = make_config(1, 1);
    pc.pipeline_depth = 4;
    pc.statement_cache_size = cache;
    auto p = spawn(pc);
    auto pid = scalar(p, "SELECT pg_backend_pid()");
    for (int i = 0; i < 10; ++i)
      CAF_CHECK_EQUAL(scalar(p, statement{"SELECT $1::int + 1", {i}}),
                      std::to_string(i + 1));
    auto logs = run_clients(*this, p, 4, 20, [](size_t c, size_t i) {
      return statement{"SELECT $1::int * 2", {param{std::to_string(c + i)}}};
    });
    for (size_t c = 0; c < 4; ++c)
      for (size_t i = 0; i < logs[c].answers.size(); ++i) {
        auto& a = logs[c].answers[i];
        if (!a || a->at(0, 0) != std::to_string(2 * (c + i)))
          CAF_ERROR("cache " << cache << ", client " << c << ", round " << i
                             << ": " << describe(a));
      }
    auto st = stats(p);
    IT_REQUIRE_OK(st);
    auto left = scalar(p, count_lp);
    CAF_MESSAGE("statement_cache_size " << cache << ": " << left
                                        << " lp_* statements on the session, "
                                        << st->pipelined << " pipelined");
    CAF_CHECK_GREATER(st->pipelined, 0u);
    // Still the same session: the count is about the session that ran them.
    CAF_CHECK_EQUAL(scalar(p, "SELECT pg_backend_pid()"), pid);
    if (cache == 0)
      CAF_CHECK_EQUAL(left, "0");
    else
      CAF_CHECK_NOT_EQUAL(left, "0");
    shutdown(p);
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
