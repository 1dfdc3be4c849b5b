#include "pool/types.hpp"

#include <chrono>
#include <cstdio>
#include <ostream>

namespace pool {

const std::string& query_result::at(size_t row, size_t col) const {
  static const std::string empty;
  auto& cell = cells[row * columns.size() + col];
  return cell ? *cell : empty;
}

std::string to_string(breaker_state x) {
  switch (x) {
  case breaker_state::closed:
    return "closed";
  case breaker_state::open:
    return "open";
  case breaker_state::half_open:
    return "half_open";
  }
  return "unknown";
}

std::string to_string(close_reason x) {
  switch (x) {
  case close_reason::lifetime:
    return "lifetime";
  case close_reason::idle_timeout:
    return "idle_timeout";
  case close_reason::health_check:
    return "health_check";
  case close_reason::lost:
    return "lost";
  case close_reason::reset:
    return "reset";
  case close_reason::shrink:
    return "shrink";
  case close_reason::shutdown:
    return "shutdown";
  case close_reason::hook:
    return "hook";
  case close_reason::other:
    return "other";
  }
  return "unknown";
}

uint64_t duration_histogram::cumulative(size_t i) const {
  uint64_t result = 0;
  for (size_t j = 0; j <= i && j < counts.size(); ++j)
    result += counts[j];
  return result;
}

const std::vector<caf::timespan>& duration_histogram::latency_bounds() {
  using namespace std::chrono;
  static const std::vector<caf::timespan> bounds{
    microseconds(50),  microseconds(100), microseconds(250),
    microseconds(500), milliseconds(1),   microseconds(2500),
    milliseconds(5),   milliseconds(10),  milliseconds(25),
    milliseconds(50),  milliseconds(100), milliseconds(250),
    milliseconds(500), seconds(1),        milliseconds(2500),
    seconds(5),        seconds(10)};
  return bounds;
}

const std::vector<caf::timespan>& duration_histogram::lifetime_bounds() {
  using namespace std::chrono;
  static const std::vector<caf::timespan> bounds{
    seconds(1),  seconds(5), seconds(30), minutes(1), minutes(5), minutes(15),
    minutes(30), hours(1),   hours(2),    hours(6),   hours(12),  hours(24)};
  return bounds;
}

namespace {

std::string format_ms(caf::timespan d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fms",
                std::chrono::duration<double, std::milli>(d).count());
  return buf;
}

std::string summary(const duration_histogram& h) {
  return "count:" + std::to_string(h.count) + ",sum:" + format_ms(h.sum);
}

} // namespace

std::string to_string(priority x) {
  switch (x) {
  case priority::interactive:
    return "interactive";
  case priority::normal:
    return "normal";
  case priority::batch:
    return "batch";
  }
  return "priority(" + std::to_string(static_cast<int>(x)) + ")";
}

std::string to_string(const pool_stats& x) {
  std::string out;
  auto add = [&](const char* label, const std::string& value) {
    if (!out.empty())
      out += ' ';
    out += label;
    out += '=';
    out += value;
  };
  auto flag = [](bool b) { return std::string{b ? "true" : "false"}; };
  auto wait_ms =
    std::chrono::duration<double, std::milli>(x.wait_time_total).count();
  auto millis = [](caf::timespan d) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3fms",
                  std::chrono::duration<double, std::milli>(d).count());
    return std::string{buf};
  };
  char wait[32];
  std::snprintf(wait, sizeof(wait), "%.3fms", wait_ms);
  add("total", std::to_string(x.total));
  add("idle", std::to_string(x.idle));
  add("leased", std::to_string(x.leased));
  add("busy", std::to_string(x.busy));
  add("connecting", std::to_string(x.connecting));
  add("cleaning", std::to_string(x.cleaning));
  add("waiting", std::to_string(x.waiting));
  add("acquired", std::to_string(x.acquired));
  add("acquire_timeouts", std::to_string(x.acquire_timeouts));
  add("rejected", std::to_string(x.rejected));
  add("connections_created", std::to_string(x.connections_created));
  add("connections_closed", std::to_string(x.connections_closed));
  add("connect_failures", std::to_string(x.connect_failures));
  add("leases_reclaimed", std::to_string(x.leases_reclaimed));
  add("wait_time_total", format_ms(x.wait_time_total));
  add("shutting_down", flag(x.shutting_down));
  add("shed", std::to_string(x.shed));
  add("overloaded", flag(x.overloaded));
  add("leaks", std::to_string(x.leaks));
  add("leases_timed_out", std::to_string(x.leases_timed_out));
  add("health_check_failures", std::to_string(x.health_check_failures));
  add("connections_recycled", std::to_string(x.connections_recycled));
  add("pipelined", std::to_string(x.pipelined));
  add("breaker", to_string(x.breaker));
  add("breaker_opened", std::to_string(x.breaker_opened));
  add("last_connect_error", '"' + x.last_connect_error + '"');
  std::string closed;
  for (size_t i = 0; i < close_reason_count; ++i) {
    if (i > 0)
      closed += ',';
    closed += to_string(static_cast<close_reason>(i)) + ':' +
              std::to_string(x.connections_closed_by[i]);
  }
  add("closed_by", closed);
  std::string errors;
  for (auto& kvp : x.errors_by_class) {
    if (!errors.empty())
      errors += ',';
    errors += kvp.first + ':' + std::to_string(kvp.second);
  }
  add("errors_by_class", errors);
  add("breaker_half_opened", std::to_string(x.breaker_half_opened));
  add("breaker_closed", std::to_string(x.breaker_closed));
  add("acquire_wait", summary(x.acquire_wait));
  add("query_time", summary(x.query_time));
  add("connection_lifetime", summary(x.connection_lifetime));
  add("paused", flag(x.paused));
  add("connections_reset", std::to_string(x.connections_reset));
  for (size_t i = 0; i < x.by_priority.size(); ++i) {
    auto& c = x.by_priority[i];
    auto name = to_string(static_cast<priority>(i));
    add((name + ".acquired").c_str(), std::to_string(c.acquired));
    add((name + ".acquire_timeouts").c_str(),
        std::to_string(c.acquire_timeouts));
    add((name + ".wait_time_total").c_str(), millis(c.wait_time_total));
    add((name + ".waiting").c_str(), std::to_string(c.waiting));
  }
  auto hosts = [](const std::map<std::string, uint32_t>& xs) {
    std::string result;
    for (auto& kvp : xs) {
      if (!result.empty())
        result += ',';
      result += kvp.first + '=' + std::to_string(kvp.second);
    }
    return result;
  };
  add("connections_by_host", hosts(x.connections_by_host));
  for (auto& r : x.replicas) {
    auto name = "replica." + r.name;
    add((name + ".serving").c_str(), flag(r.serving));
    add((name + ".lag").c_str(), millis(r.lag));
    add((name + ".lag_checks").c_str(), std::to_string(r.lag_checks));
    add((name + ".lag_check_failures").c_str(),
        std::to_string(r.lag_check_failures));
    add((name + ".reads").c_str(), std::to_string(r.reads));
    add((name + ".reason").c_str(), '"' + r.reason + '"');
    add((name + ".connections_by_host").c_str(), hosts(r.connections_by_host));
  }
  add("reads_on_primary", std::to_string(x.reads_on_primary));
  add("listen.connections", std::to_string(x.listen.connections));
  add("listen.channels", std::to_string(x.listen.channels));
  add("listen.subscriptions", std::to_string(x.listen.subscriptions));
  add("listen.received", std::to_string(x.listen.received));
  add("listen.delivered", std::to_string(x.listen.delivered));
  add("listen.reconnects", std::to_string(x.listen.reconnects));
  add("max_open", std::to_string(x.max_open));
  add("limited", x.limited ? "true" : "false");
  return out;
}

std::ostream& operator<<(std::ostream& out, const pool_stats& x) {
  return out << to_string(x);
}

} // namespace pool
