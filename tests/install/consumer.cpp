// Links against an installed libpool; validates a config without a server.
#include <iostream>

#include "pool/config.hpp"
#include "pool/error.hpp"

int main() {
  pool::pool_config cfg;
  cfg.min_size = 3;
  cfg.max_size = 1;
  auto err = pool::validate(cfg);
  std::cout << pool::error_message(err) << '\n';
  return pool::is(err, pool::pool_errc::invalid_config) ? 0 : 1;
}
