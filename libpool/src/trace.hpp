#pragma once

// Emitting trace events (pool/tracer.hpp) from the pool's actors. Callers
// test `ctx.trace` first, so that a pool without a tracer pays one test of
// a null pointer.

#include <string>

#include "pool/tracer.hpp"

#include "actors.hpp"

namespace pool {

/// Sends one event to the pool's tracer; an exception it throws is dropped.
/// Precondition: `ctx.trace`.
inline void emit_trace(const pool_context& ctx, trace_kind kind, bool end,
                       uint32_t connection, const std::string* sql = nullptr,
                       caf::timespan duration = caf::timespan{0},
                       const caf::error* error = nullptr) noexcept {
  trace_event ev;
  ev.kind = kind;
  ev.end = end;
  ev.pool = &ctx.cfg.name;
  ev.connection = connection;
  ev.sql = sql;
  ev.duration = duration;
  ev.error = error && *error ? error : nullptr;
  try {
    ctx.trace->on_event(ev);
  } catch (...) {
    // A tracer must not take the pool down.
  }
}

} // namespace pool
