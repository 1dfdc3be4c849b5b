#include "pool/config_settings.hpp"

#include <cstdint>

#include "caf/config_value.hpp"
#include "caf/deep_to_string.hpp"

#include "pool/error.hpp"

namespace pool {

namespace {

enum class kind { count, duration, flag, text, texts };

struct entry {
  const char* key;
  const char* help;
  kind type;
  size_t pool_config::*count = nullptr;
  caf::timespan pool_config::*duration = nullptr;
  bool pool_config::*flag = nullptr;
  std::string pool_config::*text = nullptr;
  std::vector<std::string> pool_config::*texts = nullptr;
};

entry count(const char* key, size_t pool_config::*m, const char* help) {
  entry e{key, help, kind::count};
  e.count = m;
  return e;
}

entry duration(const char* key, caf::timespan pool_config::*m,
               const char* help) {
  entry e{key, help, kind::duration};
  e.duration = m;
  return e;
}

entry flag(const char* key, bool pool_config::*m, const char* help) {
  entry e{key, help, kind::flag};
  e.flag = m;
  return e;
}

entry text(const char* key, std::string pool_config::*m, const char* help) {
  entry e{key, help, kind::text};
  e.text = m;
  return e;
}

entry texts(const char* key, std::vector<std::string> pool_config::*m,
            const char* help) {
  entry e{key, help, kind::texts};
  e.texts = m;
  return e;
}

// Every key, in the order of pool_config's fields (config.hpp documents each).
const std::vector<entry>& entries() {
  using c = pool_config;
  static const std::vector<entry> xs{
    text("conninfo", &c::conninfo,
         "libpq connection string (PG* variables and .pgpass apply)"),
    count("min-size", &c::min_size, "connections kept open"),
    count("max-size", &c::max_size, "upper bound on connections"),
    duration("acquire-timeout", &c::acquire_timeout,
             "longest wait for a connection"),
    duration("query-timeout", &c::query_timeout,
             "longest run of one statement (0: none)"),
    duration("connect-timeout", &c::connect_timeout,
             "longest connect, TLS and authentication included"),
    count("max-waiters", &c::max_waiters,
          "requests that may wait; more get queue_full"),
    count("statement-cache-size", &c::statement_cache_size,
          "prepared statements kept per connection (0: unnamed only)"),
    count("pipeline-depth", &c::pipeline_depth,
          "queries in flight per connection (1: no pipelining)"),
    flag("fill-pipelines", &c::fill_pipelines,
         "fill busy connections' pipelines before idle ones"),
    count("stream-window", &c::stream_window,
          "unacknowledged chunks per stream or COPY out"),
    duration("backoff-min", &c::backoff_min, "first reconnect delay"),
    duration("backoff-max", &c::backoff_max, "longest reconnect delay"),
    duration("max-lifetime", &c::max_lifetime,
             "connections are recycled after this age (0: never)"),
    duration("idle-timeout", &c::idle_timeout,
             "idle connections above min-size close after this (0: never)"),
    duration("health-check-interval", &c::health_check_interval,
             "idle connections are pinged this often (0: never)"),
    duration("health-check-timeout", &c::health_check_timeout,
             "longest health check"),
    duration("validate-after-idle", &c::validate_after_idle,
             "a connection idle this long is checked before use (0: never)"),
    count("breaker-threshold", &c::breaker_threshold,
          "consecutive connect failures that open the breaker (0: none)"),
    duration("breaker-cooldown", &c::breaker_cooldown,
             "time the breaker stays open before a probe"),
    flag("breaker-fail-fast", &c::breaker_fail_fast,
         "fail waiters at once while the breaker is open"),
    duration("queue-target", &c::queue_target,
             "load shedding: acceptable queueing delay"),
    duration("queue-interval", &c::queue_interval,
             "load shedding: window over which the delay is judged"),
    duration("leak-threshold", &c::leak_threshold,
             "a lease held longer is logged as a possible leak (0: never)"),
    duration("lease-timeout", &c::lease_timeout,
             "a lease held longer is reclaimed (0: never)"),
    duration("priority-aging", &c::priority_aging,
             "a waiting request's class rises by one per this wait"),
    flag("pause-closes-idle", &c::pause_closes_idle,
         "pause closes the idle connections once drained"),
    texts("after-connect", &c::after_connect_sql,
          "statements run on each new connection, e.g. [\"SET ...\"]"),
    text("before-acquire", &c::before_acquire_sql,
         "statement run before each hand-out; false or failure rejects"),
    text("reset-query", &c::reset_query,
         "statement run when a lease ends (e.g. DISCARD ALL); false "
         "discards"),
    duration("slow-query-threshold", &c::slow_query_threshold,
             "queries taking this long are logged (0: off)"),
  };
  return xs;
}

std::string print(const entry& e, const pool_config& cfg) {
  switch (e.type) {
  case kind::count:
    return std::to_string(cfg.*e.count);
  case kind::duration:
    return (cfg.*e.duration).count() == 0
             ? "0"
             : caf::deep_to_string(cfg.*e.duration);
  case kind::flag:
    return cfg.*e.flag ? "true" : "false";
  case kind::text:
    return ini_quote(cfg.*e.text);
  case kind::texts: {
    std::string out = "[";
    for (auto& x : cfg.*e.texts)
      out += (out.size() == 1 ? "" : ", ") + ini_quote(x);
    return out + "]";
  }
  }
  return {};
}

const char* type_name(kind k) {
  switch (k) {
  case kind::count:
    return "uint";
  case kind::duration:
    return "duration";
  case kind::flag:
    return "bool";
  case kind::text:
    return "string";
  case kind::texts:
    return "string list";
  }
  return "";
}

caf::error wrong(const std::string& where, const entry& e,
                 const caf::config_value& v, const char* expected) {
  std::string got = e.type == kind::text && std::string{e.key} == "conninfo"
                      ? std::string{"a value of another type"}
                      : caf::deep_to_string(v);
  return make_error(pool_errc::invalid_config, where + "." + e.key +
                                                 ": expected " + expected +
                                                 ", got " + got);
}

caf::error apply(const entry& e, const caf::config_value& v,
                 const std::string& where, pool_config& cfg) {
  switch (e.type) {
  case kind::count:
    if (auto x = caf::get_if<int64_t>(&v); x && *x >= 0) {
      cfg.*e.count = static_cast<size_t>(*x);
      return {};
    }
    return wrong(where, e, v, "an unsigned integer");
  case kind::duration:
    if (auto x = caf::get_if<caf::timespan>(&v); x && x->count() >= 0) {
      cfg.*e.duration = *x;
      return {};
    }
    if (auto x = caf::get_if<int64_t>(&v); x && *x == 0) {
      cfg.*e.duration = caf::timespan{0};
      return {};
    }
    return wrong(where, e, v, "a duration such as 250ms, 5s or 2min");
  case kind::flag:
    if (auto x = caf::get_if<bool>(&v)) {
      cfg.*e.flag = *x;
      return {};
    }
    return wrong(where, e, v, "true or false");
  case kind::text:
    if (auto x = caf::get_if<std::string>(&v)) {
      cfg.*e.text = *x;
      return {};
    }
    return wrong(where, e, v, "a quoted string");
  case kind::texts:
    if (auto xs = caf::get_if<caf::config_value::list>(&v)) {
      std::vector<std::string> out;
      for (auto& x : *xs) {
        auto str = caf::get_if<std::string>(&x);
        if (!str)
          return wrong(where, e, v, "a list of quoted strings");
        out.push_back(*str);
      }
      cfg.*e.texts = std::move(out);
      return {};
    }
    return wrong(where, e, v, "a list of quoted strings, e.g. [\"SET a = 1\"]");
  }
  return {};
}

} // namespace

std::vector<setting_doc> pool_setting_docs() {
  pool_config defaults;
  std::vector<setting_doc> out;
  for (auto& e : entries())
    out.push_back({e.key, type_name(e.type), print(e, defaults), e.help});
  return out;
}

caf::error read_pool_settings(const caf::settings& xs, const std::string& where,
                              pool_config& cfg) {
  for (auto& kv : xs) {
    const entry* found = nullptr;
    for (auto& e : entries())
      if (kv.first == e.key)
        found = &e;
    if (!found) {
      std::string keys;
      for (auto& e : entries())
        keys += (keys.empty() ? "" : ", ") + std::string{e.key};
      return make_error(pool_errc::invalid_config,
                        where + "." + kv.first +
                          ": unknown setting (known: " + keys + ")");
    }
    if (auto err = apply(*found, kv.second, where, cfg))
      return err;
  }
  return {};
}

std::string ini_quote(const std::string& x) {
  std::string out = "\"";
  for (auto c : x) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

} // namespace pool
