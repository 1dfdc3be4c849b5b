#include "workload.hpp"

#include <algorithm>
#include <utility>

#include "caf/all.hpp"

#include "pool/error.hpp"

#include "client.hpp"

namespace demo {

namespace detail {

namespace {

constexpr const char* transfer_sql =
  "UPDATE demo_accounts SET balance = balance + $2 WHERE id = $1";

void step(client_actor* self);

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

bool has_sqlstate(const caf::error& err, const char* state) {
  return pool::is(err, pool::pool_errc::query_failed) &&
         pool::sqlstate(err) == state;
}

} // namespace

kind_tally& tally(client_actor* self, op_kind k) {
  return self->state.rep.kinds[static_cast<size_t>(k)];
}

void succeed(client_actor* self, op_kind k, clock::time_point start) {
  ++tally(self, k).ok;
  next_op(self, k, start);
}

void fail(client_actor* self, op_kind k, clock::time_point start,
          const caf::error& err, bool expected) {
  auto& t = tally(self, k);
  if (expected) {
    ++t.ok;
    ++t.expected_errors;
    note(t, "expected: " + pool::describe(err));
  } else {
    ++t.unexpected;
    if (pool::is(err, pool::pool_errc::request_timeout))
      ++self->state.rep.unanswered;
    note(t, "UNEXPECTED: " + pool::describe(err));
  }
  next_op(self, k, start);
}

void mismatch(client_actor* self, op_kind k, clock::time_point start,
              const std::string& what) {
  auto& t = tally(self, k);
  ++t.unexpected;
  note(t, "UNEXPECTED: " + what);
  next_op(self, k, start);
}

namespace {

// -- role::query --------------------------------------------------------------

void run_insert(client_actor* self) {
  auto& st = self->state;
  auto start = clock::now();
  auto n = ++st.seq;
  ++tally(self, op_kind::insert).statements;
  pool::statement stmt{"INSERT INTO demo_items (client, n, payload) "
                       "VALUES ($1, $2, $3) RETURNING id",
                       {st.p.id, n, "payload #" + std::to_string(n)}};
  self->state.db.request(request_timeout, pool::query_atom::value, stmt)
    .then(
      [=](pool::query_result& r) {
        if (r.rows() != 1)
          return mismatch(self, op_kind::insert, start,
                          "INSERT ... RETURNING gave " +
                            std::to_string(r.rows()) + " rows");
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
  self->state.db.request(request_timeout, pool::query_atom::value, stmt)
    .then(
      [=](pool::query_result& r) {
        auto seen = r.rows() == 1 ? std::stoull(r.at(0, 0)) : 0;
        auto acked = self->state.rep.inserts_acked;
        // A failed INSERT may still have committed (connection lost).
        if (seen == acked || (self->state.insert_failed && seen > acked))
          return succeed(self, op_kind::select, start);
        mismatch(self, op_kind::select, start,
                 "read-your-writes violated: " + std::to_string(acked) +
                   " inserts acknowledged, " + std::to_string(seen) +
                   " rows visible");
      },
      [=](caf::error& err) { fail(self, op_kind::select, start, err); });
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
  self->state.db.request(request_timeout, pool::transaction_atom::value, sts)
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
  self->state.db
    .request(request_timeout, pool::query_atom::value,
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
  self->state.db.request(request_timeout, pool::transaction_atom::value, sts)
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
  st.db = pool::client{self, st.p.pool};
  self->send(self, pace_atom::value);
  return {[=](pace_atom) { step(self); }};
}

} // namespace

} // namespace detail

const char* to_string(role r) {
  static constexpr const char* names[] = {"query", "session", "transfer",
                                          "bad_sql", "dup_txn"};
  return names[static_cast<size_t>(r)];
}

const char* to_string(op_kind k) {
  static constexpr const char* names[] = {"insert",   "select",  "session",
                                          "transfer", "bad_sql", "dup_txn"};
  return names[static_cast<size_t>(k)];
}

role role_for(size_t i) {
  static constexpr role pattern[16] = {
    role::query,   role::session, role::transfer, role::bad_sql,
    role::dup_txn, role::query,   role::query,    role::query,
    role::query,   role::session, role::transfer, role::query,
    role::query,   role::query,   role::query,    role::query};
  return pattern[i % 16];
}

caf::actor spawn_client(caf::actor_system& sys, client_params p) {
  return sys.spawn(detail::client_impl, std::move(p));
}

} // namespace demo
