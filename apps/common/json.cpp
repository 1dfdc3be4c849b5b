#include "json.hpp"

#include <cmath>
#include <cstdio>

namespace app {

std::string json_quote(const std::string& x) {
  std::string out;
  out.reserve(x.size() + 2);
  out += '"';
  for (char c : x) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string json_array(const std::vector<std::string>& xs) {
  std::string out = "[";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += xs[i];
  }
  out += ']';
  return out;
}

void json_object::key(const char* name) {
  if (!body_.empty())
    body_ += ", ";
  body_ += json_quote(name);
  body_ += ": ";
}

json_object& json_object::add(const char* name, double value) {
  key(name);
  if (!std::isfinite(value)) {
    body_ += "null";
    return *this;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f", value);
  body_ += buf;
  return *this;
}

json_object& json_object::add(const char* name, uint64_t value) {
  key(name);
  body_ += std::to_string(value);
  return *this;
}

json_object& json_object::add(const char* name, int64_t value) {
  key(name);
  body_ += std::to_string(value);
  return *this;
}

json_object& json_object::add(const char* name, bool value) {
  key(name);
  body_ += value ? "true" : "false";
  return *this;
}

json_object& json_object::add(const char* name, const std::string& value) {
  key(name);
  body_ += json_quote(value);
  return *this;
}

json_object& json_object::add_raw(const char* name, const std::string& json) {
  key(name);
  body_ += json;
  return *this;
}

} // namespace app
