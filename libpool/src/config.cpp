#include "pool/config.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <memory>

#include "pool/error.hpp"

namespace pool {

namespace {

using conninfo_ptr =
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)>;

// Replaces every double-quoted part of a libpq parser message with "***":
// the parser quotes fragments of the input, which may hold a password.
std::string mask_quoted(const std::string& msg) {
  std::string out;
  bool quoted = false;
  for (auto c : msg) {
    if (c == '"') {
      out += c;
      if (!quoted)
        out += "***";
      quoted = !quoted;
    } else if (!quoted && c != '\n') {
      out += c;
    }
  }
  return out;
}

// Parses `conninfo` with libpq; on failure, sets `err` to a password-free
// description.
conninfo_ptr parse_conninfo(const std::string& conninfo, std::string& err) {
  char* errmsg = nullptr;
  conninfo_ptr opts{PQconninfoParse(conninfo.c_str(), &errmsg), PQconninfoFree};
  if (!opts) {
    err = errmsg ? mask_quoted(errmsg) : "out of memory";
    PQfreemem(errmsg);
  }
  return opts;
}

std::string count(caf::timespan x) {
  return std::to_string(
           std::chrono::duration_cast<std::chrono::milliseconds>(x).count()) +
         "ms";
}

caf::error invalid(std::string field, std::string why) {
  return make_error(pool_errc::invalid_config, field + ": " + why);
}

} // namespace

caf::error validate(const pool_config& cfg) {
  if (cfg.max_size == 0)
    return invalid("max_size", "must be at least 1, is 0");
  if (cfg.min_size > cfg.max_size)
    return invalid("min_size", "must not exceed max_size (" +
                                 std::to_string(cfg.max_size) + "), is " +
                                 std::to_string(cfg.min_size));
  if (cfg.max_waiters == 0)
    return invalid("max_waiters", "must be at least 1, is 0");
  if (cfg.pipeline_depth == 0 || cfg.pipeline_depth > 64)
    return invalid("pipeline_depth", "must be in [1, 64] (1 = off), is " +
                                       std::to_string(cfg.pipeline_depth));
  struct {
    const char* name;
    caf::timespan value;
  } positive[] = {{"acquire_timeout", cfg.acquire_timeout},
                  {"query_timeout", cfg.query_timeout},
                  {"connect_timeout", cfg.connect_timeout},
                  {"backoff_min", cfg.backoff_min},
                  {"backoff_max", cfg.backoff_max},
                  {"health_check_timeout", cfg.health_check_timeout},
                  {"breaker_cooldown", cfg.breaker_cooldown},
                  {"queue_interval", cfg.queue_interval}},
    optional[] = {{"max_lifetime", cfg.max_lifetime},
                  {"idle_timeout", cfg.idle_timeout},
                  {"health_check_interval", cfg.health_check_interval},
                  {"validate_after_idle", cfg.validate_after_idle},
                  {"queue_target", cfg.queue_target},
                  {"leak_threshold", cfg.leak_threshold},
                  {"lease_timeout", cfg.lease_timeout}};
  for (auto& d : positive)
    if (d.value.count() <= 0)
      return invalid(d.name, "must be positive, is " + count(d.value));
  for (auto& d : optional)
    if (d.value.count() < 0)
      return invalid(d.name,
                     "must be 0 (off) or positive, is " + count(d.value));
  if (cfg.backoff_max < cfg.backoff_min)
    return invalid("backoff_max", "must be at least backoff_min (" +
                                    count(cfg.backoff_min) + "), is " +
                                    count(cfg.backoff_max));
  std::string err;
  if (!parse_conninfo(cfg.conninfo, err))
    return invalid("conninfo", "cannot parse: " + err);
  return {};
}

std::string redact_conninfo(const std::string& conninfo) {
  std::string err;
  auto opts = parse_conninfo(conninfo, err);
  if (!opts)
    return "<unparsable conninfo>";
  std::string out;
  for (auto opt = opts.get(); opt->keyword != nullptr; ++opt) {
    if (opt->val == nullptr)
      continue;
    if (!out.empty())
      out += ' ';
    out += opt->keyword;
    out += '=';
    out += std::string{opt->keyword} == "password" ? "***" : opt->val;
  }
  return out;
}

} // namespace pool
