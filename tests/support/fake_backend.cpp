#include "fake_backend.hpp"

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

void fake_script::break_all() {
  auto open_ones = wakers;
  for (auto& kvp : open_ones)
    break_connection(kvp.first);
}

namespace {

class fake_connection : public connection {
 public:
  fake_connection(std::shared_ptr<fake_script> script, waker w)
    : script_(std::move(script)), waker_(std::move(w)) {
    number_ = ++script_->created;
    script_->wakers.emplace(number_, waker_);
    ++script_->open;
    script_->max_open = std::max(script_->max_open, script_->open);
  }

  ~fake_connection() override { close(); }

  void connect() override {
    ready_at_ = waker_.now() + script_->connect_latency;
    notify(script_->connect_latency);
  }

  poll_status poll_connect(caf::error& err) override {
    if (waker_.now() < ready_at_)
      return poll_status::pending;
    if (script_->connect_error) {
      err = script_->connect_error;
      close();
      return poll_status::ready;
    }
    ++script_->connected;
    return poll_status::ready;
  }

  void execute(const statement& st) override {
    script_->log.push_back(std::to_string(number_) + ":" + st.sql);
    auto i = script_->rules.find(st.sql);
    rule_ = i != script_->rules.end() ? i->second : fake_rule{};
    if (i == script_->rules.end())
      rule_.latency = script_->default_latency;
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
    if (!running_ || rule_.hang || waker_.now() < ready_at_)
      return poll_status::pending;
    running_ = false;
    if (rule_.error) {
      out = rule_.error;
      if (is(rule_.error, pool_errc::connection_lost))
        tx_ = tx_status::unknown;
      else if (tx_ == tx_status::in_transaction)
        tx_ = tx_status::in_error;
      return poll_status::ready;
    }
    auto word = sql_.substr(0, sql_.find(' '));
    if (word == "BEGIN")
      tx_ = tx_status::in_transaction;
    else if (word == "COMMIT" || word == "ROLLBACK")
      tx_ = tx_status::idle;
    auto res = rule_.result;
    if (res.command_tag.empty())
      res.command_tag = word;
    out = std::move(res);
    return poll_status::ready;
  }

  caf::error check_idle() override {
    if (is_broken())
      return lost();
    return {};
  }

  tx_status transaction_status() const override {
    return is_broken() ? tx_status::unknown : tx_;
  }

  void cancel() override {
    ++script_->cancels;
    if (!running_)
      return;
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
    closed_ = true;
    ++script_->closed;
    --script_->open;
    script_->wakers.erase(number_);
  }

 private:
  bool is_broken() const { return script_->broken.count(number_) > 0; }

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
  waker waker_;
  int number_ = 0;
  bool running_ = false;
  bool closed_ = false;
  tx_status tx_ = tx_status::idle;
  caf::timespan ready_at_{0};
  fake_rule rule_;
  std::string sql_;
};

} // namespace

std::unique_ptr<connection> fake_backend::create(const pool_config&, waker w) {
  return std::make_unique<fake_connection>(script_, std::move(w));
}

} // namespace pool::testing
