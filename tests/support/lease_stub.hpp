#pragma once

// A stand-in for a lease's worker in tests that need only its queries:
// `lease_stub(on_query)` is a `lease_actor` behaviour that answers queries
// with `on_query` and refuses every stream and COPY request.

#include <cstdint>
#include <string>

#include "caf/actor.hpp"
#include "caf/result.hpp"

#include "pool/error.hpp"
#include "pool/protocol.hpp"

namespace pool::testing {

/// A `lease_actor` behaviour: `on_query` for `(query_atom, lease_id,
/// statement)`; `invalid_request` for streams and COPY; acks and cancels
/// ignored.
template <class OnQuery>
lease_actor::behavior_type lease_stub(OnQuery on_query) {
  auto no = [] {
    return make_error(pool_errc::invalid_request, "stub lease: queries only");
  };
  return {
    std::move(on_query),
    [no](stream_atom, uint64_t, statement&, caf::actor&,
         uint32_t) -> caf::result<stream_end> { return no(); },
    [no](copy_out_atom, uint64_t, statement&, caf::actor&,
         uint32_t) -> caf::result<stream_end> { return no(); },
    [no](copy_in_atom, uint64_t, statement&) -> caf::result<caf::ok_atom> {
      return no();
    },
    [no](copy_data_atom, uint64_t, std::string&) -> caf::result<caf::ok_atom> {
      return no();
    },
    [no](copy_end_atom, uint64_t, std::string&) -> caf::result<query_result> {
      return no();
    },
    [](ack_atom, uint64_t, uint64_t) {},
    [](cancel_atom, uint64_t) {},
  };
}

} // namespace pool::testing
