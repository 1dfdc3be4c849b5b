#include "pool/pool.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "caf/actor_system.hpp"
#include "caf/message.hpp"

#include "actors.hpp"
#include "pool/remote.hpp"
#include "pool/tracer.hpp"

namespace pool {

namespace {

// Registers the types of one type-ID block, under the names the block gives
// them: the block is the one list of the pool's message types.
template <caf::type_id_t I, caf::type_id_t End>
void add_block(caf::actor_system_config& cfg) {
  if constexpr (I < End) {
    using type = typename caf::type_by_id<I>::type;
    cfg.add_message_type<type>(caf::type_name<type>::value);
    add_block<I + 1, End>(cfg);
  }
}

} // namespace

void add_message_types(caf::actor_system_config& cfg) {
  add_block<caf::id_block::libpool::begin, caf::id_block::libpool::end>(cfg);
  add_block<caf::id_block::libpool_node::begin,
            caf::id_block::libpool_node::end>(cfg);
  add_block<caf::id_block::libpool_cluster::begin,
            caf::id_block::libpool_cluster::end>(cfg);
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
  ctx->trace = cfg.tracer;
  if (cfg.slow_query_threshold.count() > 0)
    ctx->trace =
      slow_query_logger(cfg.slow_query_threshold, cfg.logger, ctx->trace);
  ctx->log->info("starting pool: {} (min_size {}, max_size {})",
                 redact_conninfo(cfg.conninfo), cfg.min_size, cfg.max_size);
  ctx->cfg = std::move(cfg);
  return pool_actor{spawn_manager(sys, std::move(ctx))};
}

} // namespace pool
