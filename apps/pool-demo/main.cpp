// pool-demo: spawns a pool, runs a concurrent workload of client actors
// against it (queries, leased sessions, transactions and deliberate errors),
// prints a report with consistency checks and the pool's stats, and shuts
// the pool down. Exit status: 0 all checks passed, 1 a check failed, 2 the
// demo could not start.

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "caf/all.hpp"

#include "pool/blocking.hpp"
#include "pool/config.hpp"
#include "pool/error.hpp"
#include "pool/io_scheduler.hpp"
#include "pool/pool.hpp"
#include "pool/remote.hpp"

#include "demo_config.hpp"
#include "report.hpp"
#include "workload.hpp"

namespace demo {

namespace {

using namespace std::chrono_literals;

constexpr int64_t initial_balance = 1000;

/// Runs `sts` one by one; returns the first error.
caf::error run_all(pool::blocking_pool& db, std::vector<pool::statement> sts) {
  for (auto& st : sts)
    if (auto res = db.query(st); !res)
      return std::move(res.error());
  return {};
}

caf::error setup_schema(pool::blocking_pool& db, size_t accounts) {
  return run_all(
    db,
    {"DROP TABLE IF EXISTS demo_items",
     "DROP TABLE IF EXISTS demo_accounts",
     "CREATE TABLE demo_accounts (id int PRIMARY KEY, balance bigint NOT NULL)",
     {"INSERT INTO demo_accounts (id, balance) "
      "SELECT g, $2::bigint FROM generate_series(1, $1::int) g",
      {accounts, initial_balance}},
     "CREATE TABLE demo_items (id bigserial PRIMARY KEY, client int NOT NULL, "
     "n bigint NOT NULL, payload text NOT NULL, "
     "created_at timestamptz NOT NULL DEFAULT now())",
     "CREATE INDEX demo_items_client ON demo_items (client)"});
}

/// Runs one query that returns a single integer.
caf::expected<int64_t> scalar(pool::blocking_pool& db, const char* sql) {
  auto res = db.query(pool::statement{sql});
  if (!res)
    return std::move(res.error());
  if (res->rows() != 1 || res->columns.empty() || res->is_null(0, 0))
    return caf::make_error(caf::sec::invalid_argument,
                           std::string{"no value from: "} + sql);
  return std::stoll(res->at(0, 0));
}

std::vector<client_report> run_clients(caf::actor_system& sys,
                                       const demo_config& cfg,
                                       const pool::pool_actor& pool) {
  auto duration = std::chrono::duration_cast<caf::timespan>(
    std::chrono::duration<double>(cfg.duration));
  caf::scoped_actor self{sys};
  for (size_t i = 0; i < cfg.clients; ++i)
    spawn_client(sys,
                 client_params{pool, caf::actor{self}, static_cast<uint32_t>(i),
                               role_for(i), duration,
                               static_cast<uint32_t>(cfg.accounts)});
  std::vector<client_report> reports;
  bool late = false;
  // Each client finishes at most one request timeout after `duration`.
  auto t0 = std::chrono::steady_clock::now();
  auto give_up = t0 + duration + 30s;
  auto every = std::chrono::duration_cast<caf::timespan>(
    std::chrono::duration<double>(cfg.progress > 0 ? cfg.progress : 3600.0));
  uint64_t last_acquired = 0;
  auto last = t0;
  while (reports.size() < cfg.clients && !late) {
    self->receive(
      [&](client_report& rep) { reports.emplace_back(std::move(rep)); },
      caf::after(every) >>
        [&] {
          auto now = std::chrono::steady_clock::now();
          late = now >= give_up;
          if (cfg.progress <= 0)
            return;
          self->request(pool, 1s, pool::stats_atom_v)
            .receive(
              [&](const pool::pool_stats& st) {
                double secs = std::chrono::duration<double>(now - last).count();
                std::printf("progress %5.1f s: %6.0f requests/s, total %u, "
                            "busy %u, leased %u, waiting %u, clients done "
                            "%zu/%zu\n",
                            std::chrono::duration<double>(now - t0).count(),
                            double(st.acquired - last_acquired) / secs,
                            st.total, st.busy, st.leased, st.waiting,
                            reports.size(), cfg.clients);
                last_acquired = st.acquired;
                last = now;
              },
              [&](caf::error& err) {
                std::printf("progress: stats failed: %s\n",
                            pool::describe(err).c_str());
              });
        });
  }
  if (late)
    std::printf("FAIL: only %zu of %zu clients reported back\n", reports.size(),
                cfg.clients);
  return reports;
}

/// Waits until no connection is leased, busy or being cleaned and nobody
/// waits (the last replies may overtake the workers' "done" messages).
caf::expected<pool::pool_stats> quiescent_stats(pool::blocking_pool& db) {
  auto deadline = std::chrono::steady_clock::now() + 3s;
  for (;;) {
    auto st = db.stats();
    if (!st)
      return st;
    bool quiet =
      st->leased == 0 && st->busy == 0 && st->cleaning == 0 && st->waiting == 0;
    if (quiet || std::chrono::steady_clock::now() >= deadline)
      return st;
    std::this_thread::sleep_for(10ms);
  }
}

/// Prints the consistency checks; returns whether all passed.
bool run_checks(pool::blocking_pool& db, const demo_config& cfg,
                const totals& t, const pool::pool_stats& st) {
  std::printf("\n== checks ==\n");
  bool ok = true;
  auto expected_sum = static_cast<int64_t>(cfg.accounts) * initial_balance;
  auto sum = scalar(db, "SELECT sum(balance)::bigint FROM demo_accounts");
  ok &= print_check(
    "consistency", sum && *sum == expected_sum,
    "sum of balances " + std::to_string(expected_sum) + " before, " +
      (sum ? std::to_string(*sum) : pool::describe(sum.error())) +
      " after transfers and rolled-back transactions");
  auto rows = scalar(db, "SELECT count(*) FROM demo_items");
  bool insert_errors =
    t.kinds[static_cast<size_t>(op_kind::insert)].unexpected > 0;
  ok &= print_check(
    "inserts",
    rows && (*rows == int64_t(t.inserts_acked) ||
             (insert_errors && *rows > int64_t(t.inserts_acked))),
    std::to_string(t.inserts_acked) + " acknowledged, " +
      (rows ? std::to_string(*rows) : pool::describe(rows.error())) +
      " rows in demo_items");
  ok &= print_check("deliberate errors",
                    t.kinds[size_t(op_kind::bad_sql)].unexpected == 0 &&
                      t.kinds[size_t(op_kind::dup_txn)].unexpected == 0,
                    "every bad statement failed with its SQLSTATE");
  ok &= print_check("answers", t.unanswered == 0 && t.reports == cfg.clients,
                    std::to_string(t.unanswered) +
                      " requests unanswered by their deadline, " +
                      std::to_string(t.reports) + "/" +
                      std::to_string(cfg.clients) + " clients reported");
  ok &= print_check("unexpected outcomes", t.unexpected() == 0,
                    std::to_string(t.unexpected()) + " (see errors above)");
  // A remote pool has its node's sizes, not this demo's.
  bool local = cfg.remote.empty();
  bool sized = !local || (st.total <= cfg.max_size && st.total >= cfg.min_size);
  bool quiet = st.leased == 0 && st.busy == 0 && st.waiting == 0 &&
               st.cleaning == 0 && sized;
  ok &= print_check("pool at rest", quiet,
                    "total " + std::to_string(st.total) +
                      (local ? " within [" + std::to_string(cfg.min_size) +
                                 ", " + std::to_string(cfg.max_size) + "]"
                             : std::string{}) +
                      ", leased " + std::to_string(st.leased) + ", busy " +
                      std::to_string(st.busy) + ", waiting " +
                      std::to_string(st.waiting));
  return ok;
}

/// Shuts the pool down; returns whether it acknowledged in time.
bool shutdown_pool(pool::blocking_pool& db, const pool::pool_actor& pool) {
  auto t0 = std::chrono::steady_clock::now();
  auto err = db.shutdown(5s);
  auto ms = std::chrono::duration<double, std::milli>(
              std::chrono::steady_clock::now() - t0)
              .count();
  if (!err) {
    std::printf("\nshutdown: ok after %.1f ms\n", ms);
    return true;
  }
  std::printf("\nshutdown: FAILED after %.1f ms: %s (sending exit to the "
              "pool so that the actor system can stop)\n",
              ms, pool::describe(err).c_str());
  caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
  return false;
}

/// The pool of this demo: spawned here, or a pool node's (--remote).
caf::expected<pool::pool_actor> open_pool(caf::actor_system& sys,
                                          const demo_config& cfg) {
  if (cfg.remote.empty()) {
    pool::pool_config pc;
    pc.conninfo = cfg.conninfo;
    pc.min_size = cfg.min_size;
    pc.max_size = cfg.max_size;
    return pool::spawn_pool(sys, pc);
  }
  std::string host;
  uint16_t port = 0;
  if (auto err = app::parse_host_port("--remote", cfg.remote, host, port);
      !err.empty())
    return pool::make_error(pool::pool_errc::invalid_config, err);
  auto name = cfg.remote_pool;
  if (name.empty()) {
    auto names = pool::list_pools(sys, host, port);
    if (!names)
      return std::move(names.error());
    if (names->size() != 1)
      return pool::make_error(pool::pool_errc::invalid_config,
                              "the node at " + cfg.remote + " has " +
                                std::to_string(names->size()) +
                                " pools: name one with --remote-pool");
    name = names->front();
  }
  std::printf("remote pool '%s' on the node at %s\n", name.c_str(),
              cfg.remote.c_str());
  return pool::connect_pool(sys, host, port, name);
}

int run(caf::actor_system& sys, const demo_config& cfg) {
  std::printf("pool-demo: conninfo '%s', pool %zu..%zu, %zu clients, %.1f s\n",
              pool::redact_conninfo(cfg.conninfo).c_str(), cfg.min_size,
              cfg.max_size, cfg.clients, cfg.duration);
  std::printf("CAF: %s\n", scheduler_summary(sys).c_str());
  auto spawned = open_pool(sys, cfg);
  if (!spawned) {
    std::printf("cannot %s the pool: %s\n",
                cfg.remote.empty() ? "start" : "connect to",
                pool::describe(spawned.error()).c_str());
    return 2;
  }
  auto pool = *spawned;
  pool::blocking_pool db{sys, pool, 10s};
  auto version = db.query(pool::statement{"SELECT version()"});
  if (version && version->rows() == 1)
    std::printf("server: %s\n", version->at(0, 0).c_str());
  if (auto err = version ? setup_schema(db, cfg.accounts) : version.error()) {
    std::printf("setup failed: %s\n", pool::describe(err).c_str());
    shutdown_pool(db, pool);
    return 2;
  }
  std::printf("tables demo_accounts (%zu x %" PRId64 ") and demo_items "
              "created; running the workload...\n",
              cfg.accounts, initial_balance);
  auto t = merge(run_clients(sys, cfg, pool));
  print_workload(t);
  auto st = quiescent_stats(db);
  bool ok = false;
  if (st) {
    print_stats(*st);
    ok = run_checks(db, cfg, t, *st);
  } else {
    std::printf("\nstats failed: %s\n", pool::describe(st.error()).c_str());
  }
  if (cfg.remote.empty())
    ok &= shutdown_pool(db, pool);
  else
    std::printf("\nthe remote pool keeps running on its node\n");
  std::printf("\nresult: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

} // namespace

} // namespace demo

int main(int argc, char** argv) {
  demo::demo_config cfg;
  if (auto err = cfg.parse_args(argc, argv)) {
    std::fprintf(stderr, "pool-demo: %s\n", caf::to_string(err).c_str());
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  if (cfg.clients == 0 || cfg.duration <= 0 || cfg.accounts < 2) {
    std::fprintf(stderr, "pool-demo: need --clients >= 1, --duration > 0, "
                         "--accounts >= 2\n");
    return 2;
  }
  if (cfg.scheduler == "io") {
    pool::use_io_scheduler(cfg);
  } else if (cfg.scheduler != "default") {
    std::fprintf(stderr,
                 "pool-demo: bad --scheduler '%s' (want io or "
                 "default)\n",
                 cfg.scheduler.c_str());
    return 2;
  }
  if (!cfg.remote.empty())
    pool::configure_node(cfg);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  caf::actor_system sys{cfg};
  return demo::run(sys, cfg);
}
