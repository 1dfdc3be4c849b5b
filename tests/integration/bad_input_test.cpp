// Bad input: invalid configurations, malformed requests, wrong parameter
// counts. Each is refused with a clear error and leaves the pool usable.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE bad_input
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include "fixture.hpp"

using namespace it;
using pool::param;
using pool::statement;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(bad_input_tests, fixture)

/// Proves: spawn_pool refuses an invalid configuration with invalid_config
/// naming the offending field, and starts nothing.
CAF_TEST(invalid config) {
  auto check_refused = [&](pool::pool_config pc, const std::string& field) {
    auto p = pool::spawn_pool(sys, std::move(pc));
    if (p) {
      CAF_ERROR("spawn_pool accepted a config with a bad " << field);
      pools.push_back(*p); // let the fixture stop it
      return;
    }
    CAF_CHECK(pool::is(p.error(), pool::pool_errc::invalid_config));
    auto text =
      pool::error_message(p.error()) + " " + pool::describe(p.error());
    CAF_MESSAGE(field << " -> " << pool::describe(p.error()));
    if (!contains(text, field))
      CAF_ERROR("error for a bad " << field << " does not name it: " << text);
    CAF_CHECK(contains(text, field));
  };
  // min_size > max_size: the error names one of the two.
  auto pc = make_config(5, 2);
  {
    auto p = pool::spawn_pool(sys, pc);
    CAF_CHECK(!p);
    if (!p) {
      CAF_CHECK(pool::is(p.error(), pool::pool_errc::invalid_config));
      auto text = pool::error_message(p.error());
      CAF_MESSAGE("min_size > max_size -> " << pool::describe(p.error()));
      CAF_CHECK(contains(text, "min_size") || contains(text, "max_size"));
    } else {
      pools.push_back(*p);
    }
  }
  pc = make_config(0, 0);
  check_refused(pc, "max_size");
  pc = make_config(1, 2);
  pc.query_timeout = caf::timespan{0};
  check_refused(pc, "query_timeout");
  pc = make_config(1, 2);
  pc.acquire_timeout = caf::timespan{-1};
  check_refused(pc, "acquire_timeout");
  pc = make_config(1, 2);
  pc.conninfo = "host=/tmp port= 'unterminated password=secret123";
  check_refused(pc, "conninfo");
  // The password of a broken conninfo is not echoed.
  auto p = pool::spawn_pool(sys, pc);
  if (!p)
    CAF_CHECK(!contains(pool::describe(p.error()), "secret123"));
  else
    pools.push_back(*p);
  // validate() agrees with spawn_pool and accepts a good config.
  CAF_CHECK(!pool::validate(make_config(1, 2)));
  CAF_CHECK(pool::is(pool::validate(make_config(5, 2)),
                     pool::pool_errc::invalid_config));
}

/// Proves: an empty transaction is refused with invalid_request; a bad
/// acquire timeout likewise; the pool keeps working.
CAF_TEST(malformed requests) {
  auto p = spawn(1, 1);
  auto r = transaction(p, {});
  IT_CHECK_ERRC(r, pool::pool_errc::invalid_request);
  auto l =
    call<pool::lease>(p, timeout, pool::acquire_atom_v, caf::timespan{0});
  IT_CHECK_ERRC(l, pool::pool_errc::invalid_request);
  CAF_CHECK_EQUAL(scalar(p, "SELECT 1"), "1");
  auto st = stats(p);
  IT_REQUIRE_OK(st);
  CAF_CHECK_EQUAL(st->leased, 0u);
  CAF_CHECK_EQUAL(st->waiting, 0u);
}

/// Proves: a wrong number of parameters is reported as query_failed (with
/// the server's SQLSTATE), and the only connection stays usable.
CAF_TEST(wrong parameter count) {
  auto p = spawn(1, 1);
  auto too_many = query(p, statement{"SELECT $1::int", {1, 2}});
  IT_CHECK_ERRC(too_many, pool::pool_errc::query_failed);
  if (!too_many) {
    CAF_MESSAGE("too many -> " << pool::describe(too_many.error()));
    CAF_CHECK_EQUAL(pool::sqlstate(too_many.error()).size(), 5u);
  }
  CAF_CHECK_EQUAL(scalar(p, "SELECT 1"), "1");
  auto too_few = query(p, statement{"SELECT $1::int + $2::int", {1}});
  IT_CHECK_ERRC(too_few, pool::pool_errc::query_failed);
  if (!too_few) {
    CAF_MESSAGE("too few -> " << pool::describe(too_few.error()));
    CAF_CHECK_EQUAL(pool::sqlstate(too_few.error()).size(), 5u);
  }
  CAF_CHECK_EQUAL(scalar(p, statement{"SELECT $1::int + $2::int", {1, 2}}),
                  "3");
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
  // In a transaction, too: the error comes back and the pool stays usable.
  auto tx = transaction(
    p, {statement{"SELECT 1"}, statement{"SELECT $1::int", {1, 2, 3}}});
  IT_CHECK_ERRC(tx, pool::pool_errc::query_failed);
  CAF_CHECK_EQUAL(scalar(p, "SELECT 2"), "2");
  CAF_CHECK_EQUAL(scalar(p, "SELECT txid_current_if_assigned()"), "<NULL>");
}

/// Proves: a NUL byte in a parameter or in the SQL text (libpq would cut the
/// text there) is refused with invalid_request naming the parameter, on a
/// pooled query, in a transaction and on a lease; the server never sees the
/// statement and the connection stays usable.
CAF_TEST(NUL byte in a parameter) {
  auto p = spawn(1, 1);
  const std::string with_nul{"a\0b", 3};
  auto check = [&](caf::expected<pool::query_result> res,
                   const std::string& want) {
    IT_CHECK_ERRC(res, pool::pool_errc::invalid_request);
    if (!res) {
      CAF_MESSAGE("-> " << pool::describe(res.error()));
      CAF_CHECK(contains(pool::error_message(res.error()), want));
    }
  };
  check(query(p, statement{"SELECT $1::text, $2::text", {"x", with_nul}}),
        "query: parameter $2 contains a NUL byte");
  check(query(p, statement{std::string{"SELECT 1\0", 9}}),
        "query: SQL text contains a NUL byte");
  auto tx = transaction(
    p, {statement{"SELECT 1"}, statement{"SELECT $1::text", {with_nul}}});
  IT_CHECK_ERRC(tx, pool::pool_errc::invalid_request);
  if (!tx)
    CAF_CHECK(contains(pool::error_message(tx.error()),
                       "transaction: statement 2 of 2, parameter $1"));
  auto l = acquire(p);
  IT_REQUIRE_OK(l);
  check(query(*l, statement{"SELECT $1::text", {with_nul}}),
        "query: parameter $1 contains a NUL byte");
  CAF_CHECK_EQUAL(scalar(*l, "SELECT 1"), "1");
  CAF_CHECK(release(p, l->id));
  CAF_CHECK_EQUAL(scalar(p, statement{"SELECT $1::text", {"ab"}}), "ab");
}

CAF_TEST_FIXTURE_SCOPE_END()
