// role::session: a multi-statement session on a leased connection.

#include <memory>
#include <utility>
#include <vector>

#include "caf/all.hpp"

#include "pool/error.hpp"

#include "client.hpp"

namespace demo::detail {

namespace {

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
  if (r.at(0, 0) != std::to_string(s.rows) || r.at(0, 1) != s.app ||
      r.at(0, 2) != "10s")
    return "session state lost: count=" + r.at(0, 0) + " app=" + r.at(0, 1) +
           " statement_timeout=" + r.at(0, 2) + " (expected " +
           std::to_string(s.rows) + ", " + s.app + ", 10s)";
  return {};
}

void end_session(client_actor* self, std::shared_ptr<session_ctx> s,
                 std::string problem, caf::error err) {
  self->state.db.request(request_timeout, pool::release_atom::value, s->l.id)
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
  self->state.db.query(s->l, request_timeout, s->script[i])
    .then(
      [=](pool::query_result& r) {
        if (i + 1 < s->script.size())
          return session_step(self, s, i + 1);
        end_session(self, s, check_session(r, *s), caf::error{});
      },
      [=](caf::error& err) { end_session(self, s, {}, err); });
}

} // namespace

void run_session(client_actor* self) {
  auto& st = self->state;
  auto s = std::make_shared<session_ctx>();
  s->start = clock::now();
  s->rows = 1 + st.rng() % 50;
  s->app =
    "pool-demo-" + std::to_string(st.p.id) + "-" + std::to_string(++st.seq);
  s->script = session_script(s->rows, s->app);
  self->state.db
    .request(request_timeout, pool::acquire_atom::value,
             caf::timespan{acquire_wait})
    .then(
      [=](pool::lease& l) {
        s->l = std::move(l);
        session_step(self, s, 0);
      },
      [=](caf::error& err) { fail(self, op_kind::session, s->start, err); });
}

} // namespace demo::detail
