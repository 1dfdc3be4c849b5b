#pragma once

// A small JSON writer shared by the apps (pool-bench's result files,
// poolctl's --json output): proper string escaping, no dependency.

#include <cstdint>
#include <string>
#include <vector>

namespace app {

/// Returns `x` as a JSON string literal, quotes included: `"` and `\`
/// escaped, control characters as \uXXXX, other bytes unchanged.
std::string json_quote(const std::string& x);

/// Returns `xs` as a JSON array of its elements, which must be JSON texts
/// already (e.g. from `json_quote`).
std::string json_array(const std::vector<std::string>& xs);

/// Builds one JSON object, fields in insertion order.
class json_object {
 public:
  /// Adds a number with 3 decimals (null when not finite).
  json_object& add(const char* name, double value);
  /// Adds an integer.
  json_object& add(const char* name, uint64_t value);
  /// Adds an integer.
  json_object& add(const char* name, int64_t value);
  /// Adds true or false.
  json_object& add(const char* name, bool value);
  /// Adds a string (escaped).
  json_object& add(const char* name, const std::string& value);
  /// Adds a string (escaped).
  json_object& add(const char* name, const char* value) {
    return add(name, std::string{value});
  }
  /// Adds `json`, which must be a JSON text already (an array, an object,
  /// null).
  json_object& add_raw(const char* name, const std::string& json);
  /// Returns the object's text.
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const char* name);
  std::string body_;
};

} // namespace app
