// TLS and SCRAM to PostgreSQL, against the server that scripts/lib.sh
// pg_start runs with ssl=on (a throwaway CA signs its certificate for
// localhost and 127.0.0.1; POOL_TEST_SSL_CA names it, POOL_TEST_SSL_WRONG_CA
// an unrelated CA) and with role pool_auth, which must log in with
// scram-sha-256 over TCP. A certificate check that fails reaches the caller
// at once as auth_failed and does not make the pool retry in a tight loop;
// the password works from the conninfo, PGPASSWORD and a .pgpass file, and
// shows up in no error, stats or log line.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE tls
#include "caf/test/unit_test.hpp"

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include <sys/stat.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "fixture.hpp"

using namespace it;

namespace {

using clock_type = std::chrono::steady_clock;

/// Role pool_auth's password (scripts/lib.sh pg_start sets it).
constexpr const char* auth_password = "pool_auth_pw";

/// A wrong password: distinctive, so that finding it in a text means it
/// leaked.
constexpr const char* wrong_password = "Tls_Wr0ng_Pw_k3Vq";

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

long long ms_since(clock_type::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           clock_type::now() - t0)
    .count();
}

/// Returns the environment variable `name`, or fails the test naming it.
std::string env(const char* name) {
  auto x = std::getenv(name);
  if (x == nullptr || *x == '\0')
    CAF_FAIL(name << " is not set: run the tests with scripts/test (or "
                     "source the output of scripts/pg-up)");
  return x;
}

/// A conninfo for the test server over TCP to `host`, plus `extra`.
std::string tcp_conninfo(const std::string& host, const std::string& extra) {
  return "host=" + host + " port=" + env("POOL_TEST_PGPORT") +
         " dbname=pooltest " + extra;
}

/// verify-full against `ca`, as `user`.
std::string verify_full(const std::string& host, const std::string& ca,
                        const std::string& extra = "user=postgres") {
  return tcp_conninfo(host,
                      "sslmode=verify-full sslrootcert=" + ca + " " + extra);
}

/// Sets an environment variable for the scope of the object, then restores
/// its previous value (libpq reads PGPASSWORD and PGPASSFILE when a
/// connection starts).
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (auto old = std::getenv(name)) {
      had_ = true;
      old_ = old;
    }
    if (value != nullptr)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }

  ~scoped_env() {
    if (had_)
      ::setenv(name_, old_.c_str(), 1);
    else
      ::unsetenv(name_);
  }

  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

/// A spdlog logger whose lines end up in a string.
struct captured_log {
  std::ostringstream text;
  std::shared_ptr<spdlog::logger> logger;

  explicit captured_log(const std::string& name) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text);
    logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_level(spdlog::level::trace);
  }

  std::string str() {
    logger->flush();
    return text.str();
  }
};

struct tls_fixture : fixture {
  /// A pool of `min_size`..`max_size` connections to `conninfo`, with
  /// acquire_timeout 10 s and a breaker that opens after 3 failures and
  /// cools down for 1 s.
  pool::pool_config tls_config(const std::string& conninfo, size_t min_size,
                               size_t max_size) {
    auto pc = make_config(min_size, max_size);
    pc.conninfo = conninfo;
    pc.acquire_timeout = caf::timespan{10s};
    pc.breaker_threshold = 3;
    pc.breaker_cooldown = caf::timespan{1s};
    return pc;
  }

  /// Runs `SELECT current_user` on a new pool for `conninfo` and returns the
  /// answer (the test aborts on error).
  std::string login(const std::string& conninfo) {
    auto p = spawn(tls_config(conninfo, 1, 2));
    auto user = scalar(p, {"SELECT current_user"});
    shutdown(p);
    return user;
  }

  /// A pool for `conninfo` (which the server or libpq must refuse) wanting
  /// two connections: the first request fails with auth_failed whose
  /// message contains `needle`, well before acquire_timeout (10 s); over
  /// the next second of requests every answer is auth_failed or
  /// circuit_open and the pool makes only a few connect attempts. Returns
  /// the texts the caller may scan for secrets.
  std::vector<std::string>
  check_refused(const std::string& conninfo, const std::string& needle,
                std::shared_ptr<spdlog::logger> lg = nullptr) {
    auto pc = tls_config(conninfo, 2, 4);
    pc.logger = std::move(lg);
    auto p = spawn(pc);
    std::vector<std::string> texts;
    auto t0 = clock_type::now();
    auto first = query(p, {"SELECT 1"});
    auto took = ms_since(t0);
    CAF_MESSAGE("refused after " << took << " ms: " << describe(first));
    CAF_CHECK_LESS(took, 3000);
    IT_CHECK_ERRC(first, pool::pool_errc::auth_failed);
    if (!first) {
      texts.push_back(pool::describe(first.error()));
      CAF_CHECK(contains(pool::describe(first.error()), needle));
    }
    auto st0 = stats(p);
    // A second of requests, one every 20 ms.
    size_t answers = 0, unexpected = 0;
    long long worst = 0;
    auto t1 = clock_type::now();
    while (ms_since(t1) < 1000) {
      auto t = clock_type::now();
      auto r = query(p, {"SELECT 1"});
      worst = std::max(worst, ms_since(t));
      ++answers;
      if (r) {
        ++unexpected;
      } else {
        texts.push_back(pool::describe(r.error()));
        if (!pool::is(r.error(), pool::pool_errc::auth_failed) &&
            !pool::is(r.error(), pool::pool_errc::circuit_open))
          ++unexpected;
      }
      std::this_thread::sleep_for(20ms);
    }
    auto st1 = stats(p);
    CAF_CHECK_EQUAL(unexpected, 0u);
    CAF_CHECK_LESS(worst, 3000);
    if (!st0 || !st1)
      CAF_FAIL("stats: " << describe(st0) << " / " << describe(st1));
    auto later = st1->connect_failures - st0->connect_failures;
    CAF_MESSAGE(answers << " answers in the second after, slowest " << worst
                        << " ms; connect failures " << st1->connect_failures
                        << " in all, " << later
                        << " in that second; breaker opened "
                        << st1->breaker_opened << " times");
    // No tight retry loop: the breaker opens after 3 failures and allows
    // one probe per second; a loop without backoff would make hundreds.
    CAF_CHECK_GREATER_OR_EQUAL(st1->connect_failures, 1u);
    CAF_CHECK_LESS_OR_EQUAL(st1->connect_failures, 10u);
    CAF_CHECK_LESS_OR_EQUAL(later, 4u);
    CAF_CHECK_GREATER_OR_EQUAL(st1->breaker_opened, 1u);
    CAF_CHECK(contains(st1->last_connect_error, needle));
    texts.push_back(st1->last_connect_error);
    texts.push_back(caf::deep_to_string(*st1));
    shutdown(p);
    return texts;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(tls_tests, tls_fixture)

CAF_TEST(verify full with the right CA connects over TLS) {
  auto p =
    spawn(tls_config(verify_full("localhost", env("POOL_TEST_SSL_CA")), 1, 2));
  CAF_CHECK_EQUAL(
    scalar(p, {"SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"}),
    "t");
  CAF_CHECK_EQUAL(scalar(p, {"SELECT $1::int + 1", {pool::param{41}}}), "42");
  // The IP address is in the certificate too.
  CAF_CHECK_EQUAL(login(verify_full("127.0.0.1", env("POOL_TEST_SSL_CA"))),
                  "postgres");
  // Control: the plain socket connection of the other tests uses no TLS.
  auto plain = spawn(1, 1);
  CAF_CHECK_EQUAL(scalar(plain, {"SELECT count(*) FROM pg_stat_ssl "
                                 "WHERE pid = pg_backend_pid() AND ssl"}),
                  "0");
}

CAF_TEST(verify full with a wrong CA fails fast as auth_failed) {
  check_refused(verify_full("localhost", env("POOL_TEST_SSL_WRONG_CA")),
                "certificate");
}

CAF_TEST(verify full with a wrong host name fails fast as auth_failed) {
  check_refused(verify_full("wronghost.invalid hostaddr=127.0.0.1",
                            env("POOL_TEST_SSL_CA")),
                "certificate");
}

CAF_TEST(SCRAM with the password in the conninfo) {
  CAF_CHECK_EQUAL(
    login(tcp_conninfo("127.0.0.1", std::string{"user=pool_auth password="} +
                                      auth_password)),
    "pool_auth");
}

CAF_TEST(SCRAM with the password from PGPASSWORD) {
  auto conninfo = tcp_conninfo("127.0.0.1", "user=pool_auth");
  {
    // Control: without a password, the server refuses the role.
    scoped_env no_pw{"PGPASSWORD", nullptr};
    scoped_env no_file{"PGPASSFILE", "/nonexistent/libpool-pgpass"};
    check_refused(conninfo, "password");
  }
  scoped_env pw{"PGPASSWORD", auth_password};
  CAF_CHECK_EQUAL(login(conninfo), "pool_auth");
}

CAF_TEST(SCRAM with the password from a pgpass file) {
  char path[] = "/tmp/libpool-pgpass.XXXXXX";
  auto fd = ::mkstemp(path);
  if (fd < 0)
    CAF_FAIL("mkstemp failed");
  ::close(fd);
  {
    std::ofstream out{path};
    out << "*:" << env("POOL_TEST_PGPORT")
        << ":pooltest:pool_auth:" << auth_password << "\n";
  }
  ::chmod(path, 0600);
  {
    scoped_env no_pw{"PGPASSWORD", nullptr};
    scoped_env file{"PGPASSFILE", path};
    CAF_CHECK_EQUAL(login(tcp_conninfo("127.0.0.1", "user=pool_auth")),
                    "pool_auth");
  }
  std::remove(path);
}

CAF_TEST(a wrong password is an authentication error) {
  check_refused(
    tcp_conninfo("127.0.0.1",
                 std::string{"user=pool_auth password="} + wrong_password),
    "password authentication failed");
}

CAF_TEST(channel binding works with SCRAM over TLS) {
  auto conninfo = verify_full("localhost", env("POOL_TEST_SSL_CA"),
                              std::string{"user=pool_auth password="} +
                                auth_password + " channel_binding=require");
  auto p = spawn(tls_config(conninfo, 1, 2));
  CAF_CHECK_EQUAL(scalar(p, {"SELECT current_user"}), "pool_auth");
  CAF_CHECK_EQUAL(
    scalar(p, {"SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"}),
    "t");
  shutdown(p);
  // Control: without TLS there is no channel to bind, and libpq refuses.
  check_refused(
    tcp_conninfo("127.0.0.1", std::string{"sslmode=disable user=pool_auth "
                                          "password="} +
                                auth_password + " channel_binding=require"),
    "channel binding");
}

CAF_TEST(the password appears in no error stats or log line) {
  captured_log good_log{"tls-good"};
  auto pc = tls_config(
    verify_full("localhost", env("POOL_TEST_SSL_CA"),
                std::string{"user=pool_auth password="} + auth_password),
    1, 2);
  pc.logger = good_log.logger;
  auto p = spawn(pc);
  CAF_CHECK_EQUAL(scalar(p, {"SELECT current_user"}), "pool_auth");
  auto failed = query(p, {"SELECT no_such_column"});
  CAF_CHECK(!failed);
  std::vector<std::string> texts;
  if (!failed)
    texts.push_back(pool::describe(failed.error()));
  auto st = stats(p);
  if (!st)
    CAF_FAIL("stats: " << pool::describe(st.error()));
  texts.push_back(caf::deep_to_string(*st));
  shutdown(p);
  captured_log bad_log{"tls-bad"};
  auto more = check_refused(
    tcp_conninfo("127.0.0.1",
                 std::string{"user=pool_auth password="} + wrong_password),
    "password authentication failed", bad_log.logger);
  texts.insert(texts.end(), more.begin(), more.end());
  auto good_text = good_log.str();
  auto bad_text = bad_log.str();
  // The captures work: both logs have lines, the failing pool's name the
  // failure.
  CAF_CHECK(!good_text.empty());
  CAF_CHECK(contains(bad_text, "password authentication failed"));
  texts.push_back(good_text);
  texts.push_back(bad_text);
  size_t leaks = 0;
  for (auto& t : texts)
    if (contains(t, auth_password) || contains(t, wrong_password)) {
      ++leaks;
      CAF_ERROR("the password leaked: " << t);
    }
  CAF_MESSAGE(texts.size() << " texts scanned, " << good_text.size() << " + "
                           << bad_text.size() << " bytes of log");
  CAF_CHECK_EQUAL(leaks, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
