#include "pool/tracer.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "pool/error.hpp"

namespace pool {

tracer::~tracer() = default;

std::string trace_event::sqlstate() const {
  return error ? pool::sqlstate(*error) : std::string{};
}

const char* to_string(trace_kind x) {
  switch (x) {
  case trace_kind::acquire:
    return "acquire";
  case trace_kind::query:
    return "query";
  case trace_kind::transaction:
    return "transaction";
  case trace_kind::connect:
    return "connect";
  }
  return "unknown";
}

namespace {

class slow_logger : public tracer {
 public:
  slow_logger(caf::timespan threshold, std::shared_ptr<spdlog::logger> log,
              std::shared_ptr<tracer> next)
    : threshold_(threshold), log_(std::move(log)), next_(std::move(next)) {
    // nop
  }

  void on_event(const trace_event& ev) override {
    if (ev.end && ev.kind == trace_kind::query && ev.duration >= threshold_) {
      auto ms = std::chrono::duration<double, std::milli>(ev.duration).count();
      log_->warn(
        "slow query ({:.1f} ms) on connection {}{}: {}", ms, ev.connection,
        ev.error ? " (failed: " + describe(*ev.error) + ")" : std::string{},
        ev.sql ? *ev.sql : std::string{});
    }
    if (next_)
      next_->on_event(ev);
  }

 private:
  caf::timespan threshold_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<tracer> next_;
};

} // namespace

std::shared_ptr<tracer> slow_query_logger(caf::timespan threshold,
                                          std::shared_ptr<spdlog::logger> log,
                                          std::shared_ptr<tracer> next) {
  return std::make_shared<slow_logger>(threshold, std::move(log),
                                       std::move(next));
}

} // namespace pool
