#include "pool/pool.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/message.hpp"

#include "actors.hpp"

namespace pool {

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<statement>("pool::statement");
  cfg.add_message_type<std::vector<statement>>("std::vector<pool::statement>");
  cfg.add_message_type<query_result>("pool::query_result");
  cfg.add_message_type<std::vector<query_result>>(
    "std::vector<pool::query_result>");
  cfg.add_message_type<pool_stats>("pool::pool_stats");
  cfg.add_message_type<lease>("pool::lease");
  cfg.add_message_type<lease_actor>("pool::lease_actor");
  cfg.add_message_type<breaker_event>("pool::breaker_event");
  cfg.add_message_type<pool_settings>("pool::pool_settings");
  cfg.add_message_type<priority>("pool::priority");
  cfg.add_error_category(
    pool_error_category::value,
    [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      return describe(make_error(static_cast<pool_errc>(code),
                                 ctx.match_elements<std::string, std::string>()
                                   ? ctx.get_as<std::string>(1)
                                   : std::string{},
                                 ctx.match_elements<std::string, std::string>()
                                   ? ctx.get_as<std::string>(0)
                                   : std::string{}));
    });
}

caf::expected<pool_actor> spawn_pool(caf::actor_system& sys, pool_config cfg) {
  if (auto err = validate(cfg))
    return err;
  auto ctx = std::make_shared<pool_context>();
  if (!cfg.connection_backend)
    cfg.connection_backend = make_libpq_backend(sys);
  if (!cfg.logger) {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    cfg.logger =
      std::make_shared<spdlog::logger>("pool." + cfg.name, std::move(sink));
    cfg.logger->set_level(spdlog::level::warn);
  } else {
    // A clone shares the sinks, so several pools write to one place, each
    // line under its own pool's name.
    cfg.logger = cfg.logger->clone(cfg.logger->name() + "." + cfg.name);
  }
  ctx->db = cfg.connection_backend;
  ctx->log = cfg.logger;
  ctx->log->info("starting pool: {} (min_size {}, max_size {})",
                 redact_conninfo(cfg.conninfo), cfg.min_size, cfg.max_size);
  ctx->cfg = std::move(cfg);
  return pool_actor{spawn_manager(sys, std::move(ctx))};
}

} // namespace pool
