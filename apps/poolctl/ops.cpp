// The operator requests (resize, pause, resume, reset): one function each.
// The pool of this build does not answer them yet (they come with the
// `ops` branch's additions to protocol.hpp); each function is the one
// place to send its request once it exists.

#include <cerrno>
#include <cstdlib>

#include "commands.hpp"

namespace poolctl {

namespace {

int not_supported(ctl_context& ctx) {
  return ctx.fail(ctx.opts().command +
                  ": not supported by this poolctl build yet");
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
  return not_supported(ctx);
}

int run_pause(ctl_context& ctx) {
  return not_supported(ctx);
}

int run_resume(ctl_context& ctx) {
  return not_supported(ctx);
}

int run_reset(ctl_context& ctx) {
  return not_supported(ctx);
}

} // namespace poolctl
