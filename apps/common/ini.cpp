#include "ini.hpp"

namespace app {

std::string ini_quote(const std::string& x) {
  std::string out = "\"";
  for (auto c : x) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

} // namespace app
