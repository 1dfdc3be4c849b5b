#pragma once

// Child processes for the multi-process tests: started with posix_spawn,
// stdout and stderr to files, stopped with a signal, reaped with a bound.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace node_test {

/// A child process. The destructor kills it (SIGKILL) if it still runs.
class process {
 public:
  process() = default;
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  ~process();

  /// Starts `argv[0]` with `argv`, its stdout and stderr written to
  /// `out_file` and `err_file`. Returns "" or what went wrong.
  std::string start(const std::vector<std::string>& argv,
                    const std::string& out_file, const std::string& err_file);

  /// Sends `sig` to the child (no effect once it was reaped).
  void signal(int sig);

  /// Waits at most `limit` for the child to exit; returns its exit code,
  /// 128 + the signal that killed it, or -1 if it still runs.
  int wait(std::chrono::milliseconds limit);

  /// Whether the child runs (not reaped yet).
  bool running() const { return pid_ > 0; }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

/// The whole content of `path` ("" if it cannot be read).
std::string read_file(const std::string& path);

/// Waits at most `limit` until `path` contains `needle`; returns whether it
/// does.
bool wait_for_text(const std::string& path, const std::string& needle,
                   std::chrono::milliseconds limit);

/// A fresh directory under /tmp (/tmp/libpool-node.XXXXXX) for one test's
/// files, deleted with all it holds by the destructor. Stop the processes
/// that write there first (declare it before them).
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// The directory's path.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Milliseconds on the realtime clock (comparable across processes).
long long wall_ms();

} // namespace node_test
