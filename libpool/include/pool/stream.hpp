#pragma once

// Streamed results and COPY on a lease, with flow control: the types that
// travel between the worker of a leased connection and the actor that
// receives the data. The messages themselves are listed with `lease_actor`
// (pool/protocol.hpp).

#include <cstdint>
#include <string>

#include "caf/actor.hpp"
#include "caf/error.hpp"
#include "caf/meta/type_name.hpp"

#include "pool/types.hpp"

namespace pool {

/// One part of a streamed result (`stream_atom`: rows) or of the data of a
/// `COPY ... TO STDOUT` (`copy_out_atom`: bytes), sent to the stream's
/// receiver. The receiver acknowledges each chunk with
/// `(ack_atom, stream, seq)` sent to `source`; the worker keeps at most
/// `pool_config::stream_window` chunks unacknowledged and reads nothing from
/// the server meanwhile, so that a slow receiver holds back the server
/// instead of filling memory. `(cancel_atom, stream)` sent to `source` stops
/// the statement on the server.
struct stream_chunk {
  /// The stream's id, unique per connection (its `stream_end` carries it
  /// too).
  uint64_t stream = 0;
  /// 1 for the first chunk of the stream, then 2, 3, ...
  uint64_t seq = 0;
  /// The rows of this chunk (`stream_atom`), with the result's columns in
  /// every chunk; empty for COPY.
  query_result rows;
  /// The COPY data of this chunk (`copy_out_atom`): whole lines in COPY's
  /// format, as the server sent them; empty for rows.
  std::string data;
  /// The worker to acknowledge to (or to cancel the stream at).
  caf::actor source;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_chunk& x) {
  return f(caf::meta::type_name("pool::stream_chunk"), x.stream, x.seq, x.rows,
           x.data, x.source);
}

/// The end of a stream: sent to the receiver after its last chunk (whatever
/// ended it), and the reply to the request that started it when it
/// succeeded.
struct stream_end {
  /// The stream's id.
  uint64_t stream = 0;
  /// Rows delivered (COPY: lines, as the server counted them).
  uint64_t rows = 0;
  /// Chunks delivered.
  uint64_t chunks = 0;
  /// The command tag, e.g. "SELECT 10000000" or "COPY 1000000"; empty on
  /// failure.
  std::string command_tag;
  /// Why the stream ended early (`query_failed`, `cancelled`,
  /// `query_timeout`, `connection_lost`); none when it completed.
  caf::error error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_end& x) {
  return f(caf::meta::type_name("pool::stream_end"), x.stream, x.rows, x.chunks,
           x.command_tag, x.error);
}

} // namespace pool
