#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace node_test {

process::~process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::milliseconds{5000});
  }
}

std::string process::start(const std::vector<std::string>& argv,
                           const std::string& out_file,
                           const std::string& err_file) {
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // fork + exec rather than posix_spawn: the child asks to be killed when
  // the test dies (PR_SET_PDEATHSIG), so an aborted test leaves no poold
  // behind. Only async-signal-safe calls between fork and exec.
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid < 0)
    return "fork: " + std::string{std::strerror(errno)};
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    auto out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    auto err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0)
      ::_exit(126);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execve(args[0], args.data(), environ);
    ::_exit(127);
  }
  pid_ = pid;
  return {};
}

void process::signal(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

int process::wait(std::chrono::milliseconds limit) {
  if (pid_ <= 0)
    return -1;
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status))
        return WEXITSTATUS(status);
      if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool wait_for_text(const std::string& path, const std::string& needle,
                   std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (read_file(path).find(needle) != std::string::npos)
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

temp_dir::temp_dir() {
  char tmpl[] = "/tmp/libpool-node.XXXXXX";
  if (auto p = ::mkdtemp(tmpl))
    path_ = p;
  else
    throw std::runtime_error{std::string{"mkdtemp: "} + std::strerror(errno)};
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

long long wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace node_test
