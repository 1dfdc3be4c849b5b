// Streams and COPY on a lease (fake backend): chunks and flow control, the
// end, cancellation by the receiver (a message or its death), timeouts,
// COPY out and in, bad input, and the lease staying usable.

#undef CAF_SUITE // several suites share a unity build unit
#define CAF_SUITE stream
#include "fixture.hpp"

using namespace pool;
using namespace pool::testing;
using namespace std::chrono_literals;

namespace {

/// What a test receiver got.
struct sink_log {
  std::vector<stream_chunk> chunks;
  std::vector<stream_end> ends;
  /// Whether it acknowledges each chunk as it arrives.
  bool auto_ack = false;
};

struct stream_fixture : fixture {
  pool_actor pool;
  lease held;
  std::shared_ptr<sink_log> sink = std::make_shared<sink_log>();
  caf::actor receiver;

  stream_fixture() {
    auto cfg = make_config(1, 1);
    cfg.query_timeout = 10s;
    pool = start(std::move(cfg));
    auto o = ask<lease>(pool, acquire_atom::value, caf::timespan{1s});
    sched.run();
    if (!o->ok())
      CAF_FAIL("acquire failed: " << describe(o->err));
    held = *o->value;
    auto log = sink;
    receiver = sys.spawn([log](caf::event_based_actor*) -> caf::behavior {
      return {
        [log](stream_chunk& c) {
          log->chunks.push_back(c);
          if (log->auto_ack)
            caf::anon_send(c.source, ack_atom::value, c.stream, c.seq);
        },
        [log](stream_end& e) { log->ends.push_back(e); },
      };
    });
    sched.run();
  }

  /// A rule whose result has `n` rows of one int column: 1, 2, ..., n.
  void set_rows(const std::string& sql, size_t n, bool hang = false) {
    fake_rule rule;
    rule.hang = hang;
    rule.result.columns = {column{"n", 23}};
    for (size_t i = 1; i <= n; ++i)
      rule.result.cells.emplace_back(std::to_string(i));
    rule.result.command_tag = "SELECT " + std::to_string(n);
    script->rules[sql] = rule;
  }

  outcome_ptr<stream_end> stream(const std::string& sql, uint32_t per_chunk,
                                 caf::actor to = {}) {
    return ask<stream_end>(held.worker, stream_atom::value, held.id,
                           statement{sql}, to ? to : receiver, per_chunk);
  }

  outcome_ptr<query_result> query(const std::string& sql) {
    auto o = ask<query_result>(held.worker, query_atom::value, held.id,
                               statement{sql});
    sched.run();
    return o;
  }

  void ack(uint64_t seq) {
    caf::anon_send(caf::actor_cast<caf::actor>(held.worker), ack_atom::value,
                   sink->chunks.front().stream, seq);
    sched.run();
  }

  /// Every cell the receiver got, in order.
  std::vector<std::string> cells() const {
    std::vector<std::string> out;
    for (auto& c : sink->chunks)
      for (auto& x : c.rows.cells)
        out.push_back(x ? *x : "NULL");
    return out;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(stream_tests, stream_fixture)

/// Proves flow control: with stream_window 2, the worker takes 20 rows (two
/// chunks of 10) from the connection and no more until an acknowledgement;
/// each acknowledgement lets one more chunk through; then all 100 rows
/// arrive in order, the receiver gets the end, and the reply says 100 rows
/// in 10 chunks.
CAF_TEST(rows arrive in acknowledged chunks and no faster) {
  set_rows("SELECT n", 100);
  auto o = stream("SELECT n", 10);
  sched.run();
  CAF_REQUIRE_EQUAL(sink->chunks.size(), 2u);
  CAF_CHECK_EQUAL(script->rows_streamed, 20u);
  CAF_CHECK_EQUAL(o->answers, 0);
  CAF_CHECK_EQUAL(sink->chunks[0].seq, 1u);
  CAF_CHECK_EQUAL(sink->chunks[1].seq, 2u);
  CAF_CHECK_EQUAL(sink->chunks[0].rows.columns.size(), 1u);
  CAF_CHECK_EQUAL(sink->chunks[0].rows.rows(), 10u);
  ack(1);
  CAF_CHECK_EQUAL(sink->chunks.size(), 3u);
  CAF_CHECK_EQUAL(script->rows_streamed, 30u);
  ack(1); // a repeated acknowledgement changes nothing
  CAF_CHECK_EQUAL(sink->chunks.size(), 3u);
  sink->auto_ack = true;
  ack(3);
  CAF_REQUIRE(o->ok());
  CAF_CHECK_EQUAL(o->value->rows, 100u);
  CAF_CHECK_EQUAL(o->value->chunks, 10u);
  CAF_CHECK_EQUAL(o->value->command_tag, "SELECT 100");
  CAF_REQUIRE_EQUAL(sink->ends.size(), 1u);
  CAF_CHECK(!sink->ends[0].error);
  CAF_CHECK_EQUAL(sink->ends[0].rows, 100u);
  auto got = cells();
  CAF_REQUIRE_EQUAL(got.size(), 100u);
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != std::to_string(i + 1))
      CAF_FAIL("row " << i << " is " << got[i]);
  // The lease goes on: a query runs on the same connection.
  CAF_CHECK(query("SELECT 1")->ok());
  CAF_CHECK_EQUAL(last_statement(1), "SELECT 1");
  CAF_CHECK_EQUAL(script->misuse, 0);
}

/// Proves: a receiver that dies mid-stream cancels the statement on the
/// server (a cancel reaches the fake), the requester gets `cancelled`, and
/// the lease stays usable on the same connection.
CAF_TEST(a dying receiver cancels its stream) {
  set_rows("SELECT n", 1000);
  auto o = stream("SELECT n", 10);
  sched.run();
  CAF_REQUIRE_EQUAL(sink->chunks.size(), 2u);
  caf::anon_send_exit(receiver, caf::exit_reason::kill);
  sched.run();
  CAF_REQUIRE_EQUAL(o->answers, 1);
  CAF_CHECK(o->failed_with(pool_errc::cancelled));
  CAF_CHECK_EQUAL(script->cancels, 1);
  CAF_CHECK_LESS(script->rows_streamed, 1000u);
  CAF_CHECK(query("SELECT 2")->ok());
  CAF_CHECK_EQUAL(script->created, 1);
  CAF_CHECK_EQUAL(script->misuse, 0);
}

/// Proves: `(cancel_atom, stream)` from the receiver stops a stream whose
/// statement would never end by itself; the receiver's end says cancelled.
CAF_TEST(the receiver can cancel a stream) {
  set_rows("SELECT n", 5, true);
  sink->auto_ack = true;
  auto o = stream("SELECT n", 2);
  sched.run();
  CAF_REQUIRE_EQUAL(sink->chunks.size(), 2u); // 2 + 2; the last 1 waits
  CAF_CHECK_EQUAL(o->answers, 0);
  caf::anon_send(caf::actor_cast<caf::actor>(held.worker), cancel_atom::value,
                 sink->chunks[0].stream);
  sched.run();
  CAF_CHECK(o->failed_with(pool_errc::cancelled));
  CAF_REQUIRE_EQUAL(sink->ends.size(), 1u);
  CAF_CHECK(is(sink->ends[0].error, pool_errc::cancelled));
  CAF_CHECK_EQUAL(sink->ends[0].chunks, 2u);
  CAF_CHECK(query("SELECT 3")->ok());
}

/// Proves: a receiver that acknowledges nothing for query_timeout ends the
/// stream with query_timeout naming the receiver; the connection stays.
CAF_TEST(a receiver that stops acknowledging times the stream out) {
  set_rows("SELECT n", 100);
  auto o = stream("SELECT n", 10);
  sched.run();
  advance_time(9s);
  sched.run();
  CAF_CHECK_EQUAL(o->answers, 0);
  advance_time(2s);
  sched.run();
  CAF_REQUIRE(o->failed_with(pool_errc::query_timeout));
  CAF_CHECK(error_message(o->err).find("acknowledged nothing") !=
            std::string::npos);
  CAF_CHECK(query("SELECT 4")->ok());
  CAF_CHECK_EQUAL(script->created, 1);
}

/// Proves: COPY out data arrives as whole lines, at least bytes_per_chunk
/// per chunk but the last, all of it in order; the end counts the lines.
CAF_TEST(copy out delivers whole lines in chunks) {
  fake_rule rule;
  for (int i = 0; i < 10; ++i)
    rule.copy_out += "line " + std::to_string(i) + "...\n"; // 11 bytes
  script->rules["COPY t TO STDOUT"] = rule;
  sink->auto_ack = true;
  auto o =
    ask<stream_end>(held.worker, copy_out_atom::value, held.id,
                    statement{"COPY t TO STDOUT"}, receiver, uint32_t{25});
  sched.run();
  CAF_REQUIRE(o->ok());
  CAF_CHECK_EQUAL(o->value->rows, 10u);
  CAF_CHECK_EQUAL(o->value->command_tag, "COPY 10");
  std::string all;
  for (size_t i = 0; i < sink->chunks.size(); ++i) {
    auto& d = sink->chunks[i].data;
    CAF_CHECK_EQUAL(d.back(), '\n');
    if (i + 1 < sink->chunks.size())
      CAF_CHECK_GREATER_OR_EQUAL(d.size(), 25u);
    all += d;
  }
  CAF_CHECK_EQUAL(sink->chunks.size(), 4u); // 33 + 33 + 33 + 11 bytes
  CAF_CHECK_EQUAL(all, rule.copy_out);
}

/// Proves COPY in: ok once the server takes data, each piece answered in
/// order, the end answered with the COPY's result, the data received whole;
/// an aborted COPY stores nothing (query_failed 57014) and the lease goes
/// on; data with no COPY running is refused.
CAF_TEST(copy in takes data in pieces) {
  auto data = [&](std::string x) {
    return ask<caf::ok_atom>(held.worker, copy_data_atom::value, held.id,
                             std::move(x));
  };
  auto in = ask<caf::ok_atom>(held.worker, copy_in_atom::value, held.id,
                              statement{"COPY t FROM STDIN"});
  sched.run();
  CAF_REQUIRE(in->ok());
  auto d1 = data("1\ta\n2\t");
  auto d2 = data("b\n");
  auto d3 = data("3\tc\n");
  auto end = ask<query_result>(held.worker, copy_end_atom::value, held.id,
                               std::string{});
  sched.run();
  CAF_CHECK(d1->ok());
  CAF_CHECK(d2->ok());
  CAF_CHECK(d3->ok());
  CAF_REQUIRE(end->ok());
  CAF_CHECK_EQUAL(end->value->command_tag, "COPY 3");
  CAF_CHECK_EQUAL(script->copied_in[1], "1\ta\n2\tb\n3\tc\n");
  // Aborted by the sender.
  auto in2 = ask<caf::ok_atom>(held.worker, copy_in_atom::value, held.id,
                               statement{"COPY t FROM STDIN"});
  sched.run();
  CAF_REQUIRE(in2->ok());
  auto abort = ask<query_result>(held.worker, copy_end_atom::value, held.id,
                                 std::string{"changed my mind"});
  sched.run();
  CAF_REQUIRE(abort->failed_with(pool_errc::query_failed));
  CAF_CHECK_EQUAL(sqlstate(abort->err), "57014");
  CAF_CHECK(query("SELECT 5")->ok());
  auto stray = data("4\td\n");
  sched.run();
  CAF_CHECK(stray->failed_with(pool_errc::invalid_request));
  CAF_CHECK_EQUAL(script->misuse, 0);
}

/// Proves: a COPY in that gets no data for query_timeout is aborted, and
/// the next copy_end hears why.
CAF_TEST(copy in without data times out) {
  auto in = ask<caf::ok_atom>(held.worker, copy_in_atom::value, held.id,
                              statement{"COPY t FROM STDIN"});
  sched.run();
  CAF_REQUIRE(in->ok());
  advance_time(11s);
  sched.run();
  auto end = ask<query_result>(held.worker, copy_end_atom::value, held.id,
                               std::string{});
  sched.run();
  CAF_CHECK(end->failed_with(pool_errc::query_timeout));
  CAF_CHECK(query("SELECT 6")->ok());
}

/// Proves: a query sent to the lease during a stream waits for it, and a
/// release during a stream cancels it and returns the connection.
CAF_TEST(the lease waits for its stream and a release stops it) {
  set_rows("SELECT n", 30);
  auto o = stream("SELECT n", 10);
  sched.run();
  auto q = query("SELECT 7");
  CAF_CHECK_EQUAL(q->answers, 0);
  sink->auto_ack = true;
  ack(2);
  CAF_CHECK(o->ok());
  CAF_CHECK(q->ok());
  sink->auto_ack = false;
  set_rows("SELECT m", 1000, true);
  auto o2 = stream("SELECT m", 10);
  sched.run();
  auto rel = ask<caf::ok_atom>(pool, release_atom::value, held.id);
  sched.run();
  CAF_CHECK(rel->ok());
  CAF_CHECK(o2->failed_with(pool_errc::cancelled));
  CAF_CHECK_EQUAL(stats(pool).idle, 1u);
  CAF_CHECK_EQUAL(script->created, 1);
}

/// Proves the checks: a bad chunk size, no receiver, COPY through `stream`,
/// a wrong lease and empty SQL each get a clear error, and nothing runs.
CAF_TEST(bad stream requests are refused) {
  auto zero = stream("SELECT n", 0);
  auto none =
    ask<stream_end>(held.worker, stream_atom::value, held.id,
                    statement{"SELECT n"}, caf::actor{}, uint32_t{10});
  auto wrong = ask<stream_end>(held.worker, stream_atom::value, held.id + 1,
                               statement{"SELECT n"}, receiver, uint32_t{10});
  auto empty = stream("", 10);
  auto copy = stream("COPY t TO STDOUT", 10);
  auto data = ask<caf::ok_atom>(held.worker, copy_data_atom::value, held.id,
                                std::string{"x\n"});
  sched.run();
  CAF_CHECK(zero->failed_with(pool_errc::invalid_request));
  CAF_CHECK(error_message(zero->err).find("rows_per_chunk") !=
            std::string::npos);
  CAF_CHECK(none->failed_with(pool_errc::invalid_request));
  CAF_CHECK(wrong->failed_with(pool_errc::invalid_lease));
  CAF_CHECK(empty->failed_with(pool_errc::invalid_request));
  CAF_CHECK(copy->failed_with(pool_errc::invalid_request));
  CAF_CHECK(data->failed_with(pool_errc::invalid_request));
  CAF_CHECK(query("SELECT 8")->ok());
}

/// Proves the pooled stream: sent to the pool, it waits for a connection
/// like any request (here the fixture's lease), streams on it with flow
/// control, gives it back (idle again, nothing leased) and answers with
/// the end; the receiver gets the same end.
CAF_TEST(a pooled stream leases a connection for its duration) {
  set_rows("SELECT n", 100);
  sink->auto_ack = true;
  auto o = ask<stream_end>(pool, stream_atom::value, statement{"SELECT n"},
                           receiver, uint32_t{10});
  sched.run();
  CAF_CHECK_EQUAL(o->answers, 0); // the only connection is leased
  CAF_CHECK_EQUAL(sink->chunks.size(), 0u);
  auto r = ask<caf::ok_atom>(pool, release_atom::value, held.id);
  sched.run();
  CAF_REQUIRE(r->ok());
  CAF_REQUIRE(o->ok());
  CAF_CHECK_EQUAL(o->value->rows, 100u);
  CAF_CHECK_EQUAL(o->value->chunks, 10u);
  CAF_CHECK_EQUAL(cells().size(), 100u);
  CAF_REQUIRE_EQUAL(sink->ends.size(), 1u);
  CAF_CHECK_EQUAL(sink->ends[0].rows, 100u);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.leased, 0u);
  CAF_CHECK_EQUAL(st.idle, 1u);
  CAF_CHECK_EQUAL(script->created, 1);
}

/// Proves: a pooled stream whose receiver dies is cancelled on the server
/// and its connection comes back; one that gets no connection in time
/// fails with acquire_timeout.
CAF_TEST(a pooled stream ends cleanly on failure) {
  set_rows("SELECT n", 1000);
  auto late = ask<stream_end>(pool, stream_atom::value, statement{"SELECT n"},
                              receiver, uint32_t{10});
  sched.run();
  advance(pool_config{}.acquire_timeout + 10ms, 100ms);
  CAF_CHECK(late->failed_with(pool_errc::acquire_timeout));
  CAF_CHECK_EQUAL(stats(pool).leased, 1u); // the fixture's lease only
  auto r = ask<caf::ok_atom>(pool, release_atom::value, held.id);
  sched.run();
  CAF_REQUIRE(r->ok());
  auto o = ask<stream_end>(pool, stream_atom::value, statement{"SELECT n"},
                           receiver, uint32_t{10});
  sched.run();
  CAF_REQUIRE_EQUAL(sink->chunks.size(), 2u);
  caf::anon_send_exit(receiver, caf::exit_reason::kill);
  sched.run();
  CAF_CHECK(o->failed_with(pool_errc::cancelled));
  CAF_CHECK_EQUAL(script->cancels, 1);
  auto st = stats(pool);
  CAF_CHECK_EQUAL(st.leased, 0u);
  CAF_CHECK_EQUAL(st.idle, 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()
