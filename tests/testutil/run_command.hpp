// testutil: runs a shell command the way a user would, for the CLI suites.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace t2s::test {

struct CommandResult {
  int status = -1;     // exit status; -1 when the command did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh, stderr merged into stdout (run "(CMD 2>/dev/null)" for stdout only).
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  while (std::size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A shell command started in a session of its own, to be killed as a crash would: every process
// of the session at once. (mpirun gives each rank a process group of its own, so killing the
// launcher's group leaves the ranks running to the end.)
class BackgroundCommand {
 public:
  explicit BackgroundCommand(const std::string& command) {
    pid_ = fork();
    if (pid_ == 0) {
      setsid();
      execl("/bin/sh", "sh", "-c", command.c_str(), nullptr);
      _exit(127);
    }
  }
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;
  ~BackgroundCommand() { kill_all(); }

  bool started() const { return pid_ > 0; }

  // SIGKILLs the session until none of it is left (a process may fork while it is being killed),
  // then reaps the command's shell.
  void kill_all() {
    if (pid_ <= 0) return;
    for (bool any = true; any;) {
      any = false;
      for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        std::getline(stat, line);
        // "pid (comm) state ppid pgrp session ...": comm may hold anything, so read after its ')'
        const auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        char state = 0;
        long ppid = 0, group = 0, session = 0;
        if (std::sscanf(line.c_str() + close + 1, " %c %ld %ld %ld", &state, &ppid, &group, &session) != 4) continue;
        if (session == pid_ && state != 'Z' && kill(static_cast<pid_t>(std::stol(name)), SIGKILL) == 0) any = true;
      }
      if (any) usleep(10000);
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace t2s::test
