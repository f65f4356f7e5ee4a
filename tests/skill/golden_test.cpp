// Golden tests: every op and every rejection, as files a reviewer can read.
//
// tests/skill/data/golden/CASE/ holds `skill` (which test skill), `patch.json`, optionally
// `options` ("partial"), the expected report `report.txt` and, when the patch applies,
// `expected/` (every file the patch adds or changes, byte for byte) and `deleted` (files it
// removes). Run with T2S_UPDATE_GOLDEN=1 to rewrite these expectations (then review the diff).
// `failed` is written by hand and never rewritten: one line per edit that must fail, "INDEX: words
// of its reason", or "problem: RULE" for a validation problem the output must have. Every case
// that does not apply has one, so a rejection cannot silently turn into a different one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "skill_test_util.hpp"
#include "t2s/skill/apply.hpp"
#include "t2s/skill/paths.hpp"

namespace {

namespace fs = std::filesystem;
using namespace t2s;

std::vector<std::string> golden_cases() {
  std::vector<std::string> cases;
  for (const auto& entry : fs::directory_iterator(test::skill_data() / "golden")) cases.push_back(entry.path().filename());
  std::sort(cases.begin(), cases.end());
  return cases;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, PatchGivesTheExpectedSkillAndReport) {
  const auto dir = test::skill_data() / "golden" / GetParam();
  const auto name = trimmed(test::read_text(dir / "skill"));
  const auto input = test::test_skill(name);
  const auto patch = skill::read_patch(test::read_text(dir / "patch.json"), "patch.json");
  skill::ApplyOptions options;
  options.partial = fs::exists(dir / "options") && test::read_text(dir / "options").find("partial") != std::string::npos;
  const auto result = skill::apply_patch(input, name, patch, options);
  const auto report = skill::format_apply_result(result, patch);

  // What the patch changed, the sidecar aside (its hashes are tested elsewhere).
  std::map<std::string, std::string> changed;
  std::set<std::string> deleted;
  if (result.ok) {
    for (const auto& [path, file] : result.skill.files)
      if (!skill::is_sidecar(path) && (input.text(path) == nullptr || *input.text(path) != file.bytes))
        changed[path] = file.bytes;
    for (const auto& [path, file] : input.files)
      if (!result.skill.files.contains(path)) deleted.insert(path);
  }

  if (std::getenv("T2S_UPDATE_GOLDEN") != nullptr) {
    write_text(dir / "report.txt", report);
    fs::remove_all(dir / "expected");
    fs::remove(dir / "deleted");
    for (const auto& [path, bytes] : changed) write_text(dir / "expected" / path, bytes);
    std::string list;
    for (const auto& path : deleted) list += path + "\n";
    if (!list.empty()) write_text(dir / "deleted", list);
    GTEST_SKIP() << "expectations rewritten";
  }

  EXPECT_EQ(report, test::read_text(dir / "report.txt"));
  const bool should_apply = fs::exists(dir / "expected") || fs::exists(dir / "deleted");
  ASSERT_EQ(result.ok, should_apply) << report;
  ASSERT_TRUE(should_apply || fs::exists(dir / "failed")) << "a rejection case says what fails, in `failed`";
  std::set<std::size_t> failing;
  std::istringstream failed(fs::exists(dir / "failed") ? test::read_text(dir / "failed") : "");
  for (std::string line; std::getline(failed, line);) {
    const auto colon = line.find(": ");
    ASSERT_NE(colon, std::string::npos) << line;
    const auto words = line.substr(colon + 2);
    if (line.starts_with("problem: ")) {
      EXPECT_TRUE(std::any_of(result.problems.begin(), result.problems.end(), [&](const auto& p) { return p.rule == words; }))
          << "no " << words << " problem:\n" << report;
      continue;
    }
    const auto index = std::stoul(line.substr(0, colon));
    ASSERT_LT(index, result.edits.size()) << line;
    failing.insert(index);
    EXPECT_EQ(result.edits[index].status, skill::EditStatus::failed) << line << "\n" << report;
    EXPECT_NE(result.edits[index].reason.find(words), std::string::npos) << line << "\n" << report;
  }
  for (std::size_t i = 0; i < result.edits.size(); ++i)
    if (!failing.contains(i)) EXPECT_NE(result.edits[i].status, skill::EditStatus::failed) << "edits[" << i << "]\n" << report;
  if (!should_apply) return;
  std::map<std::string, std::string> expected;
  if (fs::exists(dir / "expected"))
    for (const auto& entry : fs::recursive_directory_iterator(dir / "expected"))
      if (entry.is_regular_file())
        expected[entry.path().lexically_relative(dir / "expected").generic_string()] = test::read_text(entry.path());
  EXPECT_EQ(changed.size(), expected.size());
  for (const auto& [path, bytes] : expected) {
    ASSERT_TRUE(changed.contains(path)) << path << " was expected to change";
    EXPECT_EQ(changed[path], bytes) << path;
  }
  std::set<std::string> expected_deleted;
  if (fs::exists(dir / "deleted")) {
    std::istringstream lines(test::read_text(dir / "deleted"));
    for (std::string line; std::getline(lines, line);) expected_deleted.insert(line);
  }
  EXPECT_EQ(deleted, expected_deleted);
  // Every skill the engine writes passes the validator.
  EXPECT_TRUE(skill::validate_skill(result.skill, name).empty());
}

INSTANTIATE_TEST_SUITE_P(Skill, Golden, ::testing::ValuesIn(golden_cases()),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
