// The libpq layer's pure parts, without a database: the prepared-statement
// cache, PGresult to query_result, the error rules (stale statements,
// broken connections, ended sessions) and the first word of a statement. What
// ends a connection is PostgreSQL's dialect, tested in the unit suite `rules`.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE libpq_parts
#include "caf/test/unit_test.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "pool/error.hpp"

#include "libpq_blocking_thread.hpp"
#include "libpq_hosts.hpp"
#include "libpq_results.hpp"
#include "libpq_statement_cache.hpp"
#include "sql_words.hpp"

using namespace pool;

namespace {

using result_ptr = std::unique_ptr<PGresult, decltype(&PQclear)>;

/// A result as libpq would build it for a query returning `cells` (row
/// major, nullptr = NULL) under the columns `names` (type int4, OID 23).
result_ptr make_result(ExecStatusType status,
                       const std::vector<std::string>& names,
                       const std::vector<const char*>& cells) {
  result_ptr r{PQmakeEmptyPGresult(nullptr, status), PQclear};
  if (!r)
    CAF_FAIL("PQmakeEmptyPGresult failed");
  std::vector<PGresAttDesc> attrs(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    attrs[i].name = const_cast<char*>(names[i].c_str());
    attrs[i].typid = 23;
    attrs[i].typlen = 4;
    attrs[i].atttypmod = -1;
  }
  if (!names.empty() &&
      PQsetResultAttrs(r.get(), static_cast<int>(names.size()), attrs.data()) ==
        0)
    CAF_FAIL("PQsetResultAttrs failed");
  for (size_t i = 0; i < cells.size(); ++i) {
    auto row = static_cast<int>(i / names.size());
    auto col = static_cast<int>(i % names.size());
    auto v = cells[i];
    if (PQsetvalue(r.get(), row, col, const_cast<char*>(v),
                   v ? static_cast<int>(std::string{v}.size()) : -1) == 0)
      CAF_FAIL("PQsetvalue failed");
  }
  return r;
}

} // namespace

CAF_TEST(statement cache finds what it holds and marks it recently used) {
  statement_cache c{2};
  std::vector<std::string> evicted;
  CAF_CHECK_EQUAL(c.find("SELECT 1"), nullptr);
  c.insert("SELECT 1", "lp_1", evicted);
  c.insert("SELECT 2", "lp_2", evicted);
  CAF_CHECK(evicted.empty());
  CAF_CHECK_EQUAL(c.size(), 2u);
  auto name = c.find("SELECT 1");
  CAF_REQUIRE(name != nullptr);
  CAF_CHECK_EQUAL(*name, "lp_1");
  // SELECT 1 is now the most recently used: SELECT 2 goes first.
  c.insert("SELECT 3", "lp_3", evicted);
  CAF_CHECK_EQUAL(evicted, std::vector<std::string>{"lp_2"});
  CAF_CHECK_EQUAL(c.size(), 2u);
  CAF_CHECK_EQUAL(c.find("SELECT 2"), nullptr);
  CAF_REQUIRE(c.find("SELECT 3") != nullptr);
  CAF_CHECK_EQUAL(*c.find("SELECT 1"), "lp_1");
}

CAF_TEST(statement cache evicts in least recently used order) {
  statement_cache c{3};
  std::vector<std::string> evicted;
  c.insert("a", "lp_1", evicted);
  c.insert("b", "lp_2", evicted);
  c.insert("c", "lp_3", evicted);
  c.find("a"); // order now a, c, b
  c.insert("d", "lp_4", evicted);
  c.insert("e", "lp_5", evicted);
  std::vector<std::string> want{"lp_2", "lp_3"};
  CAF_CHECK_EQUAL(evicted, want);
  CAF_CHECK(c.find("a") != nullptr);
  CAF_CHECK(c.find("d") != nullptr);
  CAF_CHECK(c.find("e") != nullptr);
}

CAF_TEST(statement cache replaces a name for the same SQL) {
  statement_cache c{2};
  std::vector<std::string> evicted;
  c.insert("a", "lp_1", evicted);
  c.insert("a", "lp_2", evicted);
  // The old name exists on the server: it must be deallocated.
  CAF_CHECK_EQUAL(evicted, std::vector<std::string>{"lp_1"});
  CAF_CHECK_EQUAL(c.size(), 1u);
  CAF_CHECK_EQUAL(*c.find("a"), "lp_2");
}

CAF_TEST(statement cache erases only the name it was asked to) {
  statement_cache c{2};
  std::vector<std::string> evicted;
  c.insert("a", "lp_1", evicted);
  c.erase("a", "lp_9"); // another name: a newer prepare of the same SQL
  CAF_REQUIRE(c.find("a") != nullptr);
  c.erase("a", "lp_1");
  CAF_CHECK_EQUAL(c.find("a"), nullptr);
  CAF_CHECK_EQUAL(c.size(), 0u);
  c.erase("missing", "lp_1"); // harmless
  // The freed room is usable: two inserts, no eviction.
  c.insert("b", "lp_2", evicted);
  c.insert("c", "lp_3", evicted);
  CAF_CHECK(evicted.empty());
}

CAF_TEST(statement cache clear drops everything without evicting) {
  statement_cache c{4};
  std::vector<std::string> evicted;
  c.insert("a", "lp_1", evicted);
  c.insert("b", "lp_2", evicted);
  c.clear();
  CAF_CHECK_EQUAL(c.size(), 0u);
  CAF_CHECK_EQUAL(c.find("a"), nullptr);
  CAF_CHECK(evicted.empty()); // DISCARD ALL dropped them on the server
  c.insert("a", "lp_3", evicted);
  CAF_CHECK_EQUAL(*c.find("a"), "lp_3");
}

CAF_TEST(statement cache of capacity one keeps the newest) {
  statement_cache c{1};
  std::vector<std::string> evicted;
  c.insert("a", "lp_1", evicted);
  c.insert("b", "lp_2", evicted);
  CAF_CHECK_EQUAL(evicted, std::vector<std::string>{"lp_1"});
  CAF_CHECK_EQUAL(c.size(), 1u);
  CAF_CHECK(c.find("b") != nullptr);
}

CAF_TEST(rows columns and NULLs are converted) {
  auto r = make_result(PGRES_TUPLES_OK, {"a", "b"}, {"1", nullptr, "", "x y"});
  auto q = to_query_result(r.get());
  CAF_REQUIRE_EQUAL(q.columns.size(), 2u);
  CAF_CHECK_EQUAL(q.columns[0].name, "a");
  CAF_CHECK_EQUAL(q.columns[1].name, "b");
  CAF_CHECK_EQUAL(q.columns[0].type_oid, 23u);
  CAF_REQUIRE_EQUAL(q.rows(), 2u);
  CAF_CHECK_EQUAL(q.at(0, 0), "1");
  CAF_CHECK(q.is_null(0, 1));
  CAF_CHECK(!q.is_null(1, 0)); // the empty string is not NULL
  CAF_CHECK_EQUAL(q.at(1, 0), "");
  CAF_CHECK_EQUAL(q.at(1, 1), "x y");
  // Without a command tag's count, a query's rows are what it affected.
  CAF_CHECK_EQUAL(q.affected, 2);
}

CAF_TEST(a command without rows converts to an empty result) {
  auto r = make_result(PGRES_COMMAND_OK, {}, {});
  auto q = to_query_result(r.get());
  CAF_CHECK(q.columns.empty());
  CAF_CHECK_EQUAL(q.rows(), 0u);
  CAF_CHECK_EQUAL(q.affected, 0);
}

CAF_TEST(stale prepared statements are recognized) {
  CAF_CHECK(is_stale_statement("26000", "prepared statement \"lp_1\" does "
                                        "not exist"));
  CAF_CHECK(
    is_stale_statement("0A000", "cached plan must not change result type"));
  // Other feature_not_supported errors are the user's.
  CAF_CHECK(!is_stale_statement("0A000", "cannot use FOR UPDATE here"));
  CAF_CHECK(!is_stale_statement("42P01", "relation does not exist"));
  CAF_CHECK(!is_stale_statement("", ""));
}

CAF_TEST(class 08 except 08P01 breaks the connection) {
  for (auto state : {"08000", "08003", "08006", "08001", "08004"})
    CAF_CHECK(breaks_connection(std::string{state}));
  CAF_CHECK(!breaks_connection(std::string{"08P01"}));
  for (auto state : {"57P01", "23505", "40001", "", "0"})
    CAF_CHECK(!breaks_connection(std::string{state}));
}

CAF_TEST(refused credentials and failed TLS checks are credential failures) {
  // libpq 15's and the server's words, as a failed attempt reports them.
  for (auto msg :
       {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  "
        "password authentication failed for user \"pool_auth\"",
        "connection to server on socket \"/tmp/x/.s.PGSQL.5432\" failed: "
        "fe_sendauth: no password supplied",
        "FATAL:  role \"nobody\" does not exist",
        "FATAL:  no pg_hba.conf entry for host \"127.0.0.1\"",
        "connection to server at \"127.0.0.1\", port 5432 failed: SSL "
        "error: certificate verify failed",
        "connection to server at \"127.0.0.1\", port 5432 failed: server "
        "certificate for \"localhost\" (and 1 other name) does not match "
        "host name \"wronghost.invalid\"",
        "root certificate file \"/nowhere/ca.crt\" does not exist Either "
        "provide the file or change sslmode to disable server certificate "
        "verification.",
        "channel binding is required, but server did not offer an "
        "authentication method that supports channel binding"})
    if (!is_credential_failure(msg))
      CAF_ERROR("not seen as a credential failure: " << msg);
  // Faults that a retry may cure.
  for (auto msg :
       {"connection to server at \"127.0.0.1\", port 1 failed: Connection "
        "refused Is the server running on that host and accepting TCP/IP "
        "connections?",
        "could not translate host name \"nowhere.invalid\" to address: "
        "Name or service not known",
        "server closed the connection unexpectedly",
        "SSL SYSCALL error: EOF detected",
        "FATAL:  the database system is starting up",
        "FATAL:  sorry, too many clients already", "timeout expired", ""})
    if (is_credential_failure(msg))
      CAF_ERROR("seen as a credential failure: " << msg);
}

CAF_TEST(FATAL and PANIC end the session) {
  CAF_CHECK(ends_session(std::string{"FATAL"}));
  CAF_CHECK(ends_session(std::string{"PANIC"}));
  for (auto sev : {"ERROR", "WARNING", "NOTICE", "fatal", ""})
    CAF_CHECK(!ends_session(std::string{sev}));
}

CAF_TEST(server errors carry message and SQLSTATE) {
  auto err = server_error("duplicate key", "23505", "ERROR: whole\ntext\n");
  CAF_CHECK(is(err, pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(err), "23505");
  CAF_CHECK_EQUAL(error_message(err), "duplicate key");
  // No primary message: libpq's own text, on one line.
  auto bare = server_error("", "", "could not\nreceive data\n");
  CAF_CHECK_EQUAL(error_message(bare), "could not receive data");
  CAF_CHECK_EQUAL(one_line("a\n\tb\r\nc\n"), "a b c");
  CAF_CHECK_EQUAL(one_line(nullptr), "");
}

/// The first word of `sql`, as a string (for the checks' messages).
std::string word(std::string_view sql) {
  return std::string{first_word(sql)};
}

/// Proves: blanks and comments (`--` to the end of the line, nested
/// `/* */`) are skipped, an unterminated comment swallows the rest.
CAF_TEST(skip_blanks skips white space and comments) {
  CAF_CHECK_EQUAL(skip_blanks("", 0), 0u);
  CAF_CHECK_EQUAL(skip_blanks("   x", 0), 3u);
  CAF_CHECK_EQUAL(skip_blanks("\t\n-- c\nx", 0), 7u);
  CAF_CHECK_EQUAL(skip_blanks("-- only a comment", 0), 17u);
  CAF_CHECK_EQUAL(skip_blanks("/* a /* b */ c */x", 0), 17u);
  CAF_CHECK_EQUAL(skip_blanks("/* never closed", 0), 15u);
  CAF_CHECK_EQUAL(skip_blanks("x  y", 1), 3u);
  CAF_CHECK_EQUAL(skip_blanks("- 1", 0), 0u); // a minus is no comment
}

/// Proves: the first word is what a statement starts with after blanks and
/// comments, as the lexer sees an identifier; COPY is recognised in any
/// letter case, and nothing else is taken for it.
CAF_TEST(the first word of a statement) {
  CAF_CHECK_EQUAL(word("COPY t TO STDOUT"), "COPY");
  CAF_CHECK_EQUAL(word("  -- x\n /* y /* z */ */ copy(t)"), "copy");
  CAF_CHECK_EQUAL(word("select$1"), "select$1");
  CAF_CHECK_EQUAL(word("(SELECT 1)"), "");
  CAF_CHECK_EQUAL(word(";COPY t TO STDOUT"), "");
  CAF_CHECK_EQUAL(word(""), "");
  CAF_CHECK_EQUAL(word("   "), "");
  CAF_CHECK(is_keyword(first_word("CoPy x FROM STDIN"), "copy"));
  CAF_CHECK(is_keyword("COPY", "copy"));
  CAF_CHECK(!is_keyword("COPYX", "copy"));
  CAF_CHECK(!is_keyword("COP", "copy"));
  CAF_CHECK(!is_keyword("", "copy"));
  CAF_CHECK(!is_keyword(first_word("WITH c AS (SELECT 1) SELECT"), "copy"));
}

/// Proves: a connect goes to the backend's blocking thread exactly when a
/// host name may be looked up: numeric addresses, socket directories, the
/// default socket and hosts with a hostaddr need no lookup; a name anywhere
/// in a host list, or a service, does. The environment counts where the
/// string sets nothing.
CAF_TEST(which conninfo strings may look a host name up) {
  ::unsetenv("PGHOST");
  ::unsetenv("PGHOSTADDR");
  ::unsetenv("PGSERVICE");
  CAF_CHECK(!may_look_up_host("host=127.0.0.1 port=5432 dbname=x"));
  CAF_CHECK(!may_look_up_host("host=::1 dbname=x"));
  CAF_CHECK(!may_look_up_host("host=/tmp/pg port=5432 dbname=x"));
  CAF_CHECK(!may_look_up_host("dbname=x"));
  CAF_CHECK(!may_look_up_host("pooltest")); // a plain database name
  CAF_CHECK(!may_look_up_host("host=127.0.0.1,/tmp,10.0.0.2 dbname=x"));
  CAF_CHECK(!may_look_up_host("host=db.example hostaddr=10.0.0.1"));
  CAF_CHECK(!may_look_up_host("postgresql://127.0.0.1:5432/x"));
  CAF_CHECK(!may_look_up_host("host='unterminated")); // libpq refuses it
  CAF_CHECK(may_look_up_host("host=localhost dbname=x"));
  CAF_CHECK(may_look_up_host("host=127.0.0.1,db.example dbname=x"));
  CAF_CHECK(may_look_up_host("host=a.example,b.example hostaddr=10.0.0.1,"));
  CAF_CHECK(may_look_up_host("postgresql://db.example/x"));
  CAF_CHECK(may_look_up_host("service=mydb"));
  ::setenv("PGHOST", "db.example", 1);
  CAF_CHECK(may_look_up_host("dbname=x"));
  CAF_CHECK(!may_look_up_host("host=/tmp dbname=x"));
  ::setenv("PGHOSTADDR", "10.0.0.1", 1);
  CAF_CHECK(!may_look_up_host("dbname=x"));
  ::unsetenv("PGHOST");
  ::unsetenv("PGHOSTADDR");
  ::setenv("PGSERVICE", "mydb", 1);
  CAF_CHECK(may_look_up_host("host=/tmp dbname=x"));
  ::unsetenv("PGSERVICE");
}

/// Proves: the libpq layer's blocking thread starts with the first job, runs
/// jobs one at a time in the order posted, and its destructor waits for the
/// running job and joins; a job queued at that moment is dropped or run, and
/// either way what it holds is freed.
CAF_TEST(the blocking thread runs jobs in order and joins) {
  std::mutex mtx;
  std::vector<int> order;
  auto note = [&](int i) {
    std::lock_guard<std::mutex> guard{mtx};
    order.push_back(i);
  };
  std::atomic<bool> gated_done{false};
  auto held = std::make_shared<int>(42);
  std::weak_ptr<int> watch = held;
  std::thread opener;
  // Declared before the thread object: they must outlive its destructor.
  std::promise<void> gate;
  std::promise<void> running;
  {
    libpq_blocking_thread t;
    CAF_CHECK(!t.started());
    std::promise<void> two;
    CAF_CHECK(t.post([&] { note(1); }));
    CAF_CHECK(t.post([&] {
      note(2);
      two.set_value();
    }));
    two.get_future().wait();
    CAF_CHECK(t.started());
    CAF_CHECK(order == (std::vector<int>{1, 2}));
    // A job that blocks until another thread opens its gate.
    auto gate_open = gate.get_future().share();
    CAF_CHECK(t.post([&, gate_open] {
      running.set_value();
      gate_open.wait();
      gated_done = true;
    }));
    running.get_future().wait();
    CAF_CHECK(t.post([h = std::move(held), &note] { note(*h); }));
    opener = std::thread{[&gate] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      gate.set_value();
    }};
  } // the destructor waits for the gated job
  CAF_CHECK(gated_done.load());
  CAF_CHECK(watch.expired());
  opener.join();
}

// A server error naming the pool's prepared statement names the user's SQL
// instead, on one line and cut to 60 characters.
CAF_TEST(server errors name the statement instead of the prepared name) {
  CAF_CHECK_EQUAL(name_statement("prepared statement \"lp_1\" does not exist",
                                 "lp_1", "SELECT 1"),
                  "prepared statement for \"SELECT 1\" does not exist");
  // Another name, a longer name sharing the prefix, or none: unchanged.
  CAF_CHECK_EQUAL(name_statement("prepared statement \"lp_12\" does not exist",
                                 "lp_1", "SELECT 1"),
                  "prepared statement \"lp_12\" does not exist");
  CAF_CHECK_EQUAL(name_statement("syntax error", "", "SELEC 1"),
                  "syntax error");
  std::string long_sql =
    "SELECT a,\n       b\nFROM t WHERE " + std::string(100, 'x');
  auto msg = name_statement("prepared statement \"lp_7\" already exists",
                            "lp_7", long_sql);
  CAF_MESSAGE(msg);
  CAF_CHECK_EQUAL(msg.find("lp_"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(msg.find("for \"SELECT a, b FROM t WHERE xxx"),
                      std::string::npos);
  CAF_CHECK_NOT_EQUAL(msg.find("...\" already exists"), std::string::npos);
  CAF_CHECK_EQUAL(msg.size(), std::string{"prepared statement for \"\" "
                                          "already exists"}
                                  .size() +
                                60);
}
