#include "render.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

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
  auto ms = [](caf::timespan d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  app::json_object closed;
  for (size_t i = 0; i < pool::close_reason_count; ++i)
    closed.add(pool::to_string(static_cast<pool::close_reason>(i)).c_str(),
               u(x.connections_closed_by[i]));
  app::json_object errors;
  for (auto& kv : x.errors_by_class)
    errors.add(kv.first.c_str(), u(kv.second));
  auto hist = [&](const pool::duration_histogram& h) {
    app::json_object o;
    o.add("count", u(h.count)).add("sum_ms", ms(h.sum));
    return o.str();
  };
  j.add_raw("closed_by", closed.str())
    .add_raw("errors_by_class", errors.str())
    .add("breaker_half_opened", u(x.breaker_half_opened))
    .add("breaker_closed", u(x.breaker_closed))
    .add_raw("acquire_wait", hist(x.acquire_wait))
    .add_raw("query_time", hist(x.query_time))
    .add_raw("connection_lifetime", hist(x.connection_lifetime))
    .add("paused", x.paused)
    .add("connections_reset", u(x.connections_reset));
  for (size_t i = 0; i < x.by_priority.size(); ++i) {
    auto& c = x.by_priority[i];
    auto name = pool::to_string(static_cast<pool::priority>(i));
    j.add((name + ".acquired").c_str(), u(c.acquired))
      .add((name + ".acquire_timeouts").c_str(), u(c.acquire_timeouts))
      .add((name + ".wait_time_total").c_str(), ms(c.wait_time_total))
      .add((name + ".waiting").c_str(), u(c.waiting));
  }
  auto hosts = [&](const std::map<std::string, uint32_t>& xs) {
    app::json_object o;
    for (auto& kv : xs)
      o.add(kv.first.c_str(), u(kv.second));
    return o.str();
  };
  j.add_raw("connections_by_host", hosts(x.connections_by_host));
  std::vector<std::string> replicas;
  for (auto& r : x.replicas) {
    app::json_object o;
    o.add("name", r.name)
      .add("serving", r.serving)
      .add("lag_ms", ms(r.lag))
      .add("lag_checks", u(r.lag_checks))
      .add("lag_check_failures", u(r.lag_check_failures))
      .add("reads", u(r.reads))
      .add("reason", r.reason)
      .add_raw("connections_by_host", hosts(r.connections_by_host));
    replicas.push_back(o.str());
  }
  // Like the text line, which has replica fields only for a routed pool.
  if (!replicas.empty())
    j.add_raw("replicas", app::json_array(replicas));
  j.add("reads_on_primary", u(x.reads_on_primary));
  // Flat keys, as the text line labels them.
  j.add("listen.connections", u(x.listen.connections))
    .add("listen.channels", u(x.listen.channels))
    .add("listen.subscriptions", u(x.listen.subscriptions))
    .add("listen.received", u(x.listen.received))
    .add("listen.delivered", u(x.listen.delivered))
    .add("listen.reconnects", u(x.listen.reconnects))
    .add("max_open", u(x.max_open))
    .add("limited", x.limited);
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

namespace {

// Rows of cells as columns padded to their widest cell.
std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      width.resize(std::max(width.size(), r.size()));
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size())
        line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

} // namespace

std::string cluster_text(const pool::cluster_view& v) {
  std::string out = "node " + v.node + ", leader " +
                    (v.leader.empty() ? std::string{"none"} : v.leader) + ", " +
                    std::to_string(v.plans) + " plans received\n\n";
  std::vector<std::vector<std::string>> nodes{
    {"NODE", "ADDRESS", "LIVE", "REASON"}};
  for (auto& n : v.nodes)
    nodes.push_back({n.name.empty() ? "?" : n.name,
                     n.address.empty() ? "-" : n.address, n.live ? "yes" : "no",
                     n.reason});
  out += aligned(nodes) + "\n";
  std::vector<std::vector<std::string>> shares{
    {"POOL", "NODE", "LIMIT", "OPEN", "BUDGET"}};
  for (auto& s : v.shares)
    shares.push_back({s.pool, s.node, std::to_string(s.limit),
                      std::to_string(s.open), std::to_string(s.budget)});
  out += aligned(shares);
  out.pop_back();
  return out;
}

std::string cluster_json(const pool::cluster_view& v) {
  std::vector<std::string> nodes;
  for (auto& n : v.nodes) {
    app::json_object j;
    j.add("name", n.name)
      .add("address", n.address)
      .add("live", n.live)
      .add("reason", n.reason);
    nodes.push_back(j.str());
  }
  std::vector<std::string> shares;
  for (auto& s : v.shares) {
    app::json_object j;
    j.add("pool", s.pool)
      .add("node", s.node)
      .add("limit", uint64_t{s.limit})
      .add("open", uint64_t{s.open})
      .add("budget", uint64_t{s.budget});
    shares.push_back(j.str());
  }
  app::json_object j;
  j.add("node", v.node)
    .add("leader", v.leader)
    .add("plans", uint64_t{v.plans})
    .add_raw("nodes", app::json_array(nodes))
    .add_raw("shares", app::json_array(shares));
  return j.str();
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
