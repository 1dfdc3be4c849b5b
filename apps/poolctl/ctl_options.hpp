#pragma once

// poolctl's command line: options, the command and its arguments.

#include <cstdint>
#include <string>
#include <vector>

#include "caf/timespan.hpp"

namespace poolctl {

/// Everything the command line says.
struct ctl_options {
  /// The pool node (--node HOST:PORT; default 127.0.0.1:4270).
  std::string host = "127.0.0.1";
  uint16_t port = 4270;
  /// The pool (--pool NAME; empty: the node's only pool).
  std::string pool;
  /// Print JSON instead of text (--json).
  bool json = false;
  /// Bound of every request, including connecting (--timeout, default 10s).
  caf::timespan timeout = std::chrono::seconds(10);
  /// A query parameter equal to this text is sent as SQL NULL (--null).
  bool has_null_text = false;
  std::string null_text;
  /// query: mark the statement read-only (--read-only): a routed pool runs
  /// it on a serving replica.
  bool read_only = false;
  /// The command and its arguments.
  std::string command;
  std::vector<std::string> args;
  /// --help was given.
  bool help = false;

  /// "HOST:PORT".
  std::string node() const { return host + ":" + std::to_string(port); }
};

/// Parses `argc`/`argv` into `out`. Options may come before or after the
/// command; `--` ends the options (for arguments that start with "--").
/// Returns "" or a message naming the bad option or value.
std::string parse_command_line(int argc, char** argv, ctl_options& out);

/// Parses a duration such as "10s", "500ms", "1.5s", "2min" or "3" (seconds).
/// Returns false if `text` is none.
bool parse_duration(const std::string& text, caf::timespan& out);

} // namespace poolctl
