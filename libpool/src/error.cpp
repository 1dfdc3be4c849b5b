#include "pool/error.hpp"

#include "caf/message.hpp"
#include "caf/sec.hpp"

namespace pool {

std::string to_string(pool_errc x) {
  switch (x) {
  case pool_errc::acquire_timeout:
    return "acquire_timeout";
  case pool_errc::queue_full:
    return "queue_full";
  case pool_errc::shutting_down:
    return "shutting_down";
  case pool_errc::connection_lost:
    return "connection_lost";
  case pool_errc::query_failed:
    return "query_failed";
  case pool_errc::invalid_lease:
    return "invalid_lease";
  case pool_errc::invalid_config:
    return "invalid_config";
  case pool_errc::connect_failed:
    return "connect_failed";
  case pool_errc::auth_failed:
    return "auth_failed";
  case pool_errc::query_timeout:
    return "query_timeout";
  case pool_errc::invalid_request:
    return "invalid_request";
  case pool_errc::circuit_open:
    return "circuit_open";
  case pool_errc::overloaded:
    return "overloaded";
  case pool_errc::request_timeout:
    return "request_timeout";
  case pool_errc::pool_down:
    return "pool_down";
  case pool_errc::pause_timeout:
    return "pause_timeout";
  case pool_errc::pause_cancelled:
    return "pause_cancelled";
  case pool_errc::no_replica:
    return "no_replica";
  case pool_errc::cancelled:
    return "cancelled";
  }
  return "pool_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(pool_errc code, std::string message,
                      std::string sqlstate) {
  return {static_cast<uint8_t>(code), pool_error_category::value,
          caf::make_message(std::move(sqlstate), std::move(message))};
}

bool is(const caf::error& err, pool_errc code) {
  // CAF 0.17's category() dereferences an empty error: check first.
  return err && err.category() == pool_error_category::value &&
         err.code() == static_cast<uint8_t>(code);
}

namespace {

// Returns the i-th string of a pool error's context, or "".
std::string context_string(const caf::error& err, size_t i) {
  if (!err || err.category() != pool_error_category::value)
    return {};
  auto& ctx = err.context();
  if (!ctx.match_elements<std::string, std::string>())
    return {};
  return ctx.get_as<std::string>(i);
}

} // namespace

std::string sqlstate(const caf::error& err) {
  return context_string(err, 0);
}

std::string error_message(const caf::error& err) {
  return context_string(err, 1);
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() != pool_error_category::value)
    return caf::to_string(err);
  auto result = to_string(static_cast<pool_errc>(err.code()));
  auto state = sqlstate(err);
  if (!state.empty())
    result += " [" + state + "]";
  auto msg = error_message(err);
  if (!msg.empty())
    result += ": " + msg;
  return result;
}

} // namespace pool
