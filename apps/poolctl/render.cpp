#include "render.hpp"

#include <algorithm>
#include <chrono>

#include "json.hpp"

namespace poolctl {

namespace {

// Display width: UTF-8 continuation bytes take no column.
size_t width(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

void pad(std::string& out, const std::string& s, size_t w) {
  out += s;
  out.append(w - std::min(w, width(s)), ' ');
}

} // namespace

health evaluate_health(const pool::pool_stats& x) {
  if (x.shutting_down)
    return {false, "the pool is shutting down"};
  if (x.breaker == pool::breaker_state::open)
    return {false, "the circuit breaker is open (connects are failing; "
                   "last connect error: \"" +
                     x.last_connect_error + "\")"};
  if (x.total == 0 && !x.last_connect_error.empty())
    return {false, "no connection and connects fail: \"" +
                     x.last_connect_error + "\""};
  return {true, {}};
}

std::string health_text(const std::string& pool, const health& h) {
  return "pool " + pool + ": " + (h.ok ? "ok" : "not ok: " + h.reason);
}

std::string health_json(const std::string& pool, const health& h) {
  app::json_object j;
  j.add("pool", pool).add("healthy", h.ok).add("reason", h.reason);
  return j.str();
}

std::string stats_text(const std::string& pool, const pool::pool_stats& x) {
  return "pool " + pool + ": " + pool::to_string(x);
}

std::string stats_json(const std::string& pool, const pool::pool_stats& x) {
  auto u = [](uint64_t v) { return v; };
  auto wait_ms =
    std::chrono::duration<double, std::milli>(x.wait_time_total).count();
  app::json_object j;
  j.add("pool", pool)
    .add("total", u(x.total))
    .add("idle", u(x.idle))
    .add("leased", u(x.leased))
    .add("busy", u(x.busy))
    .add("connecting", u(x.connecting))
    .add("cleaning", u(x.cleaning))
    .add("waiting", u(x.waiting))
    .add("acquired", u(x.acquired))
    .add("acquire_timeouts", u(x.acquire_timeouts))
    .add("rejected", u(x.rejected))
    .add("connections_created", u(x.connections_created))
    .add("connections_closed", u(x.connections_closed))
    .add("connect_failures", u(x.connect_failures))
    .add("leases_reclaimed", u(x.leases_reclaimed))
    .add("wait_time_total", wait_ms)
    .add("shutting_down", x.shutting_down)
    .add("shed", u(x.shed))
    .add("overloaded", x.overloaded)
    .add("leaks", u(x.leaks))
    .add("leases_timed_out", u(x.leases_timed_out))
    .add("health_check_failures", u(x.health_check_failures))
    .add("connections_recycled", u(x.connections_recycled))
    .add("pipelined", u(x.pipelined))
    .add("breaker", pool::to_string(x.breaker))
    .add("breaker_opened", u(x.breaker_opened))
    .add("last_connect_error", x.last_connect_error);
  std::string closed = "{";
  for (size_t i = 0; i < pool::close_reason_count; ++i)
    closed +=
      (i == 0 ? "" : ",") +
      app::json_quote(pool::to_string(static_cast<pool::close_reason>(i))) +
      ":" + std::to_string(x.connections_closed_by[i]);
  std::string errors = "{";
  for (auto& kvp : x.errors_by_class)
    errors += (errors.size() == 1 ? "" : ",") + app::json_quote(kvp.first) +
              ":" + std::to_string(kvp.second);
  auto histogram = [](const pool::duration_histogram& h) {
    app::json_object o;
    o.add("count", static_cast<uint64_t>(h.count))
      .add("sum_ms", std::chrono::duration<double, std::milli>(h.sum).count());
    return o.str();
  };
  j.add_raw("closed_by", closed + "}")
    .add_raw("errors_by_class", errors + "}")
    .add("breaker_half_opened", u(x.breaker_half_opened))
    .add("breaker_closed", u(x.breaker_closed))
    .add_raw("acquire_wait", histogram(x.acquire_wait))
    .add_raw("query_time", histogram(x.query_time))
    .add_raw("connection_lifetime", histogram(x.connection_lifetime));
  return j.str();
}

std::string result_table(const pool::query_result& r) {
  if (r.columns.empty())
    return r.command_tag;
  auto ncols = r.columns.size();
  auto nrows = r.rows();
  std::vector<size_t> w(ncols);
  for (size_t c = 0; c < ncols; ++c) {
    w[c] = width(r.columns[c].name);
    for (size_t i = 0; i < nrows; ++i)
      w[c] = std::max(w[c], width(r.at(i, c)));
  }
  std::string out;
  auto line = [&](auto&& cell) {
    for (size_t c = 0; c < ncols; ++c) {
      out += c == 0 ? " " : " | ";
      pad(out, cell(c), c + 1 < ncols ? w[c] : 0);
    }
    out += '\n';
  };
  line([&](size_t c) -> const std::string& { return r.columns[c].name; });
  for (size_t c = 0; c < ncols; ++c) {
    out += c == 0 ? "-" : "-+-";
    out.append(w[c], '-');
  }
  out += "-\n";
  for (size_t i = 0; i < nrows; ++i)
    line([&](size_t c) -> const std::string& { return r.at(i, c); });
  out += "(" + std::to_string(nrows) + (nrows == 1 ? " row)" : " rows)");
  return out;
}

std::string result_json(const pool::query_result& r) {
  std::vector<std::string> columns;
  for (auto& c : r.columns)
    columns.push_back(app::json_quote(c.name));
  std::vector<std::string> rows;
  for (size_t i = 0; i < r.rows(); ++i) {
    std::vector<std::string> cells;
    for (size_t c = 0; c < r.columns.size(); ++c)
      cells.push_back(r.is_null(i, c) ? "null" : app::json_quote(r.at(i, c)));
    rows.push_back(app::json_array(cells));
  }
  app::json_object j;
  j.add_raw("columns", app::json_array(columns))
    .add_raw("rows", app::json_array(rows))
    .add("command_tag", r.command_tag);
  return j.str();
}

std::string pools_text(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names)
    out += n + "\n";
  if (!out.empty())
    out.pop_back();
  return out;
}

std::string pools_json(const std::vector<std::string>& names) {
  std::vector<std::string> xs;
  for (auto& n : names)
    xs.push_back(app::json_quote(n));
  app::json_object j;
  j.add_raw("pools", app::json_array(xs));
  return j.str();
}

} // namespace poolctl
