#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE nul_byte
#include "fixture.hpp"

#include <algorithm>

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

// "a<NUL>b": libpq would send only "a".
const std::string with_nul{"a\0b", 3};

// Whether `text` contains `part`.
bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct nul_fixture : fixture {
  // Whether the fake backend saw a statement containing `part`.
  bool backend_saw(const std::string& part) {
    return std::any_of(
      script->log.begin(), script->log.end(),
      [&](const std::string& line) { return has(line, part); });
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(nul_byte_tests, nul_fixture)

// A query parameter with a NUL byte is refused before any connection sees it,
// and the error names the parameter.
CAF_TEST(a query parameter with a NUL byte is refused) {
  auto pool = start(make_config(1, 1));
  auto q = ask<query_result>(pool, query_atom::value,
                             statement{"SELECT $1, $2", {1, with_nul}});
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::invalid_request));
  auto msg = error_message(q->err);
  CAF_MESSAGE("message: " << msg);
  CAF_CHECK(has(msg, "query: parameter $2 contains a NUL byte"));
  CAF_CHECK(!backend_saw("SELECT $1, $2"));
  // The pool still serves well-formed queries.
  auto good = ask<query_result>(pool, query_atom::value,
                                statement{"SELECT $1, $2", {1, "ab"}});
  sched.run();
  CAF_CHECK(good->ok());
  CAF_CHECK(backend_saw("SELECT $1, $2"));
}

// SQL text with a NUL byte is refused the same way; a NULL parameter is fine.
CAF_TEST(SQL text with a NUL byte is refused) {
  auto pool = start(make_config(1, 1));
  auto q = ask<query_result>(pool, query_atom::value,
                             statement{std::string{"SELECT 1\0; DROP", 15}});
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::invalid_request));
  CAF_CHECK(has(error_message(q->err), "query: SQL text contains a NUL byte"));
  CAF_CHECK(!backend_saw("SELECT 1"));
  auto null_param = ask<query_result>(pool, query_atom::value,
                                      statement{"SELECT $1", {nullptr}});
  sched.run();
  CAF_CHECK(null_param->ok());
}

// In a transaction the error names the statement (1-based, with the count)
// and the parameter; nothing runs, not even BEGIN.
CAF_TEST(a transaction parameter with a NUL byte is refused) {
  auto pool = start(make_config(1, 1));
  std::vector<statement> sts{"INSERT 1", statement{"INSERT $1", {with_nul}},
                             "INSERT 3"};
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  CAF_CHECK(t->failed_with(pool_errc::invalid_request));
  auto msg = error_message(t->err);
  CAF_MESSAGE("message: " << msg);
  CAF_CHECK(
    has(msg, "transaction: statement 2 of 3, parameter $1 contains a NUL"));
  CAF_CHECK(!backend_saw("BEGIN"));
  CAF_CHECK(!backend_saw("INSERT"));
}

// Empty SQL in a transaction is named the same way.
CAF_TEST(empty SQL in a transaction names the statement) {
  auto pool = start(make_config(1, 1));
  std::vector<statement> sts{"INSERT 1", ""};
  auto t = ask<std::vector<query_result>>(pool, transaction_atom::value, sts);
  sched.run();
  CAF_CHECK(t->failed_with(pool_errc::invalid_request));
  CAF_CHECK(has(error_message(t->err), "statement 2 of 2 has empty SQL"));
}

// A query on a lease goes straight to the worker: it refuses the parameter
// itself, and the lease stays usable.
CAF_TEST(a lease query parameter with a NUL byte is refused) {
  auto pool = start(make_config(1, 1));
  auto a = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
  sched.run();
  CAF_REQUIRE(a->ok());
  auto l = *a->value;
  auto q = ask<query_result>(l.worker, query_atom::value, l.id,
                             statement{"SELECT $1", {with_nul}});
  sched.run();
  CAF_CHECK(q->failed_with(pool_errc::invalid_request));
  auto msg = error_message(q->err);
  CAF_MESSAGE("message: " << msg);
  CAF_CHECK(has(msg, "query: parameter $1 contains a NUL byte"));
  CAF_CHECK(!backend_saw("SELECT $1"));
  auto good = ask<query_result>(l.worker, query_atom::value, l.id,
                                statement{"SELECT $1", {"ab"}});
  sched.run();
  CAF_CHECK(good->ok());
  auto r = ask<caf::ok_atom>(pool, release_atom::value, l.id);
  sched.run();
  CAF_CHECK(r->ok());
}

CAF_TEST_FIXTURE_SCOPE_END()
