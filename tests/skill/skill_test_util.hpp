// Helpers shared by the skill suites: the test skills in tests/skill/data and file access.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "t2s/skill/skill_dir.hpp"

namespace t2s::test {

inline std::filesystem::path skill_data() { return std::filesystem::path(T2S_SOURCE_DIR) / "tests/skill/data"; }

// One of the realistic test skills (spreadsheet-edit, table-qa).
inline std::filesystem::path test_skill_path(const std::string& name) { return skill_data() / "skills" / name; }
inline skill::SkillDir test_skill(const std::string& name) { return skill::load_skill_dir(test_skill_path(name)); }

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Everything under `dir` (relative path → bytes): to show a directory is untouched.
inline std::string snapshot(const std::filesystem::path& dir) {
  std::string text;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths)
    text += path.lexically_relative(dir).string() + "\n" +
            (std::filesystem::is_regular_file(path) ? read_text(path) : std::string("<dir>")) + "\n";
  return text;
}

}  // namespace t2s::test
