#pragma once

// Control of the test's PostgreSQL server from a chaos scenario: stop, start
// and restart it with pg_ctl (as the OS user that owns the cluster), and
// terminate the pool's backends through a separate plain libpq connection.
// Call these from the test's own thread (or a std::thread), never from an
// actor handler: they block.

#include <string>
#include <vector>

namespace chaos {

/// The application_name of every chaos pool's connections; the terminator
/// kills exactly the backends that carry it.
constexpr const char* pool_app_name = "chaos";

/// What scripts/lib.sh `pg_start` exported (POOL_TEST_*).
struct pg_env {
  std::string dsn;     ///< POOL_TEST_DSN: unix socket, trust, user postgres.
  std::string host;    ///< POOL_TEST_PGHOST: the socket directory.
  std::string port;    ///< POOL_TEST_PGPORT: also on 127.0.0.1.
  std::string data;    ///< POOL_TEST_PGDATA.
  std::string bin;     ///< POOL_TEST_PGBIN: where pg_ctl lives.
  std::string log;     ///< POOL_TEST_PGLOG: the server's log file.
  std::string os_user; ///< POOL_TEST_PGUSER_OS: who must run pg_ctl.
  std::string opts;    ///< POOL_TEST_PGOPTS: the server's start options.

  /// Reads the environment; returns "" or a message naming what is missing.
  std::string load();
};

/// Runs `argv` (PATH lookup), stdout to /dev/null, stderr inherited, from
/// "/", with every descriptor above 2 closed in the child (the server it
/// may start must not inherit our sockets). Returns the exit status, or -1
/// if it could not run or died by a signal.
int run_command(const std::vector<std::string>& argv);

class pg_control {
 public:
  explicit pg_control(pg_env env) : env_(std::move(env)) {}

  const pg_env& env() const { return env_; }

  /// `pg_ctl stop -m fast -w`; returns whether it succeeded.
  bool stop();

  /// `pg_ctl start -w` with the original options; returns whether it
  /// succeeded (the server accepts connections then).
  bool start();

  /// `pg_ctl stop -m immediate -w` (a crash, as the clients see it);
  /// returns whether it succeeded.
  bool stop_immediate();

  /// `pg_ctl promote -w` of a standby; returns whether it succeeded (the
  /// server accepts writes then).
  bool promote();

  /// `pg_ctl restart -m fast -w`; returns whether it succeeded.
  bool restart_fast();

  /// `pg_ctl status`: whether the server runs.
  bool running();

  /// Starts the server unless it runs (heals a scenario that aborted while
  /// it was stopped). Returns whether it runs afterwards.
  bool ensure_running();

  /// Terminates every backend whose application_name is `pool_app_name`;
  /// returns how many were terminated, or -1 (with `last_error()`) if the
  /// control connection failed.
  int terminate_pool_backends();

  /// Runs a single-value query on a fresh control connection (trust, unix
  /// socket) and returns the value; sets `ok` false on failure.
  std::string scalar(const std::string& sql, bool& ok);

  /// Runs a statement that returns no rows (e.g. ALTER SYSTEM, which must
  /// be alone in its query string) on a fresh control connection; returns
  /// whether it succeeded (else see `last_error()`).
  bool exec(const std::string& sql);

  /// Tries to open a connection with `conninfo` and returns "" on success,
  /// else libpq's error message.
  static std::string try_connect(const std::string& conninfo);

  /// The error of the last failed control query.
  const std::string& last_error() const { return last_error_; }

  /// Conninfo for a pool over the unix socket (trust, user postgres) with
  /// application_name=chaos.
  std::string pool_conninfo() const;

  /// Conninfo for a pool over TCP to `host`:`port` with
  /// application_name=chaos, plus `extra` ("user=... password=...").
  std::string tcp_conninfo(const std::string& port,
                           const std::string& extra = "user=postgres") const;

 private:
  int pg_ctl(std::vector<std::string> args);

  pg_env env_;
  std::string last_error_;
};

} // namespace chaos
