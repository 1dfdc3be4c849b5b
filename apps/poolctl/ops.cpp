// The operator requests (resize, pause, resume, reset): one function each,
// sent through pool::blocking_pool (this is a plain thread, not an actor).

#include <cerrno>
#include <cstdlib>

#include "pool/blocking.hpp"
#include "pool/error.hpp"

#include "commands.hpp"

namespace poolctl {

namespace {

// Connects to the pool and runs `call` on a blocking_pool bounded by the
// time left; prints "NAME: WHAT" on success.
template <class F>
int run_op(ctl_context& ctx, const std::string& what, F call) {
  int rc = exit_ok;
  auto p = ctx.connect(rc);
  if (!p)
    return rc;
  pool::blocking_pool db{ctx.sys(), p->actor, ctx.remaining()};
  if (auto err = call(db))
    return ctx.fail(ctx.opts().command + " " + p->name, err);
  return ctx.print(p->name + ": " + what);
}

// Parses a size argument of `resize`; false if it is none.
bool parse_size(const std::string& text, size_t& out) {
  if (text.empty() || text[0] < '0' || text[0] > '9')
    return false;
  char* end = nullptr;
  errno = 0;
  auto x = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  out = static_cast<size_t>(x);
  return true;
}

} // namespace

int run_resize(ctl_context& ctx) {
  const auto& args = ctx.opts().args;
  size_t min_size = 0;
  size_t max_size = 0;
  if (!parse_size(args[0], min_size) || !parse_size(args[1], max_size))
    return ctx.fail("resize: MIN and MAX must be non-negative integers, got '" +
                      args[0] + "' '" + args[1] + "'",
                    exit_usage);
  if (min_size > max_size || max_size == 0)
    return ctx.fail("resize: need 0 <= MIN <= MAX and MAX >= 1, got " +
                      args[0] + " " + args[1],
                    exit_usage);
  return run_op(
    ctx, "resized to min " + args[0] + ", max " + args[1],
    [&](pool::blocking_pool& db) { return db.resize(min_size, max_size); });
}

int run_pause(ctl_context& ctx) {
  // The pause drains (nothing runs, no lease is held) within the time left
  // of --timeout, less a margin for the answer to come back.
  auto drain = ctx.remaining() - std::chrono::milliseconds(500);
  if (drain <= caf::timespan{0})
    drain = ctx.remaining();
  return run_op(ctx, "paused (drained: nothing runs, no lease is held)",
                [&](pool::blocking_pool& db) { return db.pause(drain); });
}

int run_resume(ctl_context& ctx) {
  return run_op(ctx, "resumed",
                [](pool::blocking_pool& db) { return db.resume(); });
}

int run_reset(ctl_context& ctx) {
  return run_op(ctx,
                "reset: idle connections replaced, the others when they "
                "come back",
                [](pool::blocking_pool& db) { return db.reset(); });
}

} // namespace poolctl
