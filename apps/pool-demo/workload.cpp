#include "workload.hpp"

#include <algorithm>
#include <memory>
#include <random>
#include <utility>

#include "caf/all.hpp"

#include "pool/error.hpp"

namespace demo {

namespace {

using clock = std::chrono::steady_clock;
using pace_atom = caf::atom_constant<caf::atom("pace")>;

/// Every request carries a finite timeout.
constexpr auto request_timeout = std::chrono::seconds(5);
/// How long `acquire` may wait for a connection.
constexpr auto acquire_wait = std::chrono::seconds(2);
/// The deliberately failing clients pause between attempts.
constexpr auto failing_pace = std::chrono::milliseconds(20);

constexpr const char* transfer_sql
  = "UPDATE demo_accounts SET balance = balance + $2 WHERE id = $1";

struct client_state {
  client_params p;
  client_report rep;
  std::minstd_rand rng;
  clock::time_point deadline;
  uint64_t seq = 0;
  bool insert_failed = false;
};

using client_actor = caf::stateful_actor<client_state>;

void step(client_actor* self);

kind_tally& tally(client_actor* self, op_kind k) {
  return self->state.rep.kinds[static_cast<size_t>(k)];
}

void note(kind_tally& t, std::string line) {
  auto i = t.examples.find(line);
  if (i != t.examples.end())
    ++i->second;
  else if (t.examples.size() < kind_tally::max_examples)
    t.examples.emplace(std::move(line), 1);
  else
    ++t.more;
}

/// Records the latency of a finished operation and starts the next one.
void next_op(client_actor* self, op_kind k, clock::time_point start) {
  tally(self, k).latency_ns.push_back((clock::now() - start).count());
  auto r = self->state.p.r;
  if (r == role::bad_sql || r == role::dup_txn)
    self->delayed_send(self, failing_pace, pace_atom::value);
  else
    step(self);
}

void succeed(client_actor* self, op_kind k, clock::time_point start) {
  ++tally(self, k).ok;
  next_op(self, k, start);
}

void fail(client_actor* self, op_kind k, clock::time_point start,
          const caf::error& err, bool expected = false) {
  auto& t = tally(self, k);
  if (expected) {
    ++t.ok;
    ++t.expected_errors;
    note(t, "expected: " + pool::describe(err));
  } else {
    ++t.unexpected;
    if (err == caf::sec::request_timeout)
      ++self->state.rep.unanswered;
    note(t, "UNEXPECTED: " + pool::describe(err));
  }
  next_op(self, k, start);
}

/// An answer arrived but says something wrong.
void mismatch(client_actor* self, op_kind k, clock::time_point start,
              const std::string& what) {
  auto& t = tally(self, k);
  ++t.unexpected;
  note(t, "UNEXPECTED: " + what);
  next_op(self, k, start);
}

bool has_sqlstate(const caf::error& err, const char* state) {
  return pool::is(err, pool::pool_errc::query_failed)
         && pool::sqlstate(err) == state;
}

// -- role::query --------------------------------------------------------------

void run_insert(client_actor* self) {
  auto& st = self->state;
  auto start = clock::now();
  auto n = ++st.seq;
  ++tally(self, op_kind::insert).statements;
  pool::statement stmt{"INSERT INTO demo_items (client, n, payload) "
                       "VALUES ($1, $2, $3) RETURNING id",
                       {st.p.id, n, "payload #" + std::to_string(n)}};
  self->request(st.p.pool, request_timeout, pool::query_atom::value, stmt)
    .then(
      [=](pool::query_result& r) {
        if (r.rows() != 1)
          return mismatch(self, op_kind::insert, start,
                          "INSERT ... RETURNING gave "
                            + std::to_string(r.rows()) + " rows");
        ++self->state.rep.inserts_acked;
        succeed(self, op_kind::insert, start);
      },
      [=](caf::error& err) {
        self->state.insert_failed = true;
        fail(self, op_kind::insert, start, err);
      });
}

/// Reads back this client's rows: every acknowledged INSERT must be visible.
void run_select(client_actor* self) {
  auto& st = self->state;
  auto start = clock::now();
  ++tally(self, op_kind::select).statements;
  pool::statement stmt{"SELECT count(*) FROM demo_items WHERE client = $1",
                       {st.p.id}};
  self->request(st.p.pool, request_timeout, pool::query_atom::value, stmt)
    .then(
      [=](pool::query_result& r) {
        auto seen = r.rows() == 1 ? std::stoull(r.at(0, 0)) : 0;
        auto acked = self->state.rep.inserts_acked;
        // A failed INSERT may still have committed (connection lost).
        if (seen == acked || (self->state.insert_failed && seen > acked))
          return succeed(self, op_kind::select, start);
        mismatch(self, op_kind::select, start,
                 "read-your-writes violated: " + std::to_string(acked)
                   + " inserts acknowledged, " + std::to_string(seen)
                   + " rows visible");
      },
      [=](caf::error& err) { fail(self, op_kind::select, start, err); });
}

// -- role::session ------------------------------------------------------------

struct session_ctx {
  pool::lease l;
  clock::time_point start;
  uint64_t rows = 0;
  std::string app;
  std::vector<pool::statement> script;
};

std::vector<pool::statement> session_script(uint64_t rows,
                                            const std::string& app) {
  return {
    {"SET statement_timeout = '10s'"},
    {"SELECT set_config('application_name', $1, false)", {app}},
    {"CREATE TEMP TABLE IF NOT EXISTS demo_scratch (x int)"},
    {"TRUNCATE demo_scratch"},
    {"INSERT INTO demo_scratch SELECT generate_series(1, $1::int)", {rows}},
    {"SELECT count(*), current_setting('application_name'), "
     "current_setting('statement_timeout') FROM demo_scratch"},
  };
}

/// Checks that the last statement saw the session state the others set up.
std::string check_session(const pool::query_result& r, const session_ctx& s) {
  if (r.rows() != 1 || r.columns.size() != 3)
    return "session: unexpected result shape";
  if (r.at(0, 0) != std::to_string(s.rows) || r.at(0, 1) != s.app
      || r.at(0, 2) != "10s")
    return "session state lost: count=" + r.at(0, 0) + " app=" + r.at(0, 1)
           + " statement_timeout=" + r.at(0, 2) + " (expected "
           + std::to_string(s.rows) + ", " + s.app + ", 10s)";
  return {};
}

void end_session(client_actor* self, std::shared_ptr<session_ctx> s,
                 std::string problem, caf::error err) {
  self
    ->request(self->state.p.pool, request_timeout, pool::release_atom::value,
              s->l.id)
    .then(
      [=](caf::ok_atom) {
        if (err)
          fail(self, op_kind::session, s->start, err);
        else if (!problem.empty())
          mismatch(self, op_kind::session, s->start, problem);
        else
          succeed(self, op_kind::session, s->start);
      },
      [=](caf::error& rel_err) {
        fail(self, op_kind::session, s->start, err ? err : rel_err);
      });
}

void session_step(client_actor* self, std::shared_ptr<session_ctx> s,
                  size_t i) {
  ++tally(self, op_kind::session).statements;
  self
    ->request(s->l.worker, request_timeout, pool::query_atom::value, s->l.id,
              s->script[i])
    .then(
      [=](pool::query_result& r) {
        if (i + 1 < s->script.size())
          return session_step(self, s, i + 1);
        end_session(self, s, check_session(r, *s), caf::error{});
      },
      [=](caf::error& err) { end_session(self, s, {}, err); });
}

void run_session(client_actor* self) {
  auto& st = self->state;
  auto s = std::make_shared<session_ctx>();
  s->start = clock::now();
  s->rows = 1 + st.rng() % 50;
  s->app = "pool-demo-" + std::to_string(st.p.id) + "-"
           + std::to_string(++st.seq);
  s->script = session_script(s->rows, s->app);
  self
    ->request(st.p.pool, request_timeout, pool::acquire_atom::value,
              caf::timespan{acquire_wait})
    .then(
      [=](pool::lease& l) {
        s->l = std::move(l);
        session_step(self, s, 0);
      },
      [=](caf::error& err) { fail(self, op_kind::session, s->start, err); });
}

// -- role::transfer, role::bad_sql, role::dup_txn ---------------------------

void run_transfer(client_actor* self) {
  auto& st = self->state;
  auto start = clock::now();
  int64_t from = 1 + st.rng() % st.p.accounts;
  int64_t to = 1 + st.rng() % (st.p.accounts - 1);
  if (to >= from)
    ++to;
  int64_t amount = 1 + st.rng() % 50;
  // Update the lower id first: concurrent transfers then lock in the same
  // order and cannot deadlock.
  auto lo = std::min(from, to);
  auto hi = std::max(from, to);
  auto lo_delta = lo == from ? -amount : amount;
  std::vector<pool::statement> sts{{transfer_sql, {lo, lo_delta}},
                                   {transfer_sql, {hi, -lo_delta}}};
  tally(self, op_kind::transfer).statements += sts.size();
  self->request(st.p.pool, request_timeout, pool::transaction_atom::value, sts)
    .then(
      [=](std::vector<pool::query_result>& rs) {
        if (rs.size() != 2 || rs[0].affected != 1 || rs[1].affected != 1)
          return mismatch(self, op_kind::transfer, start,
                          "transfer: unexpected results");
        succeed(self, op_kind::transfer, start);
      },
      [=](caf::error& err) { fail(self, op_kind::transfer, start, err); });
}

void run_bad_sql(client_actor* self) {
  auto start = clock::now();
  ++tally(self, op_kind::bad_sql).statements;
  self
    ->request(self->state.p.pool, request_timeout, pool::query_atom::value,
              pool::statement{"SELEC 1"})
    .then(
      [=](pool::query_result&) {
        mismatch(self, op_kind::bad_sql, start, "SELEC 1 succeeded");
      },
      [=](caf::error& err) {
        fail(self, op_kind::bad_sql, start, err, has_sqlstate(err, "42601"));
      });
}

/// Debits an account, then inserts a row whose key exists: the transaction
/// must fail with 23505 and roll back the debit (checked by the balance sum).
void run_dup_txn(client_actor* self) {
  auto& st = self->state;
  auto start = clock::now();
  int64_t id = 1 + st.rng() % st.p.accounts;
  std::vector<pool::statement> sts{
    {"UPDATE demo_accounts SET balance = balance - 100 WHERE id = $1", {id}},
    {"INSERT INTO demo_accounts (id, balance) VALUES ($1, 100)", {id}}};
  tally(self, op_kind::dup_txn).statements += sts.size();
  self->request(st.p.pool, request_timeout, pool::transaction_atom::value, sts)
    .then(
      [=](std::vector<pool::query_result>&) {
        mismatch(self, op_kind::dup_txn, start, "duplicate key accepted");
      },
      [=](caf::error& err) {
        fail(self, op_kind::dup_txn, start, err, has_sqlstate(err, "23505"));
      });
}

void step(client_actor* self) {
  auto& st = self->state;
  if (clock::now() >= st.deadline) {
    st.rep.finished = clock::now();
    self->send(st.p.collector, std::move(st.rep));
    self->quit();
    return;
  }
  switch (st.p.r) {
    case role::query:
      if (st.rng() % 5 < 3)
        run_insert(self);
      else
        run_select(self);
      break;
    case role::session:
      run_session(self);
      break;
    case role::transfer:
      run_transfer(self);
      break;
    case role::bad_sql:
      run_bad_sql(self);
      break;
    case role::dup_txn:
      run_dup_txn(self);
      break;
  }
}

caf::behavior client_impl(client_actor* self, client_params p) {
  auto& st = self->state;
  st.p = std::move(p);
  st.rng.seed(st.p.id + 1);
  st.rep.id = st.p.id;
  st.rep.r = st.p.r;
  st.rep.started = clock::now();
  st.deadline = st.rep.started + st.p.duration;
  self->send(self, pace_atom::value);
  return {[=](pace_atom) { step(self); }};
}

} // namespace

const char* to_string(role r) {
  static constexpr const char* names[]
    = {"query", "session", "transfer", "bad_sql", "dup_txn"};
  return names[static_cast<size_t>(r)];
}

const char* to_string(op_kind k) {
  static constexpr const char* names[]
    = {"insert", "select", "session", "transfer", "bad_sql", "dup_txn"};
  return names[static_cast<size_t>(k)];
}

role role_for(size_t i) {
  static constexpr role pattern[16]
    = {role::query, role::session, role::transfer, role::bad_sql,
       role::dup_txn, role::query, role::query, role::query,
       role::query, role::session, role::transfer, role::query,
       role::query, role::query, role::query, role::query};
  return pattern[i % 16];
}

caf::actor spawn_client(caf::actor_system& sys, client_params p) {
  return sys.spawn(client_impl, std::move(p));
}

} // namespace demo
