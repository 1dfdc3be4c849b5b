#include "libpq_hosts.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <arpa/inet.h>
#include <libpq-fe.h>

namespace pool {

namespace {

/// Splits a comma-separated libpq list ("a,b,,c"); an empty value gives one
/// empty entry, as libpq counts it.
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string::size_type start = 0;
  for (;;) {
    auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos)
      return out;
    start = comma + 1;
  }
}

/// Whether `host` reaches libpq's connect without a name lookup.
bool needs_no_lookup(const std::string& host) {
  if (host.empty() || host[0] == '/' || host[0] == '@')
    return true; // the default socket, a socket directory, abstract socket
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

/// The value of `key` in `opts`, else the environment variable `env`, else
/// "".
std::string option(const PQconninfoOption* opts, const char* key,
                   const char* env) {
  for (auto o = opts; o != nullptr && o->keyword != nullptr; ++o)
    if (std::strcmp(o->keyword, key) == 0 && o->val != nullptr)
      return o->val;
  auto val = std::getenv(env);
  return val != nullptr ? val : "";
}

} // namespace

bool is_expandable(const std::string& conninfo) {
  return conninfo.find('=') != std::string::npos ||
         conninfo.rfind("postgresql://", 0) == 0 ||
         conninfo.rfind("postgres://", 0) == 0;
}

bool may_look_up_host(const std::string& conninfo) {
  PQconninfoOption* opts = nullptr;
  if (is_expandable(conninfo)) {
    char* err = nullptr;
    opts = PQconninfoParse(conninfo.c_str(), &err);
    PQfreemem(err);
    if (opts == nullptr)
      return false;
  }
  auto host = option(opts, "host", "PGHOST");
  auto hostaddr = option(opts, "hostaddr", "PGHOSTADDR");
  auto service = option(opts, "service", "PGSERVICE");
  if (opts != nullptr)
    PQconninfoFree(opts);
  if (!service.empty())
    return true;
  auto hosts = split_list(host);
  auto addrs =
    hostaddr.empty() ? std::vector<std::string>{} : split_list(hostaddr);
  auto n = std::max(hosts.size(), addrs.size());
  for (size_t i = 0; i < n; ++i) {
    if (i < addrs.size() && !addrs[i].empty())
      continue; // connects to hostaddr; the host name is only for TLS/auth
    if (!needs_no_lookup(i < hosts.size() ? hosts[i] : std::string{}))
      return true;
  }
  return false;
}

} // namespace pool
