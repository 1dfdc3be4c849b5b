#include "libpq_blocking_thread.hpp"

#include <system_error>
#include <utility>

namespace pool {

libpq_blocking_thread::~libpq_blocking_thread() {
  std::deque<job> dropped; // destroyed outside the lock
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
    dropped.swap(jobs_);
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

bool libpq_blocking_thread::post(job j) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stop_)
    return false;
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread{[this] { run(); }};
    } catch (const std::system_error&) {
      return false;
    }
  }
  jobs_.push_back(std::move(j));
  cv_.notify_one();
  return true;
}

bool libpq_blocking_thread::started() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return thread_.joinable();
}

void libpq_blocking_thread::run() {
  std::unique_lock<std::mutex> guard{mtx_};
  for (;;) {
    cv_.wait(guard, [this] { return stop_ || !jobs_.empty(); });
    if (stop_)
      return;
    auto j = std::move(jobs_.front());
    jobs_.pop_front();
    guard.unlock();
    j();
    j = nullptr; // free what it held before waiting again
    guard.lock();
  }
}

} // namespace pool
