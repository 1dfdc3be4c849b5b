#include "pool/settings.hpp"
#include "pool/settings_diff.hpp"

#include "pool/config.hpp"

namespace pool {

namespace {

// Sets `field` to `*x` if `x` is set; notes its name if the value changed.
template <class T, class U>
bool set(const caf::optional<T>& x, U& field, const char* name,
         std::string& changed) {
  if (!x || static_cast<U>(*x) == field)
    return false;
  field = static_cast<U>(*x);
  if (!changed.empty())
    changed += ", ";
  changed += name;
  return true;
}

} // namespace

std::string apply(const pool_settings& x, pool_config& cfg, bool& needs_reset) {
  std::string changed;
  set(x.acquire_timeout, cfg.acquire_timeout, "acquire_timeout", changed);
  set(x.query_timeout, cfg.query_timeout, "query_timeout", changed);
  set(x.connect_timeout, cfg.connect_timeout, "connect_timeout", changed);
  set(x.min_size, cfg.min_size, "min_size", changed);
  set(x.max_size, cfg.max_size, "max_size", changed);
  set(x.health_check_interval, cfg.health_check_interval,
      "health_check_interval", changed);
  set(x.idle_timeout, cfg.idle_timeout, "idle_timeout", changed);
  set(x.max_lifetime, cfg.max_lifetime, "max_lifetime", changed);
  set(x.validate_after_idle, cfg.validate_after_idle, "validate_after_idle",
      changed);
  set(x.max_waiters, cfg.max_waiters, "max_waiters", changed);
  set(x.leak_threshold, cfg.leak_threshold, "leak_threshold", changed);
  set(x.lease_timeout, cfg.lease_timeout, "lease_timeout", changed);
  set(x.priority_aging, cfg.priority_aging, "priority_aging", changed);
  needs_reset = false;
  needs_reset |= set(x.conninfo, cfg.conninfo, "conninfo", changed);
  needs_reset |= set(x.reset_query, cfg.reset_query, "reset_query", changed);
  needs_reset |= set(x.statement_cache_size, cfg.statement_cache_size,
                     "statement_cache_size", changed);
  needs_reset |=
    set(x.pipeline_depth, cfg.pipeline_depth, "pipeline_depth", changed);
  return changed;
}

pool_settings settings_of(const pool_config& cfg) {
  pool_settings x;
  x.acquire_timeout = cfg.acquire_timeout;
  x.query_timeout = cfg.query_timeout;
  x.connect_timeout = cfg.connect_timeout;
  x.min_size = cfg.min_size;
  x.max_size = cfg.max_size;
  x.health_check_interval = cfg.health_check_interval;
  x.idle_timeout = cfg.idle_timeout;
  x.max_lifetime = cfg.max_lifetime;
  x.validate_after_idle = cfg.validate_after_idle;
  x.max_waiters = cfg.max_waiters;
  x.leak_threshold = cfg.leak_threshold;
  x.lease_timeout = cfg.lease_timeout;
  x.priority_aging = cfg.priority_aging;
  x.conninfo = cfg.conninfo;
  x.reset_query = cfg.reset_query;
  x.statement_cache_size = cfg.statement_cache_size;
  x.pipeline_depth = cfg.pipeline_depth;
  return x;
}

std::string restart_only_changes(const pool_config& from,
                                 const pool_config& to) {
  std::string out;
  auto note = [&](bool differs, const char* name) {
    if (differs)
      out += (out.empty() ? "" : ", ") + std::string{name};
  };
  note(from.fill_pipelines != to.fill_pipelines, "fill_pipelines");
  note(from.backoff_min != to.backoff_min, "backoff_min");
  note(from.backoff_max != to.backoff_max, "backoff_max");
  note(from.health_check_timeout != to.health_check_timeout,
       "health_check_timeout");
  note(from.breaker_threshold != to.breaker_threshold, "breaker_threshold");
  note(from.breaker_cooldown != to.breaker_cooldown, "breaker_cooldown");
  note(from.breaker_fail_fast != to.breaker_fail_fast, "breaker_fail_fast");
  note(from.queue_target != to.queue_target, "queue_target");
  note(from.queue_interval != to.queue_interval, "queue_interval");
  note(from.pause_closes_idle != to.pause_closes_idle, "pause_closes_idle");
  note(from.after_connect_sql != to.after_connect_sql, "after_connect_sql");
  note(from.before_acquire_sql != to.before_acquire_sql, "before_acquire_sql");
  note(from.slow_query_threshold != to.slow_query_threshold,
       "slow_query_threshold");
  return out;
}

} // namespace pool
