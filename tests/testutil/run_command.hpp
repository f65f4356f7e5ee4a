// testutil: runs a shell command the way a user would, for the CLI suites.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
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

}  // namespace t2s::test
