#include <gtest/gtest.h>

#include "t2s/skill/frontmatter.hpp"

namespace {

using namespace t2s::skill;

// The line a parse error names, or 0 when the text parses.
std::size_t error_line(const std::string& text, std::string* reason = nullptr) {
  try {
    parse_skill_md(text);
  } catch (const SkillMdError& e) {
    if (reason != nullptr) *reason = e.reason();
    EXPECT_NE(std::string(e.what()).find("SKILL.md:" + std::to_string(e.line()) + ": "), std::string::npos);
    return e.line();
  }
  return 0;
}

TEST(Frontmatter, FieldsWithTheirLines) {
  const auto skill = parse_skill_md(
      "---\n"
      "name: demo\n"
      "description: >-\n"
      "  Folded\n"
      "  text\n"
      "metadata:\n"
      "  version: \"1.0\"\n"
      "  tags: [a, b]\n"
      "allowed-tools:\n"
      "  - Bash\n"
      "empty:\n"
      "---   \n"
      "# Body\n");
  const auto& fm = skill.frontmatter;
  ASSERT_EQ(fm.fields.size(), 5u);
  EXPECT_EQ(fm.find("name")->text, "demo");
  EXPECT_EQ(fm.key_line("name"), 2u);
  EXPECT_EQ(fm.find("description")->text, "Folded text");
  const auto* metadata = fm.find("metadata");
  ASSERT_EQ(metadata->kind, YamlValue::Kind::mapping);
  EXPECT_EQ(metadata->line, 6u);
  ASSERT_EQ(metadata->items.size(), 2u);
  EXPECT_EQ(metadata->items[0].text, "1.0");
  EXPECT_EQ(metadata->items[1].kind, YamlValue::Kind::sequence);
  EXPECT_EQ(metadata->items[1].line, 8u);
  EXPECT_EQ(fm.find("allowed-tools")->kind, YamlValue::Kind::sequence);
  EXPECT_EQ(fm.find("empty")->kind, YamlValue::Kind::null);
  EXPECT_EQ(fm.find("license"), nullptr);
  EXPECT_EQ(skill.doc.body_begin, 12u);
  EXPECT_EQ(skill.body_lines(), 1u);
  ASSERT_EQ(skill.doc.sections.size(), 1u);
}

TEST(Frontmatter, CrlfFiles) {
  const std::string text = "---\r\nname: demo\r\ndescription: d\r\n---\r\n# Body\r\n";
  const auto skill = parse_skill_md(text);
  EXPECT_EQ(skill.frontmatter.find("name")->text, "demo");  // no stray \r
  EXPECT_EQ(skill.doc.render(), text);
}

TEST(Frontmatter, ErrorsNameTheirLine) {
  std::string reason;
  EXPECT_EQ(error_line("# No frontmatter\n", &reason), 1u);
  EXPECT_NE(reason.find("must start with YAML frontmatter"), std::string::npos);
  EXPECT_EQ(error_line(""), 1u);
  EXPECT_EQ(error_line("---\nname: x\n", &reason), 1u);
  EXPECT_NE(reason.find("never closed"), std::string::npos);
  EXPECT_EQ(error_line("---\nname: x\ndescription: [unclosed\n---\n", &reason), 4u);
  EXPECT_NE(reason.find("not valid YAML"), std::string::npos);
  EXPECT_EQ(error_line("---\n- a list\n---\n", &reason), 2u);
  EXPECT_NE(reason.find("mapping"), std::string::npos);
  EXPECT_EQ(error_line("---\nname: a\nname: b\n---\n", &reason), 3u);
  EXPECT_NE(reason.find("duplicate frontmatter key 'name'"), std::string::npos);
  EXPECT_EQ(error_line("---\n[a, b]: c\n---\n", &reason), 2u);
  EXPECT_NE(reason.find("plain strings"), std::string::npos);
  EXPECT_EQ(error_line("---\n---\n"), 2u);  // empty frontmatter is not a mapping
}

TEST(Frontmatter, HostileYamlIsRefusedOrBoundedNeverACrash) {
  // Deep nesting: yaml-cpp refuses it instead of overflowing the stack.
  const std::string deep = "---\nname: " + std::string(100000, '[') + "\n---\n";
  EXPECT_THROW(parse_skill_md(deep), SkillMdError);
  // Aliases are shared, never expanded; we walk two levels at most.
  std::string bomb = "---\na0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 30; ++i)
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + ", *a" + std::to_string(i - 1) + "]\n";
  bomb += "---\n";
  EXPECT_EQ(parse_skill_md(bomb).frontmatter.fields.size(), 30u);
  // Tabs, a byte-order mark, binary garbage: errors, not crashes.
  EXPECT_THROW(parse_skill_md("---\n\tname: x\n---\n"), SkillMdError);
  EXPECT_THROW(parse_skill_md("\xEF\xBB\xBF---\nname: x\n---\n"), SkillMdError);
  EXPECT_THROW(parse_skill_md(std::string("---\n\0\x01\x02: [\n---\n", 17)), SkillMdError);
}

TEST(Frontmatter, BodyBeginAndSkillFiles) {
  EXPECT_EQ(body_begin(split_lines("---\na: b\n---\nbody\n")), 3u);
  EXPECT_EQ(body_begin(split_lines("---\nunclosed\n")), 0u);
  EXPECT_EQ(body_begin(split_lines("# no frontmatter\n")), 0u);
  // Only SKILL.md has a frontmatter: a reference starting with '---' is all body.
  const std::string text = "---\n# Not YAML\n---\n# Body\n";
  EXPECT_EQ(parse_skill_file("SKILL.md", text).sections.size(), 1u);
  EXPECT_EQ(parse_skill_file("references/x.md", text).sections.size(), 2u);
}

}  // namespace
