#include "ctl_options.hpp"

#include "app_cli.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace poolctl {

bool parse_duration(const std::string& text, caf::timespan& out) {
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0]))))
    return false;
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(text.c_str(), &end);
  if (errno != 0 || !std::isfinite(x) || x <= 0)
    return false;
  std::string unit = end;
  double ns_per_unit = 0;
  if (unit.empty() || unit == "s")
    ns_per_unit = 1e9;
  else if (unit == "ms")
    ns_per_unit = 1e6;
  else if (unit == "us")
    ns_per_unit = 1e3;
  else if (unit == "min")
    ns_per_unit = 60e9;
  else
    return false;
  auto ns = x * ns_per_unit;
  if (ns < 1 || ns > 1e18)
    return false;
  out = caf::timespan{static_cast<int64_t>(ns)};
  return true;
}

std::string parse_command_line(int argc, char** argv, ctl_options& out) {
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool is_option = !options_done && arg.size() > 1 && arg[0] == '-' &&
                     (arg[1] == '-' || arg == "-h");
    if (!is_option) {
      if (out.command.empty())
        out.command = arg;
      else
        out.args.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string name = arg;
    std::string value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto take_value = [&]() -> bool {
      if (has_value)
        return true;
      if (i + 1 >= argc)
        return false;
      value = argv[++i];
      return true;
    };
    if (name == "--help" || name == "-h") {
      out.help = true;
    } else if (name == "--json") {
      if (has_value)
        return "--json takes no value";
      out.json = true;
    } else if (name == "--node") {
      if (!take_value())
        return "--node needs a value (HOST:PORT)";
      if (auto err = app::parse_host_port("--node", value, out.host, out.port);
          !err.empty())
        return err;
    } else if (name == "--pool") {
      if (!take_value() || value.empty())
        return "--pool needs a value (a pool name)";
      out.pool = value;
    } else if (name == "--timeout") {
      if (!take_value())
        return "--timeout needs a value (e.g. 10s, 500ms)";
      if (!parse_duration(value, out.timeout))
        return "--timeout: bad duration '" + value +
               "' (want a positive number with s, ms, us or min, e.g. 10s)";
    } else if (name == "--read-only") {
      if (has_value)
        return "--read-only takes no value";
      out.read_only = true;
    } else if (name == "--null") {
      if (!take_value())
        return "--null needs a value (the text that means SQL NULL)";
      out.has_null_text = true;
      out.null_text = value;
    } else {
      return "unknown option '" + name + "' (see poolctl --help)";
    }
  }
  return {};
}

} // namespace poolctl
