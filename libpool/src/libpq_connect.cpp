// libpq_connection: connecting (PQconnectStartParams + PQconnectPoll on the
// readiness path), cancelling and closing. See the class comment.

#include "libpq_connection.hpp"

#include "libpq_hosts.hpp"
#include "libpq_results.hpp"

#include <chrono>
#include <cstring>
#include <initializer_list>
#include <mutex>

#include <poll.h>
#include <sys/stat.h>

#include "pool/error.hpp"

namespace pool {

// -- helpers ------------------------------------------------------------------

namespace {

/// Replaces every occurrence of `secret` in `msg` with "***".
void scrub(std::string& msg, const char* secret) {
  if (secret == nullptr || *secret == '\0')
    return;
  auto len = std::strlen(secret);
  for (auto i = msg.find(secret); i != std::string::npos;
       i = msg.find(secret, i + 3))
    msg.replace(i, len, "***");
}

/// Scrubs the password found in libpq's option array `opts`, then frees it.
void scrub_options(std::string& msg, PQconninfoOption* opts) {
  if (opts == nullptr)
    return;
  for (auto o = opts; o->keyword != nullptr; ++o)
    if (std::strcmp(o->keyword, "password") == 0)
      scrub(msg, o->val);
  PQconninfoFree(opts);
}

/// Whether the attempt failed on credentials or on the server's identity
/// (see `is_credential_failure`): retrying will not help.
bool is_auth_failure(PGconn* c, const std::string& msg) {
  return PQconnectionNeedsPassword(c) || is_credential_failure(msg);
}

/// Turns a failed connection attempt into `auth_failed` (credentials or TLS
/// verification refused) or `connect_failed` with libpq's message, which never
/// shows the password.
caf::error connect_error(PGconn* c, const std::string& conninfo) {
  if (is_expandable(conninfo)) {
    // libpq's parse errors may quote pieces of the string, password included.
    char* err = nullptr;
    auto opts = PQconninfoParse(conninfo.c_str(), &err);
    PQfreemem(err);
    if (opts == nullptr)
      return make_error(pool_errc::connect_failed, "invalid connection string");
    PQconninfoFree(opts);
  }
  auto msg = one_line(PQerrorMessage(c));
  if (msg.empty())
    msg = "connection failed";
  scrub_options(msg, PQconninfo(c));
  auto code = is_auth_failure(c, msg) ? pool_errc::auth_failed
                                      : pool_errc::connect_failed;
  return make_error(code, std::move(msg));
}

/// What libpq wants after `PQconnectStartParams` returned `c`: writing (as
/// its documentation says), or nothing more if it failed at once.
PostgresPollingStatusType start_status(PGconn* c) {
  if (c == nullptr || PQstatus(c) == CONNECTION_BAD)
    return PGRES_POLLING_FAILED;
  return PGRES_POLLING_WRITING;
}

/// The most `PQconnectPoll` calls in one `poll_connect` while the socket
/// stays ready; then the worker waits for a wake-up like any other actor.
constexpr int max_steps_per_wake = 8;

} // namespace

// -- libpq_connection: connecting ---------------------------------------------

struct libpq_connection::connect_slot {
  std::mutex mtx;
  /// A job on the blocking thread is using `conn`, `status` and `params`:
  /// the worker must not touch them until it is over.
  bool busy = false;
  /// The connection was closed: the running job frees `conn` when it ends,
  /// a queued one does nothing.
  bool abandoned = false;
  conn_ptr conn;
  /// What the last start or poll step returned.
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  /// Set if the step could not run at all (no thread).
  std::string failure;
  /// Keywords and values for `PQconnectStartParams`.
  std::vector<std::pair<std::string, std::string>> params;
};

void libpq_connection::step(connect_slot& s, bool start) {
  if (!start) {
    s.status = PQconnectPoll(s.conn.get());
    return;
  }
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (auto& kv : s.params) {
    keys.push_back(kv.first.c_str());
    values.push_back(kv.second.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  s.conn.reset(PQconnectStartParams(keys.data(), values.data(), 1));
  s.status = start_status(s.conn.get());
}

void libpq_connection::on_thread(bool start) {
  {
    std::lock_guard<std::mutex> guard{slot_->mtx};
    slot_->busy = true;
  }
  auto job = [slot = slot_, start, w = waker_] {
    {
      std::lock_guard<std::mutex> guard{slot->mtx};
      if (slot->abandoned)
        return; // closed meanwhile; the connection freed the PGconn
    }
    step(*slot, start);
    conn_ptr orphan; // freed outside the lock
    bool abandoned = false;
    {
      std::lock_guard<std::mutex> guard{slot->mtx};
      slot->busy = false;
      abandoned = slot->abandoned;
      if (abandoned)
        orphan = std::move(slot->conn);
    }
    if (!abandoned)
      w.wake();
  };
  if (!jobs_->post(std::move(job))) {
    std::lock_guard<std::mutex> guard{slot_->mtx};
    slot_->busy = false;
    slot_->status = PGRES_POLLING_FAILED;
    slot_->failure = "cannot start the thread for libpq's blocking calls";
    waker_.wake();
  }
}

void libpq_connection::connect() {
  if (slot_ || conn_)
    return;
  auto secs = std::chrono::ceil<std::chrono::seconds>(connect_timeout_).count();
  slot_ = std::make_shared<connect_slot>();
  // Our defaults come before "dbname": with expand_dbname, whatever the
  // user's conninfo sets (application_name) overrides them. libpq ignores
  // connect_timeout in non-blocking mode; it is passed for what the server
  // and the user's conninfo see, the worker enforces ours.
  slot_->params = {
    {"connect_timeout", std::to_string(secs < 1 ? 1 : secs)},
    {"fallback_application_name", "libpool"},
    {"dbname", conninfo_},
  };
  want_write_ = true;
  threaded_ = may_look_up_host(conninfo_);
  if (threaded_) {
    on_thread(true);
    return;
  }
  step(*slot_, true);
  waker_.wake(); // poll_connect waits for the socket
}

poll_status libpq_connection::poll_connect(caf::error& err) {
  if (conn_ != nullptr)
    return poll_status::ready;
  if (!slot_) {
    err = make_error(pool_errc::connect_failed, "not connecting");
    return poll_status::ready;
  }
  {
    std::lock_guard<std::mutex> guard{slot_->mtx};
    if (slot_->busy)
      return poll_status::pending; // a spurious wake-up
  }
  // No job runs: the slot is the worker's until it posts the next one.
  for (int steps = 0;; ++steps) {
    auto c = slot_->conn.get();
    if (!slot_->failure.empty())
      return connect_failed(
        err, make_error(pool_errc::connect_failed, slot_->failure));
    if (c == nullptr)
      return connect_failed(
        err, make_error(pool_errc::connect_failed, "out of memory"));
    switch (slot_->status) {
    case PGRES_POLLING_OK:
      return connected(err);
    case PGRES_POLLING_FAILED:
      return connect_failed(err, connect_error(c, conninfo_));
    default:
      break;
    }
    want_write_ = slot_->status == PGRES_POLLING_WRITING;
    // libpq may have replaced the socket in the last step.
    if (!track_socket(c))
      return connect_failed(
        err, make_error(pool_errc::connect_failed, "cannot watch the socket"));
    if (steps >= max_steps_per_wake || !socket_ready(c)) {
      // One-shot and level-triggered: fires at once if ready meanwhile.
      poller_->arm(key_, !want_write_, want_write_);
      return poll_status::pending;
    }
    if (threaded_) {
      on_thread(false);
      return poll_status::pending;
    }
    step(*slot_, false);
  }
}

bool libpq_connection::track_socket(PGconn* c) {
  auto fd = PQsocket(c);
  struct stat sb;
  if (fd < 0 || ::fstat(fd, &sb) != 0)
    return false;
  // Our registration holds a duplicate of the old socket, so its inode
  // cannot be reused by a new one while we compare.
  auto dev = static_cast<uint64_t>(sb.st_dev);
  auto ino = static_cast<uint64_t>(sb.st_ino);
  if (key_ != 0 && dev == sock_dev_ && ino == sock_ino_)
    return true;
  if (key_ != 0)
    poller_->remove(key_);
  key_ = poller_->add(fd, waker_);
  sock_dev_ = dev;
  sock_ino_ = ino;
  return key_ != 0;
}

bool libpq_connection::socket_ready(PGconn* c) const {
  pollfd p{};
  p.fd = PQsocket(c);
  p.events = want_write_ ? POLLOUT : POLLIN;
  // Errors and hang-ups count as ready: PQconnectPoll then reports them.
  return ::poll(&p, 1, 0) > 0;
}

poll_status libpq_connection::connected(caf::error& err) {
  conn_ = std::move(slot_->conn);
  slot_.reset();
  PQsetNoticeReceiver(conn_.get(), on_notice, this);
  if (PQsetnonblocking(conn_.get(), 1) != 0 || !track_socket(conn_.get())) {
    if (key_ != 0) {
      poller_->remove(key_);
      key_ = 0;
    }
    conn_.reset();
    err = make_error(pool_errc::connect_failed,
                     "cannot switch the connection to non-blocking I/O");
    return poll_status::ready;
  }
  broken_ = false;
  armed_ = false; // any connect-time arming is replaced by the idle watch
  went_idle();
  return poll_status::ready;
}

std::string libpq_connection::endpoint() const {
  if (!conn_)
    return {};
  // PQhost gives the host name or address from the conninfo that was
  // reached (a socket directory for a Unix-domain socket).
  auto* host = PQhost(conn_.get());
  auto* port = PQport(conn_.get());
  std::string result = host != nullptr ? host : "";
  result += ':';
  result += port != nullptr ? port : "";
  return result;
}

poll_status libpq_connection::connect_failed(caf::error& err,
                                             caf::error reason) {
  err = std::move(reason);
  if (key_ != 0) {
    poller_->remove(key_);
    key_ = 0;
  }
  slot_.reset(); // no job runs: frees the PGconn (closing its socket)
  return poll_status::ready;
}

// -- libpq_connection: cancel, close ------------------------------------------

void libpq_connection::post_cancel() {
  auto raw = PQgetCancel(conn_.get());
  if (raw == nullptr)
    return;
  std::shared_ptr<PGcancel> handle{raw, PQfreeCancel};
  // PQcancel opens a new connection to the server and waits for it. If the
  // job cannot be queued, the worker's grace period gives up on the
  // connection as for a cancel that never arrives.
  jobs_->post([handle] {
    char buf[256];
    PQcancel(handle.get(), buf, sizeof(buf));
  });
}

void libpq_connection::close() {
  if (slot_) {
    conn_ptr orphan; // closed on leaving this block, outside the lock
    {
      std::lock_guard<std::mutex> guard{slot_->mtx};
      slot_->abandoned = true;
      if (!slot_->busy)
        orphan = std::move(slot_->conn);
    }
    slot_.reset();
  }
  if (key_ != 0) {
    poller_->remove(key_);
    key_ = 0;
  }
  conn_.reset(); // PQfinish
  pipe_.clear();
  broken_ = true;
}

} // namespace pool
