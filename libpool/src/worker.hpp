#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "caf/response_promise.hpp"
#include "caf/stateful_actor.hpp"

#include "actors.hpp"

namespace pool {

/// One operation a worker runs on its connection.
struct worker_op {
  enum kind_t : uint8_t {
    /// A pooled autocommit statement; the manager is told when it is done.
    run,
    /// A pooled transaction: BEGIN, the statements, COMMIT.
    txn,
    /// A statement on a lease.
    lease_query,
    /// The end of a lease: clean the connection, then tell the manager.
    unlease,
    /// A health check or validation for the manager (replies whether the
    /// connection may be used); `stmt` is the before_acquire hook's SQL if
    /// it runs instead of the ping.
    ping,
    /// A stream, COPY out or COPY in on a lease (`mode`; worker_stream.cpp).
    stream,
  };
  kind_t kind = run;
  caf::response_promise rp;
  /// The statement of a `run` or a `lease_query` (kept in place: no vector
  /// for a single statement).
  statement stmt;
  /// The statements of a `txn`.
  std::vector<statement> stmts;
  std::vector<query_result> results;
  /// The first error; a transaction is rolled back before it is delivered.
  caf::error failure;
  /// Whether `rp` was answered already (e.g. at a timeout).
  bool answered = false;
  /// Whether it may share a pipeline (a `run`, as the manager decided where
  /// the request entered); it joins the pipeline if the worker has one.
  bool piped = false;
  /// Whether its send may wait for the queries right behind it (a `run`
  /// while another connection of the pool was busy, see `submit_piped`).
  bool may_hold = false;
  /// A `stream`'s mode, receiver (rows and COPY out) and chunk limit (rows,
  /// or bytes for COPY out).
  stream_mode mode = stream_mode::rows;
  caf::actor receiver;
  uint32_t limit = 0;
  /// When its trace `start` event was sent (0: none was).
  caf::timespan started{0};
};

/// A `copy_data` or `copy_end` request of a lease, waiting for its turn.
struct copy_request {
  /// Whether it is the `copy_end`.
  bool end = false;
  /// The data, or the failure message of the end.
  std::string data;
  caf::response_promise rp;
};

/// The stream, COPY out or COPY in running on the connection (phase
/// `streaming`; worker_stream.cpp).
struct stream_run {
  uint64_t id = 0;
  /// Chunks sent and acknowledged so far.
  uint64_t sent = 0;
  uint64_t acked = 0;
  /// Rows (or COPY lines) delivered so far.
  uint64_t rows = 0;
  /// The chunk being filled.
  stream_chunk chunk;
  /// Why it stops early (cancel, receiver gone, timeout): the rest of the
  /// result is read and discarded until the connection is free.
  caf::error stopping;
  /// COPY in: whether the server takes data, and whether the data given
  /// last is still being sent (its `copy_data` is answered once it is).
  bool copy_ready = false;
  bool sending = false;
  /// COPY in: whether its end was given to the connection.
  bool ending = false;
  /// COPY in: the requests waiting, the running one first.
  std::deque<copy_request> inbox;
  /// The receiver's address while it is monitored.
  caf::actor_addr watched;
};

/// A pooled query in flight in the connection's pipeline.
struct piped_op {
  uint64_t tag = 0;
  worker_op op;
  /// When it must be finished (query_timeout after it was sent), later the
  /// end of the grace period its cancel gets.
  caf::timespan deadline{0};
  /// Whether it was cancelled at its deadline already.
  bool cancelled = false;
};

/// The pooled queries in flight in a connection's pipeline, oldest first.
/// Each stays at one address while it is in flight (the backend reads its
/// statement until it reports it); finished entries are kept for reuse, so
/// a query in the pipeline costs no allocation once it is warm.
class piped_list {
 public:
  using list = std::vector<std::unique_ptr<piped_op>>;
  using iterator = list::iterator;

  /// Appends an entry (reset to its defaults) and returns it.
  piped_op& push() {
    if (spare_.empty()) {
      live_.push_back(std::make_unique<piped_op>());
    } else {
      live_.push_back(std::move(spare_.back()));
      spare_.pop_back();
    }
    return *live_.back();
  }

  /// Removes the entry at `i`, keeping its storage for reuse.
  void erase(iterator i) {
    **i = piped_op{};
    spare_.push_back(std::move(*i));
    live_.erase(i);
  }

  /// Removes every entry.
  void clear() {
    while (!live_.empty())
      erase(live_.end() - 1);
  }

  /// The entry with `tag`, or `end()`.
  iterator find(uint64_t tag) {
    for (auto i = live_.begin(); i != live_.end(); ++i)
      if ((*i)->tag == tag)
        return i;
    return live_.end();
  }

  iterator begin() { return live_.begin(); }
  iterator end() { return live_.end(); }
  size_t size() const { return live_.size(); }
  bool empty() const { return live_.empty(); }

 private:
  list live_;
  list spare_;
};

/// The state of a connection worker.
struct worker_state {
  /// Where the worker is in running its current operation.
  enum phase_t : uint8_t {
    connecting,
    /// Connected, running the after_connect hook's statements (`init`).
    initializing,
    /// Connected, nothing running.
    idle,
    /// Running a statement of the current operation.
    executing,
    /// Pooled queries in flight in the connection's pipeline (`pipeline`);
    /// nothing else runs until it drains.
    pipelining,
    /// Running the ROLLBACK that returns the connection clean.
    cleaning,
    /// Running the configured reset query after a lease.
    resetting,
    /// Running a stream, COPY out or COPY in (`stream`).
    streaming,
    /// The connection broke: waiting for the manager's `close`.
    dead,
  };

  static const char* name;
  uint32_t id = 0;
  manager_actor manager;
  /// How many statements the worker takes at once (1, or pipeline_depth
  /// when its connection can pipeline); told to the manager with `ready`.
  uint32_t capacity = 1;
  std::shared_ptr<const pool_context> ctx;
  std::unique_ptr<connection> conn;
  phase_t phase = connecting;
  /// The current lease's id, 0 when not leased.
  uint64_t lease_id = 0;
  /// Where the connection's notifications go (the pool's listener, for the
  /// lease it holds); null: they are dropped.
  caf::actor notify_to;
  /// Notifications taken from the connection (kept for its capacity).
  std::vector<notification> notes;
  /// The operation running now (valid unless phase is idle/connecting).
  worker_op current;
  /// Index of the statement running now within the current operation;
  /// for transactions 0 is BEGIN and stmts.size() + 1 is COMMIT.
  size_t step = 0;
  /// The after_connect statements (phase `initializing`; `step` is the
  /// one running).
  std::vector<statement> init;
  /// Operations waiting for the current one (lease queries, unlease).
  std::deque<worker_op> queue;
  /// When the connect started and (transactions) the running statement
  /// started, for trace events.
  caf::timespan connect_started{0};
  caf::timespan step_started{0};
  /// When the running statement (or the connect) must be finished.
  caf::timespan deadline{0};
  /// Whether the running statement was cancelled at its deadline already.
  bool cancelled = false;
  /// When the watchdog tick is armed for (max when none is): one timer per
  /// worker, armed for the earliest deadline only, so that a statement
  /// costs no timer of its own.
  caf::timespan tick_at = caf::timespan::max();
  /// Pooled queries in flight in the pipeline, oldest first.
  piped_list pipeline;
  uint64_t next_tag = 1;
  /// Whether the connection holds back what `submit` sent, until the
  /// `push_atom` the worker sent itself (see `submit_piped`).
  bool sends_held = false;
  /// Where `poll_pipeline` puts finished queries (kept for its capacity).
  std::vector<connection::tagged_result> finished;
  /// The stream running now (phase `streaming`).
  stream_run stream;
  /// Streams started on this connection (their ids).
  uint64_t streams = 0;
  /// Why the last COPY in ended early, for the `copy_data` or `copy_end`
  /// that arrives after it; cleared when answered or at the next COPY.
  caf::error copy_failure;
  /// When the worker last cancelled a statement (valid if `cancelled_any`):
  /// a cancel that arrives late hits the next statement instead.
  caf::timespan last_cancel{0};
  bool cancelled_any = false;
};

} // namespace pool
