#pragma once

// A tracer (pool/tracer.hpp) for tests: it records every event as one line
// of text, with or without its duration.

#include <chrono>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pool/error.hpp"
#include "pool/tracer.hpp"

namespace pool::testing {

/// Records every event as one line: "query end c1 'SELECT $1' 10ms ok", or
/// "... query_failed 23505" (the SQLSTATE); "c-" is an acquire without a
/// connection. With `durations` false the "10ms" is left out (live tests).
struct trace_recorder : tracer {
  std::mutex mx;
  std::vector<std::string> lines;
  /// The durations of the `end` events, in order.
  std::vector<caf::timespan> durations;
  bool throws = false;
  bool with_durations = true;

  void on_event(const trace_event& ev) override {
    std::ostringstream out;
    out << to_string(ev.kind) << (ev.end ? " end" : " start") << " c";
    if (ev.connection == trace_event::no_connection)
      out << "-";
    else
      out << ev.connection;
    if (ev.sql)
      out << " '" << *ev.sql << "'";
    if (ev.end) {
      if (with_durations)
        out << " "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                 ev.duration)
                 .count()
            << "ms";
      out << (ev.error
                ? " " + to_string(static_cast<pool_errc>(ev.error->code()))
                : std::string{" ok"});
      if (!ev.sqlstate().empty())
        out << " " << ev.sqlstate();
    }
    std::lock_guard<std::mutex> guard{mx};
    lines.push_back(out.str());
    if (ev.end)
      durations.push_back(ev.duration);
    if (throws)
      throw std::runtime_error("tracer bug");
  }

  /// The lines recorded so far; forgets them and their durations.
  std::vector<std::string> take() {
    std::lock_guard<std::mutex> guard{mx};
    auto out = std::move(lines);
    lines.clear();
    durations.clear();
    return out;
  }
};

} // namespace pool::testing
