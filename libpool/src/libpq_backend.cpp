#include <memory>

#include "caf/actor_system.hpp"

#include "pool/backend.hpp"
#include "pool/config.hpp"

#include "io_scheduler.hpp"
#include "libpq_connection.hpp"
#include "poller.hpp"

namespace pool {

namespace {

std::shared_ptr<readiness> ready_for(caf::actor_system& sys) {
  if (auto hub = io_hub_of(sys))
    return hub;
  return std::make_shared<poller>();
}

/// The libpq backend: connections share the io scheduler's epoll sets when
/// `sys` runs it, else one poller thread, which lives as long as the backend
/// or any of its connections. `create` only reads the
/// backend's members, so any thread may call it.
class libpq_backend final : public backend {
 public:
  explicit libpq_backend(caf::actor_system& sys)
    // PostgreSQL's rules: what is fatal, what may pipeline.
    : backend(std::make_shared<const postgres_dialect>()), sys_(sys),
      poller_(ready_for(sys)) {
    // nop
  }

  bool can_pipeline() const override { return true; }

  std::unique_ptr<connection> create(const pool_config& cfg, waker w) override {
    return std::make_unique<libpq_connection>(sys_, poller_, cfg, std::move(w));
  }

 private:
  caf::actor_system& sys_;
  std::shared_ptr<readiness> poller_;
};

} // namespace

std::shared_ptr<backend> make_libpq_backend(caf::actor_system& sys) {
  return std::make_shared<libpq_backend>(sys);
}

} // namespace pool
