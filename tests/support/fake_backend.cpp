#include "fake_backend.hpp"

#include <algorithm>
#include <deque>

namespace pool::testing {

std::vector<std::string> fake_script::log_of(int n) const {
  std::vector<std::string> result;
  auto prefix = std::to_string(n) + ":";
  for (auto& line : log)
    if (line.compare(0, prefix.size(), prefix) == 0)
      result.push_back(line.substr(prefix.size()));
  return result;
}

void fake_script::break_connection(int n) {
  broken.insert(n);
  auto i = wakers.find(n);
  if (i != wakers.end())
    i->second.wake();
}

void fake_script::end_session_quietly(int n) {
  broken.insert(n);
}

void fake_script::break_all() {
  auto open_ones = wakers;
  for (auto& kvp : open_ones)
    break_connection(kvp.first);
}

int fake_script::notify(const std::string& channel, const std::string& payload,
                        int32_t sender_pid) {
  int n = 0;
  for (auto& kvp : listening) {
    if (kvp.second.count(channel) == 0 || broken.count(kvp.first) > 0 ||
        wakers.count(kvp.first) == 0)
      continue;
    notification x;
    x.channel = channel;
    x.payload = payload;
    x.sender_pid = sender_pid;
    notes[kvp.first].push_back(std::move(x));
    wakers[kvp.first].wake();
    ++n;
  }
  return n;
}

namespace {

// The identifier of a LISTEN or UNLISTEN: `"a""b"` reads as `a"b`.
std::string unquote_ident(const std::string& x) {
  if (x.size() < 2 || x.front() != '"' || x.back() != '"')
    return x;
  std::string out;
  for (size_t i = 1; i + 1 < x.size(); ++i) {
    out += x[i];
    if (x[i] == '"')
      ++i;
  }
  return out;
}

class fake_connection : public connection {
 public:
  fake_connection(std::shared_ptr<fake_script> script,
                  std::shared_ptr<const dialect> rules, waker w)
    : script_(std::move(script)), rules_(std::move(rules)),
      waker_(std::move(w)) {
    number_ = ++script_->created;
    script_->wakers.emplace(number_, waker_);
    ++script_->open;
    script_->max_open = std::max(script_->max_open, script_->open);
  }

  ~fake_connection() override { close(); }

  void connect() override {
    ready_at_ = waker_.now() + script_->connect_latency;
    fake_connect c;
    c.number = number_;
    c.started = waker_.now();
    script_->connects.push_back(c);
    connecting_ = true;
    ++script_->connecting;
    script_->max_connecting =
      std::max(script_->max_connecting, script_->connecting);
    if (!script_->connect_hang)
      notify(script_->connect_latency);
  }

  poll_status poll_connect(caf::error& err) override {
    if (script_->connect_hang || waker_.now() < ready_at_)
      return poll_status::pending;
    if (script_->connect_error) {
      err = numbered(script_->connect_error);
      script_->connect_errors.push_back(err);
      end_connect(false);
      close();
      return poll_status::ready;
    }
    end_connect(true);
    ++script_->connected;
    connected_ = true;
    return poll_status::ready;
  }

  std::string endpoint() const override {
    return connected_ ? script_->endpoint : std::string{};
  }

  void take_notifications(std::vector<notification>& out) override {
    auto i = script_->notes.find(number_);
    if (i == script_->notes.end())
      return;
    for (auto& x : i->second)
      out.push_back(std::move(x));
    script_->notes.erase(i);
  }

  void execute(const statement& st) override {
    script_->log.push_back(std::to_string(number_) + ":" + st.sql);
    rule_ = rule_for(st.sql);
    if (is_stalled())
      rule_.hang = true;
    if (!pipeline_.empty())
      rule_ = misuse("execute(\"" + st.sql + "\") with " +
                     std::to_string(pipeline_.size()) +
                     " pipelined statement(s) in flight");
    else if (running_)
      rule_ = misuse("execute(\"" + st.sql + "\") while \"" + sql_ + "\" runs");
    if (stray_cancel_ && !rule_.error) {
      stray_cancel_ = false;
      rule_ = cancelled_rule();
    }
    sql_ = st.sql;
    running_ = true;
    ready_at_ = waker_.now() + rule_.latency;
    if (!rule_.hang)
      notify(rule_.latency);
  }

  poll_status poll_result(caf::expected<query_result>& out) override {
    if (is_broken()) {
      running_ = false;
      tx_ = tx_status::unknown;
      out = lost();
      return poll_status::ready;
    }
    if (!running_ || rule_.hang || is_stalled() || waker_.now() < ready_at_)
      return poll_status::pending;
    running_ = false;
    out = complete(sql_, rule_);
    return poll_status::ready;
  }

  bool can_pipeline() const override { return script_->pipelining; }

  void hold_sends() override {
    ++script_->holds;
    held_ = true;
  }

  void release_sends() override {
    ++script_->releases;
    held_ = false;
    auto t = waker_.now();
    size_t first = pipeline_.size();
    for (size_t i = 0; i < pipeline_.size(); ++i)
      if (pipeline_[i].held) {
        pipeline_[i].held = false;
        pipeline_[i].submitted_at = t;
        first = std::min(first, i);
      }
    schedule(first);
  }

  void submit(uint64_t tag, const statement& st) override {
    script_->log.push_back(std::to_string(number_) + ":" + st.sql);
    ++script_->submitted;
    entry e;
    e.tag = tag;
    e.sql = st.sql;
    e.rule = rule_for(st.sql);
    e.submitted_at = waker_.now();
    e.held = held_;
    if (held_)
      ++script_->submitted_held;
    auto what = "submit(\"" + st.sql + "\")";
    if (!script_->pipelining)
      e.rule = misuse(what + " without pipelining");
    else if (!connected_ || closed_)
      e.rule = misuse(what + " on a connection that is not open");
    else if (running_)
      e.rule = misuse(what + " while execute(\"" + sql_ + "\") runs");
    else if (!rules_->may_pipeline(st))
      e.rule = misuse(what + ": not a pipelineable statement");
    else if (stray_cancel_) {
      stray_cancel_ = false;
      e.rule = cancelled_rule();
    }
    pipeline_.push_back(std::move(e));
    note_in_flight();
    schedule(pipeline_.size() - 1);
  }

  size_t poll_pipeline(std::vector<tagged_result>& done) override {
    if (is_broken()) {
      for (auto& e : pipeline_)
        done.emplace_back(e.tag, lost());
      if (!pipeline_.empty())
        tx_ = tx_status::unknown;
      pipeline_.clear();
      note_in_flight();
      return 0;
    }
    if (is_stalled())
      return pipeline_.size();
    auto t = waker_.now();
    while (!pipeline_.empty() && pipeline_.front().timed &&
           pipeline_.front().finish <= t) {
      auto e = std::move(pipeline_.front());
      pipeline_.pop_front();
      auto res = complete(e.sql, e.rule);
      auto fatal = !res && is(res.error(), pool_errc::connection_lost);
      done.emplace_back(e.tag, std::move(res));
      if (fatal) {
        // The server ended the session on this statement: those behind it
        // never started.
        dead_ = true;
        for (auto& rest : pipeline_)
          done.emplace_back(rest.tag, lost(), true);
        pipeline_.clear();
      }
    }
    note_in_flight();
    return pipeline_.size();
  }

  caf::error check_idle() override {
    if (is_broken())
      return lost();
    return {};
  }

  caf::error check_before_send() override {
    ++script_->send_checks;
    return check_idle();
  }

  tx_status transaction_status() const override {
    if (is_broken())
      return tx_status::unknown;
    // Like PQtransactionStatus: active while pipelined commands are pending.
    return pipeline_.empty() && !stream_.on ? tx_ : tx_status::active;
  }

  bool can_stream() const override { return true; }

  void start_stream(stream_mode mode, const statement& st) override {
    script_->log.push_back(std::to_string(number_) + ":" + st.sql);
    ++script_->streams;
    stream_ = fake_stream{};
    stream_.on = true;
    stream_.mode = mode;
    stream_.sql = st.sql;
    stream_.rule = rule_for(st.sql);
    if (running_ || !pipeline_.empty())
      stream_.rule = misuse("start_stream(\"" + st.sql + "\") while busy");
    auto word = st.sql.substr(0, st.sql.find(' '));
    if ((word == "COPY") != (mode != stream_mode::rows))
      stream_.rule.error =
        make_error(pool_errc::invalid_request, "fake: wrong stream mode");
    ready_at_ = waker_.now() + stream_.rule.latency;
    notify(stream_.rule.latency);
  }

  stream_status poll_stream(query_result& rows, std::string& data, size_t limit,
                            caf::expected<query_result>& end) override {
    auto done = [&](caf::expected<query_result> x) {
      stream_.on = false;
      end = std::move(x);
      return stream_status::done;
    };
    if (!stream_.on)
      return done(misuse("poll_stream with no stream").error);
    if (is_broken()) {
      tx_ = tx_status::unknown;
      return done(lost());
    }
    if (is_stalled() || waker_.now() < ready_at_)
      return stream_status::pending;
    auto& r = stream_.rule;
    if (stream_.cancelled)
      return done(complete(stream_.sql, cancelled_rule()));
    if (r.error)
      return done(complete(stream_.sql, r));
    size_t count = 0;
    switch (stream_.mode) {
    case stream_mode::rows: {
      auto width = r.result.columns.size();
      count = width == 0 ? 0 : r.result.cells.size() / width;
      if (rows.columns.empty())
        rows.columns = r.result.columns;
      while (stream_.next < count && rows.rows() < limit) {
        for (size_t c = 0; c < width; ++c)
          rows.cells.push_back(r.result.cells[stream_.next * width + c]);
        ++stream_.next;
        ++script_->rows_streamed;
      }
      if (stream_.next < count)
        return stream_status::more;
      break;
    }
    case stream_mode::copy_out: {
      auto& text = r.copy_out;
      while (stream_.next < text.size() && data.size() < limit) {
        auto nl = text.find('\n', stream_.next);
        auto stop = nl == std::string::npos ? text.size() : nl + 1;
        data.append(text, stream_.next, stop - stream_.next);
        script_->bytes_streamed += stop - stream_.next;
        stream_.next = stop;
      }
      if (stream_.next < text.size())
        return stream_status::more;
      count = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
      break;
    }
    case stream_mode::copy_in: {
      if (!stream_.ending)
        return stream_status::copy_ready;
      if (!stream_.failure.empty())
        return done(make_error(pool_errc::query_failed,
                               "COPY from stdin failed: " + stream_.failure,
                               "57014"));
      auto& in = script_->copied_in[number_];
      count = static_cast<size_t>(std::count(in.begin(), in.end(), '\n'));
      break;
    }
    }
    if (r.hang)
      return stream_status::pending;
    auto res = complete(stream_.sql, r);
    if (res) {
      res->cells.clear();
      res->affected = static_cast<int64_t>(count);
      if (stream_.mode != stream_mode::rows)
        res->command_tag = "COPY " + std::to_string(count);
    }
    return done(std::move(res));
  }

  caf::error put_copy(const std::string& data) override {
    if (!stream_.on || stream_.mode != stream_mode::copy_in || stream_.ending)
      return misuse("put_copy with no COPY in").error;
    if (is_broken())
      return lost();
    script_->copied_in[number_] += data;
    return {};
  }

  void end_copy(const std::string& failure) override {
    if (!stream_.on || stream_.mode != stream_mode::copy_in) {
      misuse("end_copy with no COPY in");
      return;
    }
    stream_.ending = true;
    stream_.failure = failure;
    waker_.wake();
  }

  void cancel() override {
    ++script_->cancels;
    if (is_stalled())
      return; // the server does not answer
    if (stream_.on) {
      stream_.cancelled = true;
      ready_at_ = waker_.now();
      waker_.wake();
      return;
    }
    if (script_->late_cancels) {
      cancel_late();
      return;
    }
    if (!running_) {
      cancel_pipelined();
      return;
    }
    rule_.hang = false;
    rule_.error =
      make_error(pool_errc::query_failed,
                 "canceling statement due to user request", "57014");
    ready_at_ = waker_.now();
    waker_.wake();
  }

  void close() override {
    if (closed_)
      return;
    if (connecting_)
      end_connect(false);
    closed_ = true;
    ++script_->closed;
    --script_->open;
    script_->wakers.erase(number_);
    script_->listening.erase(number_); // a session's LISTENs end with it
    pipeline_.clear();
    script_->in_flight.erase(number_);
  }

 private:
  /// A pipelined statement in flight.
  struct entry {
    uint64_t tag = 0;
    std::string sql;
    fake_rule rule;
    caf::timespan submitted_at{0};
    /// Whether `finish` is known: false for a hang and all behind it.
    bool timed = false;
    /// Sent while sends were held: not at the server yet.
    bool held = false;
    caf::timespan finish{0};
  };

  /// The stream running (`start_stream`), if `on`.
  struct fake_stream {
    bool on = false;
    stream_mode mode = stream_mode::rows;
    std::string sql;
    fake_rule rule;
    /// The next row (rows) or byte (COPY out) to hand over.
    size_t next = 0;
    bool cancelled = false;
    /// COPY in: the end was given, with this failure ("" = none).
    bool ending = false;
    std::string failure;
  };

  bool is_broken() const { return dead_ || script_->broken.count(number_) > 0; }

  bool is_stalled() const { return script_->stalled.count(number_) > 0; }

  // Records the end of the connect under way.
  void end_connect(bool ok) {
    connecting_ = false;
    --script_->connecting;
    for (auto& c : script_->connects)
      if (c.number == number_) {
        c.ended = waker_.now();
        c.finished = true;
        c.ok = ok;
      }
  }

  // The scripted connect error, with this connection's number appended to
  // its message (same category, code and SQLSTATE).
  caf::error numbered(const caf::error& err) const {
    if (err.category() != pool_error_category::value)
      return err;
    return make_error(static_cast<pool_errc>(err.code()),
                      error_message(err) + " (fake connection " +
                        std::to_string(number_) + ")",
                      sqlstate(err));
  }

  fake_rule rule_for(const std::string& sql) const {
    auto i = script_->rules.find(sql);
    if (i != script_->rules.end())
      return i->second;
    fake_rule result;
    result.latency = script_->default_latency;
    return result;
  }

  // Counts a contract violation; returns the rule that answers it.
  fake_rule misuse(std::string what) {
    ++script_->misuse;
    script_->misuse_log.push_back(std::to_string(number_) + ": " + what);
    fake_rule result;
    result.error =
      make_error(pool_errc::invalid_request, "fake backend misuse: " + what);
    return result;
  }

  // The outcome of a statement that finished under `rule`.
  caf::expected<query_result> complete(const std::string& sql,
                                       const fake_rule& rule) {
    if (rule.error) {
      if (is(rule.error, pool_errc::connection_lost))
        tx_ = tx_status::unknown;
      else if (tx_ == tx_status::in_transaction)
        tx_ = tx_status::in_error;
      return rule.error;
    }
    auto starts_with = [&sql](const statement& st) {
      return sql.compare(0, st.sql.size(), st.sql) == 0;
    };
    if (starts_with(rules_->begin()))
      tx_ = tx_status::in_transaction;
    else if (starts_with(rules_->commit()) || starts_with(rules_->rollback()))
      tx_ = tx_status::idle;
    auto word = sql.substr(0, sql.find(' '));
    auto rest = word.size() < sql.size() ? sql.substr(word.size() + 1) : "";
    if (word == "LISTEN")
      script_->listening[number_].insert(unquote_ident(rest));
    else if (word == "UNLISTEN" && rest == "*")
      script_->listening.erase(number_);
    else if (word == "UNLISTEN")
      script_->listening[number_].erase(unquote_ident(rest));
    auto res = rule.result;
    if (res.command_tag.empty())
      res.command_tag = word;
    return res;
  }

  // Computes when the pipelined statements from index `from` on finish (each
  // starts when the one before it finished, or at its submit if later) and
  // asks for a wake-up at each of those times.
  void schedule(size_t from) {
    for (auto i = from; i < pipeline_.size(); ++i) {
      auto& e = pipeline_[i];
      e.timed = false;
      auto start = e.submitted_at;
      if (i > 0) {
        auto& prev = pipeline_[i - 1];
        if (!prev.timed)
          continue; // waits behind a hang
        start = std::max(start, prev.finish);
      }
      if (e.rule.hang || e.held)
        continue;
      e.timed = true;
      e.finish = start + e.rule.latency;
      notify(e.finish - waker_.now());
    }
  }

  // A cancel while no execute runs: fails the pipelined statement running
  // now (the first one not finished yet), if any, with 57014.
  void cancel_pipelined() {
    auto t = waker_.now();
    for (size_t i = 0; i < pipeline_.size(); ++i) {
      auto& e = pipeline_[i];
      if (e.timed && e.finish <= t)
        continue;
      e.rule.hang = false;
      e.rule.error =
        make_error(pool_errc::query_failed,
                   "canceling statement due to user request", "57014");
      e.timed = true;
      e.finish = t;
      waker_.wake();
      schedule(i + 1);
      return;
    }
  }

  // A statement that fails at once with 57014.
  static fake_rule cancelled_rule() {
    fake_rule r;
    r.error = make_error(pool_errc::query_failed,
                         "canceling statement due to user request", "57014");
    return r;
  }

  // A late cancel: the statement running now is not affected; the one that
  // starts after it fails with 57014.
  void cancel_late() {
    auto t = waker_.now();
    for (size_t i = 0; i < pipeline_.size(); ++i) {
      auto& e = pipeline_[i];
      if (e.timed && e.finish <= t)
        continue;
      if (i + 1 < pipeline_.size()) {
        pipeline_[i + 1].rule = cancelled_rule();
        schedule(i + 1);
        return;
      }
      break;
    }
    stray_cancel_ = true;
  }

  void note_in_flight() {
    auto n = pipeline_.size();
    if (n == 0) {
      script_->in_flight.erase(number_);
      return;
    }
    script_->in_flight[number_] = n;
    script_->max_in_flight = std::max(script_->max_in_flight, n);
    auto& m = script_->max_in_flight_of[number_];
    m = std::max(m, n);
  }

  static caf::error lost() {
    return make_error(pool_errc::connection_lost,
                      "server closed the connection unexpectedly", "57P01");
  }

  void notify(caf::timespan delay) {
    if (delay.count() > 0)
      waker_.wake_after(delay);
    else
      waker_.wake();
  }

  std::shared_ptr<fake_script> script_;
  std::shared_ptr<const dialect> rules_;
  waker waker_;
  int number_ = 0;
  bool running_ = false;
  bool closed_ = false;
  /// Whether sends are held (`hold_sends`).
  bool held_ = false;
  bool connected_ = false;
  /// Whether a connect is under way (counted in `fake_script::connecting`).
  bool connecting_ = false;
  /// Set when a pipelined statement failed with connection_lost.
  bool dead_ = false;
  /// A late cancel waits for the next statement to start.
  bool stray_cancel_ = false;
  std::deque<entry> pipeline_;
  tx_status tx_ = tx_status::idle;
  caf::timespan ready_at_{0};
  fake_stream stream_;
  fake_rule rule_;
  std::string sql_;
};

} // namespace

std::unique_ptr<connection> fake_backend::create(const pool_config&, waker w) {
  return std::make_unique<fake_connection>(script_, rules_, std::move(w));
}

bool fake_backend::can_pipeline() const {
  return script_->pipelining;
}

} // namespace pool::testing
