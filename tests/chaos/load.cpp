#include "load.hpp"

#include <set>
#include <sstream>
#include <thread>

#include "caf/all.hpp"

#include "pool/error.hpp"

namespace chaos {

using namespace std::chrono_literals;

namespace {

/// Client → itself: time for the next step.
using next_atom = caf::atom_constant<caf::atom("next")>;

/// Client → itself: the deadline of the request with this token.
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;

/// Client → itself: the grace period after the last answer is over.
using leave_atom = caf::atom_constant<caf::atom("leave")>;

} // namespace

struct load_state {
  mutable std::mutex mtx;
  load_report rep; // guarded by mtx
  /// Every lease id handed out (guarded by mtx): ids are single-use.
  std::set<uint64_t> lease_ids;
  std::atomic<bool> stopping{false};
  /// Clients still working (not yet past their last answer).
  std::atomic<size_t> running{0};
  /// Client actors alive.
  std::atomic<size_t> alive{0};
  std::atomic<uint64_t> ok{0};

  void count_sent() {
    std::lock_guard<std::mutex> guard{mtx};
    ++rep.sent;
  }

  void count_duplicate() {
    std::lock_guard<std::mutex> guard{mtx};
    ++rep.duplicates;
  }

  void record(const char* op, time_point sent, std::string kind,
              std::string message, std::string server = {}) {
    auto now = clock_type::now();
    std::lock_guard<std::mutex> guard{mtx};
    ++rep.answered;
    ++rep.by_kind[kind];
    ++rep.by_op[op][kind];
    if (kind == ok_kind)
      ++ok;
    else if (rep.example.count(kind) == 0)
      rep.example.emplace(kind, message);
    if (kind == wrong_value_kind)
      ++rep.wrong_values;
    rep.records.push_back(answer_record{sent, now, op, std::move(kind),
                                        std::move(message), std::move(server)});
  }

  /// Returns false if `id` was handed out before.
  bool fresh_lease_id(uint64_t id) {
    std::lock_guard<std::mutex> guard{mtx};
    return lease_ids.insert(id).second;
  }
};

std::string kind_of(const caf::error& err) {
  if (err.category() == pool::pool_error_category::value)
    return pool::to_string(static_cast<pool::pool_errc>(err.code()));
  if (err == caf::sec::request_receiver_down)
    return receiver_down_kind;
  return "caf:" + caf::to_string(err);
}

uint64_t load_report::count(const std::string& kind) const {
  auto i = by_kind.find(kind);
  return i != by_kind.end() ? i->second : 0;
}

uint64_t load_report::count(const std::string& op,
                            const std::string& kind) const {
  auto i = by_op.find(op);
  if (i == by_op.end())
    return 0;
  auto j = i->second.find(kind);
  return j != i->second.end() ? j->second : 0;
}

std::vector<answer_record> load_report::sent_between(time_point from,
                                                     time_point to) const {
  std::vector<answer_record> result;
  for (auto& r : records)
    if (r.sent >= from && r.sent < to)
      result.push_back(r);
  return result;
}

std::string load_report::summary() const {
  std::ostringstream out;
  out << "sent " << sent << ", answered " << answered << ", duplicates "
      << duplicates << ", wrong values " << wrong_values;
  for (auto& kv : by_kind)
    out << ", " << kv.first << " " << kv.second;
  return out.str();
}

namespace {

/// The request a client has in flight.
struct in_flight {
  bool active = false;
  uint64_t token = 0;
  const char* op = "";
  int32_t value = 0;
  time_point sent;
};

struct client_state {
  static inline const char* name = "chaos_load_client";
  std::shared_ptr<load_state> st;
  pool::pool_actor pool;
  load_options opts;
  workload work = workload::query;
  int32_t id = 0;
  int32_t seq = 0;
  uint64_t next_token = 0;
  in_flight cur;
  /// Lease workload: the lease held, and whether its query ran.
  bool holding = false;
  bool queried = false;
  pool::lease held;
  bool leaving = false;
};

using client_actor = caf::stateful_actor<client_state>;

bool is_value(const pool::query_result& r, int64_t want) {
  return r.rows() == 1 && r.columns.size() == 1 && !r.is_null(0, 0) &&
         r.at(0, 0) == std::to_string(want);
}

void next_step(client_actor* self, bool pause) {
  auto& s = self->state;
  if (pause && s.opts.pause.count() > 0)
    self->delayed_send(self, s.opts.pause, next_atom::value);
  else
    self->send(self, next_atom::value);
}

/// Marks a request of `op` in flight and arms its deadline; returns its
/// value.
int32_t begin(client_actor* self, const char* op) {
  auto& s = self->state;
  s.cur.active = true;
  s.cur.token = ++s.next_token;
  s.cur.op = op;
  s.cur.value = s.id * 1000000 + (++s.seq % 1000000);
  s.cur.sent = clock_type::now();
  s.st->count_sent();
  self->delayed_send(self, s.opts.request_timeout, deadline_atom::value,
                     s.cur.token);
  return s.cur.value;
}

/// Whether an answer for `op` matches the request in flight; if not, it is
/// counted as a duplicate.
bool matches(client_actor* self, const char* op) {
  auto& s = self->state;
  if (s.cur.active && std::string{s.cur.op} == op)
    return true;
  s.st->count_duplicate();
  return false;
}

/// Records the answer to the request in flight and ends it.
void finish(client_actor* self, std::string kind, std::string message,
            std::string server = {}) {
  auto& s = self->state;
  s.cur.active = false;
  s.st->record(s.cur.op, s.cur.sent, std::move(kind), std::move(message),
               std::move(server));
}

/// The operation of a client's `query_result` answers.
const char* query_op(workload w) {
  switch (w) {
  case workload::write:
    return op_write;
  case workload::read:
    return op_read;
  default:
    return op_query;
  }
}

void send_lease_query(client_actor* self) {
  auto& s = self->state;
  auto value = begin(self, op_lease_query);
  auto token = s.cur.token;
  auto answered = [self, token] {
    auto& s = self->state;
    if (!s.cur.active || s.cur.token != token) {
      s.st->count_duplicate();
      return false;
    }
    s.queried = true;
    return true;
  };
  self
    ->request(s.held.worker, caf::infinite, pool::query_atom_v, s.held.id,
              pool::statement{"SELECT $1::int", {value}})
    .then(
      [=](pool::query_result& r) {
        if (!answered())
          return;
        if (is_value(r, value))
          finish(self, ok_kind, {});
        else
          finish(self, wrong_value_kind, "expected " + std::to_string(value));
        next_step(self, false); // the release
      },
      [=](caf::error& err) {
        if (!answered())
          return;
        finish(self, kind_of(err), pool::describe(err));
        next_step(self, false); // the release
      });
}

void step(client_actor* self) {
  auto& s = self->state;
  if (s.st->stopping && !s.holding) {
    if (!s.leaving) {
      s.leaving = true;
      --s.st->running;
      self->delayed_send(self, s.opts.grace, leave_atom::value);
    }
    return;
  }
  switch (s.work) {
  case workload::query: {
    auto v = begin(self, op_query);
    self->send(s.pool, pool::query_atom_v,
               pool::statement{"SELECT $1::int", {v}});
    break;
  }
  case workload::write: {
    auto v = begin(self, op_write);
    self->send(s.pool, pool::query_atom_v,
               pool::statement{"INSERT INTO " + s.opts.write_table +
                                 " (v) VALUES ($1) RETURNING v",
                               {v}});
    break;
  }
  case workload::read: {
    auto v = begin(self, op_read);
    self->send(s.pool, pool::query_atom_v,
               pool::reads({"SELECT $1::int, inet_server_port()::text", {v}}));
    break;
  }
  case workload::transaction: {
    auto v = begin(self, op_transaction);
    std::vector<pool::statement> sts{
      pool::statement{"SELECT $1::int", {v}},
      pool::statement{"SELECT $1::int + 1", {v}}};
    self->send(s.pool, pool::transaction_atom_v, std::move(sts));
    break;
  }
  case workload::lease:
    if (!s.holding) {
      begin(self, op_acquire);
      self->send(s.pool, pool::acquire_atom_v, s.opts.acquire_wait);
    } else if (!s.queried) {
      send_lease_query(self);
    } else {
      begin(self, op_release);
      self->send(s.pool, pool::release_atom_v, s.held.id);
    }
    break;
  }
}

caf::behavior client(client_actor* self, std::shared_ptr<load_state> st,
                     pool::pool_actor p, load_options opts, workload work,
                     int32_t id) {
  auto& s = self->state;
  s.st = st;
  s.pool = std::move(p);
  s.opts = opts;
  s.work = work;
  s.id = id;
  self->attach_functor([st] { --st->alive; });
  // Errors answering a plain `send` arrive as asynchronous messages. Lease
  // queries are answered through `then`: an error here while one is in
  // flight answers nothing the client asked.
  self->set_error_handler([=](caf::error& err) {
    auto& s = self->state;
    if (!s.cur.active || std::string{s.cur.op} == op_lease_query) {
      s.st->count_duplicate();
      return;
    }
    if (std::string{s.cur.op} == op_release) {
      s.holding = false;
      s.queried = false;
    }
    finish(self, kind_of(err), pool::describe(err));
    next_step(self, true);
  });
  self->send(self, next_atom::value);
  return {
    [=](next_atom) { step(self); },
    [=](pool::query_result& r) {
      auto& s = self->state;
      if (!matches(self, query_op(s.work)))
        return;
      std::string server;
      if (s.work == workload::read) {
        // Two columns: the value and the server's port; check the value
        // alone like any other query.
        if (r.rows() == 1 && r.columns.size() == 2 && !r.is_null(0, 1)) {
          server = r.at(0, 1);
          r.columns.pop_back();
          r.cells.pop_back();
        }
      }
      if (!is_value(r, s.cur.value)) {
        // A result for an earlier request of this client is a second
        // answer; any other value is wrong.
        auto earlier = r.rows() == 1 && !r.is_null(0, 0) &&
                       r.at(0, 0) != std::to_string(s.cur.value);
        if (earlier) {
          try {
            auto v = std::stol(r.at(0, 0));
            if (v / 1000000 == s.id && v < s.cur.value) {
              s.st->count_duplicate();
              return;
            }
          } catch (...) {
            // not a number: wrong
          }
        }
        finish(self, wrong_value_kind,
               "expected " + std::to_string(s.cur.value));
      } else {
        finish(self, ok_kind, {}, std::move(server));
      }
      next_step(self, true);
    },
    [=](std::vector<pool::query_result>& rs) {
      auto& s = self->state;
      if (!matches(self, op_transaction))
        return;
      auto v = s.cur.value;
      if (rs.size() == 2 && is_value(rs[0], v) && is_value(rs[1], v + 1))
        finish(self, ok_kind, {});
      else
        finish(self, wrong_value_kind,
               "expected [" + std::to_string(v) + ", " + std::to_string(v + 1) +
                 "]");
      next_step(self, true);
    },
    [=](pool::lease& l) {
      auto& s = self->state;
      if (!matches(self, op_acquire)) {
        // Not ours (any more): give it back so that it does not leak.
        caf::anon_send(s.pool, pool::release_atom_v, l.id);
        return;
      }
      if (!l.worker || !s.st->fresh_lease_id(l.id)) {
        finish(self, wrong_value_kind,
               "lease " + std::to_string(l.id) +
                 (l.worker ? " handed out twice" : " without a worker"));
        if (l.worker)
          caf::anon_send(s.pool, pool::release_atom_v, l.id);
        next_step(self, true);
        return;
      }
      finish(self, ok_kind, {});
      s.held = std::move(l);
      s.holding = true;
      s.queried = false;
      next_step(self, false);
    },
    [=](caf::ok_atom) {
      auto& s = self->state;
      if (!matches(self, op_release))
        return;
      finish(self, ok_kind, {});
      s.holding = false;
      s.queried = false;
      next_step(self, true);
    },
    [=](deadline_atom, uint64_t token) {
      auto& s = self->state;
      if (!s.cur.active || s.cur.token != token)
        return;
      auto op = std::string{s.cur.op};
      finish(self, no_answer_kind,
             "no answer within the client's deadline of " +
               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                s.opts.request_timeout)
                                .count()) +
               " s");
      if (op == op_lease_query) {
        s.queried = true; // release it next
      } else if (op == op_release) {
        s.holding = false;
        s.queried = false;
      }
      next_step(self, true);
    },
    [=](leave_atom) { self->quit(); },
  };
}

} // namespace

load_generator::load_generator(caf::actor_system& sys, pool::pool_actor pool,
                               load_options opts)
  : sys_(sys), pool_(std::move(pool)), opts_(opts),
    state_(std::make_shared<load_state>()) {
  // nop
}

load_generator::~load_generator() {
  if (state_->alive == 0)
    return;
  auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(
                 opts_.request_timeout + opts_.grace) +
               2000ms;
  if (!stop(limit)) {
    for (auto& c : clients_)
      caf::anon_send_exit(c, caf::exit_reason::kill);
    auto deadline = clock_type::now() + 5s;
    while (state_->alive > 0 && clock_type::now() < deadline)
      std::this_thread::sleep_for(10ms);
  }
}

void load_generator::start() {
  {
    std::lock_guard<std::mutex> guard{state_->mtx};
    state_->rep.started = clock_type::now();
  }
  state_->running += opts_.clients;
  state_->alive += opts_.clients;
  auto& ws = opts_.workloads;
  for (size_t i = 0; i < opts_.clients; ++i)
    clients_.push_back(
      sys_.spawn(client, state_, pool_, opts_,
                 ws.empty() ? workload::query : ws[i % ws.size()],
                 static_cast<int32_t>(i + 1)));
}

bool load_generator::stop(std::chrono::milliseconds limit) {
  state_->stopping = true;
  auto deadline = clock_type::now() + limit;
  while (state_->alive > 0) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

uint64_t load_generator::ok_count() const {
  return state_->ok;
}

bool load_generator::wait_for_ok(uint64_t n,
                                 std::chrono::milliseconds limit) const {
  auto target = state_->ok + n;
  auto deadline = clock_type::now() + limit;
  while (state_->ok < target) {
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

load_report load_generator::report() const {
  std::lock_guard<std::mutex> guard{state_->mtx};
  return state_->rep;
}

} // namespace chaos
