#include "routing_settings.hpp"

#include "config_error.hpp"

#include <cstdint>
#include <utility>

#include "caf/config_value.hpp"
#include "caf/deep_to_string.hpp"

#include "pool/error.hpp"

namespace poold {

namespace {

// A non-negative duration (a plain 0 too), else an error naming `key`.
caf::error read_duration(const caf::config_value& v, const std::string& key,
                         caf::timespan& out) {
  if (auto x = caf::get_if<caf::timespan>(&v); x && x->count() >= 0) {
    out = *x;
    return {};
  }
  if (auto x = caf::get_if<int64_t>(&v); x && *x == 0) {
    out = caf::timespan{0};
    return {};
  }
  return bad(key + ": expected a duration such as 250ms, 5s or 2min, got " +
             caf::deep_to_string(v));
}

const char* const replicas_key = "replicas";
const char* const fall_back_key = "reads-fall-back-to-primary";
const char* const max_lag_key = "max-replica-lag";
const char* const interval_key = "lag-check-interval";

} // namespace

bool routing_settings::operator==(const routing_settings& other) const {
  return routing_changes(*this, other).empty();
}

std::vector<pool::setting_doc> routing_setting_docs() {
  return {
    {replicas_key, "list of strings", "[]",
     "conninfos of streaming replicas: read-only queries go to one that "
     "serves (each a pool with this section's settings, named "
     "NAME.replica1, ...)"},
    {fall_back_key, "bool", "true",
     "with replicas: read-only queries run on the primary when no replica "
     "serves (false: they fail with no_replica)"},
    {max_lag_key, "duration", "10s",
     "with replicas: a replica lagging more gets no reads (0: no bound)"},
    {interval_key, "duration", "1s",
     "with replicas: how often each replica's lag is checked"},
  };
}

std::string replica_name(const std::string& pool, size_t i) {
  return pool + ".replica" + std::to_string(i + 1);
}

caf::error take_routing_settings(caf::settings& section,
                                 const std::string& where,
                                 routing_settings& out) {
  if (auto i = section.find(replicas_key); i != section.end()) {
    auto key = where + "." + replicas_key;
    out.replicas.clear();
    if (auto s = caf::get_if<std::string>(&i->second)) {
      out.replicas.push_back(*s);
    } else if (auto xs = caf::get_if<caf::config_value::list>(&i->second)) {
      for (size_t k = 0; k < xs->size(); ++k) {
        auto s = caf::get_if<std::string>(&(*xs)[k]);
        if (s == nullptr)
          return bad(key + "[" + std::to_string(k) +
                     "]: expected a quoted string (a conninfo), got a value "
                     "of another type");
        out.replicas.push_back(*s);
      }
    } else {
      return bad(key + ": expected a list of quoted strings (conninfos), "
                       "got a value of another type");
    }
  }
  if (auto i = section.find(fall_back_key); i != section.end()) {
    auto x = caf::get_if<bool>(&i->second);
    if (x == nullptr)
      return bad(where + "." + fall_back_key +
                 ": expected true or false, got " +
                 caf::deep_to_string(i->second));
    out.reads_fall_back_to_primary = *x;
  }
  if (auto i = section.find(max_lag_key); i != section.end()) {
    if (auto err = read_duration(i->second, where + "." + max_lag_key,
                                 out.max_replica_lag))
      return err;
  }
  if (auto i = section.find(interval_key); i != section.end()) {
    if (auto err = read_duration(i->second, where + "." + interval_key,
                                 out.lag_check_interval))
      return err;
  }
  if (out.lag_check_interval.count() <= 0)
    return bad(where + "." + interval_key + ": must be positive");
  caf::settings rest; // caf::dictionary has no erase
  for (auto& kv : section)
    if (kv.first != replicas_key && kv.first != fall_back_key &&
        kv.first != max_lag_key && kv.first != interval_key)
      rest.emplace(kv.first, kv.second);
  section = std::move(rest);
  return {};
}

pool::routed_pool_config routed_config(const pool::pool_config& primary,
                                       const routing_settings& r) {
  pool::routed_pool_config out;
  out.primary = primary;
  for (size_t i = 0; i < r.replicas.size(); ++i) {
    auto rc = primary;
    rc.name = replica_name(primary.name, i);
    rc.conninfo = r.replicas[i];
    out.replicas.push_back(std::move(rc));
  }
  out.reads_fall_back_to_primary = r.reads_fall_back_to_primary;
  out.max_replica_lag = r.max_replica_lag;
  out.lag_check_interval = r.lag_check_interval;
  return out;
}

caf::error validate_routing(const pool::pool_config& primary,
                            const routing_settings& r,
                            const std::string& where) {
  if (!r.routed())
    return {};
  auto cfg = routed_config(primary, r);
  for (size_t i = 0; i < cfg.replicas.size(); ++i)
    if (auto err = pool::validate(cfg.replicas[i]))
      return bad(where + "." + replicas_key + "[" + std::to_string(i) + "] (" +
                 cfg.replicas[i].name + "): " + pool::error_message(err));
  // The rest (names, lag bounds) is checked above or by construction; this
  // is the library's word on the whole, should it check more one day.
  if (auto err = pool::validate(cfg))
    return bad(where + ": " + pool::error_message(err));
  return {};
}

caf::expected<pool::pool_actor> spawn_routed(caf::actor_system& sys,
                                             const pool::pool_config& primary,
                                             const routing_settings& r,
                                             spdlog::logger& log) {
  auto cfg = routed_config(primary, r);
  for (auto& rc : cfg.replicas)
    log.info("pool {}: replica {} at {}", primary.name, rc.name,
             pool::redact_conninfo(rc.conninfo));
  return pool::spawn_routed_pool(sys, std::move(cfg));
}

std::string routing_changes(const routing_settings& from,
                            const routing_settings& to) {
  std::string out;
  auto note = [&](bool differs, const char* key) {
    if (differs)
      out += (out.empty() ? "" : ", ") + std::string{key};
  };
  note(from.replicas != to.replicas, replicas_key);
  note(from.reads_fall_back_to_primary != to.reads_fall_back_to_primary,
       fall_back_key);
  note(from.max_replica_lag != to.max_replica_lag, max_lag_key);
  note(from.lag_check_interval != to.lag_check_interval, interval_key);
  return out;
}

} // namespace poold
