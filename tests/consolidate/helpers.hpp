// Helpers of the consolidate tests: edits and patches in one line, the test skill, and the check
// that the skill engine accepts a patch.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "t2s/skill/apply.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/skill_dir.hpp"

namespace t2s::test {

using Ids = std::vector<std::string>;

inline skill::Edit make_edit(skill::Op op, std::string file, std::string target_section, std::string anchor,
                             std::string content, Ids support, std::string after_section = {}) {
  skill::Edit e;
  e.op = op;
  e.file = std::move(file);
  e.target_section = std::move(target_section);
  if (op == skill::Op::replace_in_section)
    e.old_text = std::move(anchor);
  else
    e.target_text = std::move(anchor);
  e.content = std::move(content);
  e.after_section = std::move(after_section);
  std::sort(support.begin(), support.end());
  e.support = std::move(support);
  return e;
}

inline skill::Edit append(std::string section, std::string content, Ids support) {
  return make_edit(skill::Op::append_to_section, "SKILL.md", std::move(section), {}, std::move(content), std::move(support));
}

inline skill::Edit replace(std::string old_text, std::string content, Ids support, std::string section = {}) {
  return make_edit(skill::Op::replace_in_section, "SKILL.md", std::move(section), std::move(old_text), std::move(content),
                   std::move(support));
}

inline skill::Edit insert_after(std::string target, std::string content, Ids support) {
  return make_edit(skill::Op::insert_after, "SKILL.md", {}, std::move(target), std::move(content), std::move(support));
}

inline skill::Edit add_section(std::string heading, std::string content, Ids support, std::string after = {}) {
  return make_edit(skill::Op::add_section, "SKILL.md", std::move(heading), {}, std::move(content), std::move(support),
                   std::move(after));
}

inline skill::Edit delete_section(std::string section, Ids support) {
  return make_edit(skill::Op::delete_section, "SKILL.md", std::move(section), {}, {}, std::move(support));
}

inline skill::Edit create(std::string file, std::string content, Ids support) {
  return make_edit(skill::Op::create, std::move(file), {}, {}, std::move(content), std::move(support));
}

inline skill::Patch make_patch(std::vector<skill::Edit> edits, std::uint64_t population = 0, std::string model = {}) {
  skill::Patch p;
  p.edits = std::move(edits);
  p.origin.population = population;
  p.origin.model = std::move(model);
  return p;
}

inline std::filesystem::path test_skill_dir(const std::string& name = "spreadsheet-edit") {
  return std::filesystem::path(T2S_SOURCE_DIR) / "tests/skill/data/skills" / name;
}

inline const skill::SkillDir& spreadsheet_skill() {
  static const skill::SkillDir skill = skill::load_skill_dir(test_skill_dir());
  return skill;
}

// Whether the engine applies `patch` to the skill (atomically) and the output validates; the
// failures as a message otherwise.
inline ::testing::AssertionResult applies(const skill::Patch& patch, const skill::SkillDir& skill = spreadsheet_skill(),
                                          const std::string& name = "spreadsheet-edit") {
  const auto result = skill::apply_patch(skill, name, patch);
  if (result.ok && result.failed() == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << skill::format_apply_result(result, patch);
}

// The support sets of a patch, sorted: what a merge must get right whatever the order of edits.
inline std::vector<Ids> supports(const skill::Patch& patch) {
  std::vector<Ids> out;
  for (const auto& e : patch.edits) out.push_back(e.support.ids());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace t2s::test
