#include "commands.hpp"

#include <cstdio>
#include <limits>

#include "caf/actor_system.hpp"

#include "pool/blocking.hpp"
#include "pool/error.hpp"
#include "pool/remote.hpp"

#include "render.hpp"

namespace poolctl {

// -- the table ----------------------------------------------------------------

const std::vector<command>& commands() {
  constexpr auto many = std::numeric_limits<size_t>::max();
  static const std::vector<command> xs{
    {"pools", "", "list the node's pools", 0, 0, run_pools},
    {"stats", "", "the pool's statistics, every field labelled", 0, 0,
     run_stats},
    {"health", "",
     "ok, or not ok with the reason (exit code 0 when healthy, 1 when not)", 0,
     0, run_health},
    {"query", "SQL [PARAM...]",
     "run one statement (parameters as text for $1..$n) and print its result",
     1, many, run_query},
    {"resize", "MIN MAX", "set the pool's min_size and max_size", 2, 2,
     run_resize},
    {"pause", "", "stop handing out connections", 0, 0, run_pause},
    {"resume", "", "hand out connections again after pause", 0, 0, run_resume},
    {"reset", "", "replace every connection of the pool", 0, 0, run_reset},
    {"cluster", "",
     "the node's cluster: its nodes, each node's share of each budget and "
     "its health",
     0, 0, run_cluster},
  };
  return xs;
}

const command* find_command(const std::string& name) {
  for (auto& c : commands())
    if (name == c.name)
      return &c;
  return nullptr;
}

std::string command_names() {
  std::string out;
  for (auto& c : commands())
    out += (out.empty() ? "" : ", ") + std::string{c.name};
  return out;
}

// -- ctl_context --------------------------------------------------------------

ctl_context::ctl_context(caf::actor_system& sys, const ctl_options& opts)
  : sys_(sys), opts_(opts),
    deadline_(std::chrono::steady_clock::now() + opts.timeout) {
  // nop
}

caf::timespan ctl_context::remaining() const {
  auto left = deadline_ - std::chrono::steady_clock::now();
  return std::max(caf::timespan{std::chrono::milliseconds(1)},
                  std::chrono::duration_cast<caf::timespan>(left));
}

int ctl_context::fail(const std::string& what, int rc) const {
  std::fprintf(stderr, "poolctl: %s\n", what.c_str());
  return rc;
}

int ctl_context::fail(const std::string& context, const caf::error& err) const {
  return fail(context + ": " + pool::describe(err));
}

int ctl_context::print(const std::string& text) const {
  std::printf("%s\n", text.c_str());
  return exit_ok;
}

caf::error ctl_context::node_error(const caf::error& err, int& rc) const {
  rc = exit_failed;
  // The library's messages name the node already.
  auto msg = pool::error_message(err);
  std::string prefix = "cannot reach the pool node at ";
  if (!pool::is(err, pool::pool_errc::pool_down))
    fail("pool node at " + opts_.node(), err);
  else if (msg.compare(0, prefix.size(), prefix) == 0)
    fail(msg);
  else
    fail(prefix + opts_.node() + ": " + msg);
  return err;
}

caf::expected<std::vector<std::string>> ctl_context::list(int& rc) {
  auto names = pool::list_pools(sys_, opts_.host, opts_.port, remaining());
  if (!names)
    return node_error(names.error(), rc);
  return names;
}

caf::expected<target_pool> ctl_context::connect(int& rc) {
  auto name = opts_.pool;
  if (name.empty()) {
    auto names = list(rc);
    if (!names)
      return std::move(names.error());
    if (names->size() != 1) {
      rc = exit_usage;
      std::string all;
      for (auto& n : *names)
        all += (all.empty() ? "" : ", ") + n;
      auto what = names->empty()
                    ? "the pool node at " + opts_.node() + " serves no pools"
                    : "the pool node at " + opts_.node() + " serves " +
                        std::to_string(names->size()) + " pools (" + all +
                        "): choose one with --pool NAME";
      fail(what, rc);
      return pool::make_error(pool::pool_errc::invalid_request, what);
    }
    name = names->front();
  }
  auto actor =
    pool::connect_pool(sys_, opts_.host, opts_.port, name, remaining());
  if (!actor)
    return node_error(actor.error(), rc);
  return target_pool{name, std::move(*actor)};
}

// -- the commands -------------------------------------------------------------

namespace {

// Fetches the stats of the target pool; on error, says so and sets `rc`.
caf::expected<pool::pool_stats> fetch_stats(ctl_context& ctx,
                                            const target_pool& p, int& rc) {
  pool::blocking_pool db{ctx.sys(), p.actor, ctx.remaining()};
  auto st = db.stats();
  if (!st) {
    rc = ctx.fail("stats of pool " + p.name, st.error());
    return std::move(st.error());
  }
  return st;
}

// Connects to the target pool, fetches its stats and returns `f(name,
// stats)`; on error, says so and returns the exit code.
template <class F>
int with_stats(ctl_context& ctx, F f) {
  int rc = exit_ok;
  auto p = ctx.connect(rc);
  if (!p)
    return rc;
  auto st = fetch_stats(ctx, *p, rc);
  if (!st)
    return rc;
  return f(p->name, *st);
}

} // namespace

int run_pools(ctl_context& ctx) {
  int rc = exit_ok;
  auto names = ctx.list(rc);
  if (!names)
    return rc;
  const auto& o = ctx.opts();
  return ctx.print(o.json ? pools_json(*names) : pools_text(*names));
}

int run_stats(ctl_context& ctx) {
  return with_stats(ctx,
                    [&](const std::string& name, const pool::pool_stats& st) {
                      return ctx.print(ctx.opts().json ? stats_json(name, st)
                                                       : stats_text(name, st));
                    });
}

int run_health(ctl_context& ctx) {
  return with_stats(
    ctx, [&](const std::string& name, const pool::pool_stats& st) {
      auto h = evaluate_health(st);
      ctx.print(ctx.opts().json ? health_json(name, h) : health_text(name, h));
      return h.ok ? exit_ok : exit_failed;
    });
}

int run_cluster(ctl_context& ctx) {
  const auto& o = ctx.opts();
  auto v = pool::cluster_view_of(ctx.sys(), o.host, o.port, ctx.remaining());
  if (!v)
    return ctx.fail("cluster of the node at " + o.node(), v.error());
  return ctx.print(o.json ? cluster_json(*v) : cluster_text(*v));
}

int run_query(ctl_context& ctx) {
  const auto& o = ctx.opts();
  pool::statement st{o.args.front()};
  for (size_t i = 1; i < o.args.size(); ++i) {
    if (o.has_null_text && o.args[i] == o.null_text)
      st.params.emplace_back(nullptr);
    else
      st.params.emplace_back(o.args[i]);
  }
  st.read_only = o.read_only;
  int rc = exit_ok;
  auto p = ctx.connect(rc);
  if (!p)
    return rc;
  pool::blocking_pool db{ctx.sys(), p->actor, ctx.remaining()};
  auto res = db.query(std::move(st));
  if (!res)
    return ctx.fail(pool::describe(res.error()));
  return ctx.print(o.json ? result_json(*res) : result_table(*res));
}

} // namespace poolctl
