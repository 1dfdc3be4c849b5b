// The connection worker's hooks (pool/hooks.hpp): after_connect runs the
// configured statements, then the callback's, on a new connection before
// the manager hears it is ready; before_acquire as SQL runs as the
// validation ping; the verdict of a hook's SQL (`says_no`).

#include <algorithm>
#include <cctype>
#include <exception>

#include <spdlog/spdlog.h>

#include "pool/error.hpp"
#include "pool/hooks.hpp"

#include "statement_check.hpp"
#include "worker_ops.hpp"

namespace pool::worker_ops {

namespace {

caf::error init_failed(std::string why) {
  return make_error(pool_errc::connect_failed, "after_connect: " + why);
}

// Runs the after_connect statement at `st.step`, or reports the connection
// ready when all ran. Keeps the connect's deadline: after_connect counts
// toward connect_timeout.
void run_init_step(worker_ptr self) {
  auto& st = self->state;
  if (st.step < st.init.size()) {
    st.conn->execute(st.init[st.step]);
    return;
  }
  st.init.clear();
  if (st.conn->transaction_status() != tx_status::idle) {
    fail(self, init_failed("its statements left a transaction open"));
    return;
  }
  become_ready(self);
}

} // namespace

void after_connect(worker_ptr self) {
  auto& st = self->state;
  auto& cfg = st.ctx->cfg;
  st.init.clear();
  for (auto& sql : cfg.after_connect_sql)
    st.init.emplace_back(statement{sql});
  if (cfg.hooks && cfg.hooks->after_connect) {
    connection_info info;
    info.id = st.id;
    info.endpoint = st.conn->endpoint();
    try {
      for (auto& x : cfg.hooks->after_connect(info))
        st.init.emplace_back(std::move(x));
    } catch (std::exception& e) {
      fail(self, init_failed(std::string{"the callback threw: "} + e.what()));
      return;
    } catch (...) {
      fail(self, init_failed("the callback threw"));
      return;
    }
  }
  if (st.init.empty()) {
    become_ready(self);
    return;
  }
  for (size_t i = 0; i < st.init.size(); ++i)
    if (auto err = check_statement(st.init[i], "after_connect")) {
      fail(self, init_failed(statement_place(i, st.init.size()) + ": " +
                             error_message(err)));
      return;
    }
  st.phase = worker_state::initializing;
  st.step = 0;
  run_init_step(self);
}

void on_init_result(worker_ptr self, caf::expected<query_result>& res) {
  auto& st = self->state;
  if (!res) {
    fail(self,
         init_failed(st.init[st.step].sql + ": " + describe(res.error())));
    return;
  }
  ++st.step;
  run_init_step(self);
}

bool says_no(const query_result& res) {
  if (res.rows() == 0 || res.columns.empty() || res.is_null(0, 0))
    return false;
  auto x = res.at(0, 0);
  std::transform(x.begin(), x.end(), x.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return x == "f" || x == "false" || x == "0" || x == "no" || x == "off";
}

} // namespace pool::worker_ops
