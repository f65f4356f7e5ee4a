// testutil: the t2s binary and the MPI launcher as a user runs them, for the CLI suites. Needs the
// target's T2S_BINARY (and, for run_mpi, T2S_MPIEXEC and T2S_MPIEXEC_FLAGS) definitions.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "testutil/run_command.hpp"

namespace t2s::test {

inline CommandResult run_t2s(const std::string& arguments) { return run_command(std::string(T2S_BINARY) + " " + arguments); }

#ifdef T2S_MPIEXEC
inline const std::string& mpi_launcher() {
  static const std::string launcher = std::string(T2S_MPIEXEC) + " " + T2S_MPIEXEC_FLAGS;
  return launcher;
}
inline CommandResult run_t2s_mpi(int ranks, const std::string& arguments) {
  return run_command(mpi_launcher() + " -n " + std::to_string(ranks) + " " + T2S_BINARY + " " + arguments);
}
#endif

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Every file of a directory tree: relative path → bytes.
inline std::map<std::string, std::string> file_tree(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files[std::filesystem::relative(entry.path(), dir).string()] = read_file(entry.path());
  return files;
}

}  // namespace t2s::test
