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
/// `sys` runs it, else one poller thread; and one `libpq_blocking_thread`
/// (started by the first cancel or host-name connect) for the calls that
/// block. Both live as long as the backend or any of its connections; the
/// blocking thread is joined when the last of them goes. No actor runs in
/// the libpq layer. `create` only reads the backend's members, so any thread
/// may call it.
class libpq_backend final : public backend {
 public:
  explicit libpq_backend(caf::actor_system& sys)
    // PostgreSQL's rules: what is fatal, what may pipeline.
    : backend(std::make_shared<const postgres_dialect>()),
      poller_(ready_for(sys)),
      jobs_(std::make_shared<libpq_blocking_thread>()) {
    // nop
  }

  bool can_pipeline() const override { return true; }

  std::unique_ptr<connection> create(const pool_config& cfg, waker w) override {
    return std::make_unique<libpq_connection>(poller_, jobs_, cfg,
                                              std::move(w));
  }

 private:
  std::shared_ptr<readiness> poller_;
  std::shared_ptr<libpq_blocking_thread> jobs_;
};

} // namespace

std::shared_ptr<backend> make_libpq_backend(caf::actor_system& sys) {
  return std::make_shared<libpq_backend>(sys);
}

} // namespace pool
