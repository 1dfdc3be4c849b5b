#include "pool/config.hpp"
#include "pool/conninfo.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "pool/error.hpp"

namespace pool {

namespace {

using conninfo_ptr =
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)>;

// Replaces every double-quoted part of a libpq parser message with "***":
// the parser quotes fragments of the input, which may hold a password. The
// fallback when the conninfo cannot be scanned for its password.
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

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

bool starts_with(const std::string& x, const char* prefix) {
  return x.compare(0, std::char_traits<char>::length(prefix), prefix) == 0;
}

// Decodes %XX escapes; returns `x` unchanged if one is malformed.
std::string percent_decode(const std::string& x) {
  std::string out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] != '%') {
      out += x[i];
      continue;
    }
    if (i + 2 >= x.size() ||
        !std::isxdigit(static_cast<unsigned char>(x[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(x[i + 2])))
      return x;
    out += static_cast<char>(std::stoi(x.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

// Adds the password value as written and as decoded (libpq may quote either).
void add_secret(std::vector<std::string>& out, std::string raw,
                std::string decoded) {
  if (!decoded.empty() && decoded != raw)
    out.push_back(std::move(decoded));
  if (!raw.empty())
    out.push_back(std::move(raw));
}

// Collects the password values of a URI conninfo: the user info's
// (`postgresql://user:secret@host`) and any `password=` query parameter.
void uri_secrets(const std::string& uri, size_t prefix,
                 std::vector<std::string>& out) {
  // Like libpq: the user info ends at the first '@' before any '/'.
  auto end = uri.find_first_of("@/", prefix);
  if (end != std::string::npos && uri[end] == '@') {
    auto colon = uri.find(':', prefix);
    if (colon < end) {
      auto raw = uri.substr(colon + 1, end - colon - 1);
      add_secret(out, raw, percent_decode(raw));
    }
  }
  auto query = uri.find('?', prefix);
  while (query != std::string::npos) {
    auto next = uri.find('&', query + 1);
    auto param =
      uri.substr(query + 1, next == std::string::npos ? std::string::npos
                                                      : next - query - 1);
    auto eq = param.find('=');
    if (eq != std::string::npos &&
        percent_decode(param.substr(0, eq)) == "password") {
      auto raw = param.substr(eq + 1);
      add_secret(out, raw, percent_decode(raw));
    }
    query = next;
  }
}

// Collects the password values of a keyword/value conninfo, tolerating what
// libpq rejects: it stops at a keyword without '=' (libpq stops there too)
// and takes an unterminated quoted value to the end.
void keyword_value_secrets(const std::string& x,
                           std::vector<std::string>& out) {
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < x.size() && is_space(x[i]))
      ++i;
  };
  for (;;) {
    skip_spaces();
    if (i == x.size())
      return;
    auto start = i;
    while (i < x.size() && !is_space(x[i]) && x[i] != '=')
      ++i;
    auto keyword = x.substr(start, i - start);
    skip_spaces();
    if (i == x.size() || x[i] != '=')
      return;
    ++i;
    skip_spaces();
    std::string value;
    bool quoted = i < x.size() && x[i] == '\'';
    if (quoted)
      ++i;
    start = i;
    while (i < x.size()) {
      if (quoted ? x[i] == '\'' : is_space(x[i]))
        break;
      if (x[i] == '\\' && i + 1 < x.size())
        ++i;
      value += x[i++];
    }
    auto raw = x.substr(start, i - start);
    if (quoted && i < x.size())
      ++i; // the closing quote
    if (keyword == "password")
      add_secret(out, raw, value);
  }
}

// Returns whether `conninfo` may hold a password the scan did not find.
bool may_hide_password(const std::string& conninfo) {
  std::string lower;
  for (auto c : conninfo)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("password") != std::string::npos ||
         lower.find('@') != std::string::npos;
}

// Redacts the password values of `conninfo` in libpq's parser message `msg`,
// keeping every other quoted fragment (such as an unknown keyword) visible.
// Falls back to `mask_quoted` when no password value is found although the
// conninfo looks like it holds one.
std::string redact_message(const std::string& conninfo,
                           const std::string& msg) {
  std::vector<std::string> secrets;
  if (starts_with(conninfo, "postgresql://"))
    uri_secrets(conninfo, 13, secrets);
  else if (starts_with(conninfo, "postgres://"))
    uri_secrets(conninfo, 11, secrets);
  else
    keyword_value_secrets(conninfo, secrets);
  if (secrets.empty() && may_hide_password(conninfo))
    return mask_quoted(msg);
  // Longest first, so that a secret containing another is replaced whole.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& x, const std::string& y) {
              return x.size() > y.size();
            });
  std::string out = msg;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  for (auto& secret : secrets)
    for (auto pos = out.find(secret); pos != std::string::npos;
         pos = out.find(secret, pos + 3))
      out.replace(pos, secret.size(), "***");
  return out;
}

// Parses `conninfo` with libpq; on failure, sets `err` to a password-free
// description.
conninfo_ptr parse_conninfo(const std::string& conninfo, std::string& err) {
  char* errmsg = nullptr;
  conninfo_ptr opts{PQconninfoParse(conninfo.c_str(), &errmsg), PQconninfoFree};
  if (!opts) {
    err = errmsg ? redact_message(conninfo, errmsg) : "out of memory";
    PQfreemem(errmsg);
  }
  return opts;
}

std::string count(caf::timespan x) {
  return std::to_string(
           std::chrono::duration_cast<std::chrono::milliseconds>(x).count()) +
         "ms";
}

// Whether `sql` holds nothing but white space.
bool blank(const std::string& sql) {
  return std::all_of(sql.begin(), sql.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c));
  });
}

caf::error invalid(std::string field, std::string why) {
  return make_error(pool_errc::invalid_config, field + ": " + why);
}

} // namespace

caf::error validate(const pool_config& cfg) {
  if (cfg.name.empty())
    return invalid("name", "must not be empty");
  for (auto c : cfg.name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' &&
        c != '.')
      return invalid("name", "may hold only letters, digits, '_', '-' and "
                             "'.', is \"" +
                               cfg.name + "\"");
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
  if (cfg.stream_window == 0 || cfg.stream_window > 64)
    return invalid("stream_window", "must be in [1, 64], is " +
                                      std::to_string(cfg.stream_window));
  for (size_t i = 0; i < cfg.after_connect_sql.size(); ++i)
    if (blank(cfg.after_connect_sql[i]))
      return invalid("after_connect_sql[" + std::to_string(i) + "]",
                     "must not be empty");
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
                  {"lease_timeout", cfg.lease_timeout},
                  {"priority_aging", cfg.priority_aging}};
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

namespace {

// `v` as a value of a libpq keyword/value conninfo.
std::string conninfo_value(const std::string& v) {
  bool plain = !v.empty();
  for (auto c : v)
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\'' ||
        c == '\\')
      plain = false;
  if (plain)
    return v;
  std::string out = "'";
  for (auto c : v) {
    if (c == '\'' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "'";
}

} // namespace

namespace {

// Renders libpq's options `opts` as a keyword/value conninfo; `value_of`
// returns the value to write for a keyword and its parsed value (null if
// unset), or null to leave the keyword out.
template <class F>
std::string render_conninfo(PQconninfoOption* opts, F value_of) {
  std::string out;
  for (auto opt = opts; opt->keyword != nullptr; ++opt) {
    auto key = std::string{opt->keyword};
    const char* v = value_of(key, opt->val);
    if (v == nullptr)
      continue;
    if (!out.empty())
      out += ' ';
    out += key;
    out += '=';
    out += conninfo_value(v);
  }
  return out;
}

} // namespace

std::string redact_conninfo(const std::string& conninfo) {
  std::string err;
  auto opts = parse_conninfo(conninfo, err);
  if (!opts)
    return "<unparsable conninfo>";
  return render_conninfo(
    opts.get(), [](const std::string& key, const char* v) -> const char* {
      if (v != nullptr && (key == "password" || key == "sslpassword"))
        return "***";
      return v;
    });
}

std::string with_conninfo_option(const std::string& conninfo,
                                 const std::string& key,
                                 const std::string& value) {
  std::string err;
  auto opts = parse_conninfo(conninfo, err);
  if (!opts)
    return {};
  bool known = false;
  auto out = render_conninfo(
    opts.get(), [&](const std::string& k, const char* v) -> const char* {
      if (k != key)
        return v;
      known = true;
      return value.c_str();
    });
  return known ? out : std::string{};
}

} // namespace pool
