#include <gtest/gtest.h>

#include "t2s/skill/paths.hpp"

namespace {

using namespace t2s::skill;
using Kind = LinkTarget::Kind;

TEST(Paths, OnlyPlainRelativePathsAreSafe) {
  EXPECT_FALSE(unsafe_path_reason("SKILL.md"));
  EXPECT_FALSE(unsafe_path_reason("references/a-b_c.md"));
  for (const std::string& path : std::vector<std::string>{"", "/etc/passwd", "../x.md", "references/../../x.md", "references/./x.md",
                                 "references//x.md", "references/", "a\\b.md", std::string("a\0b.md", 6),
                                 "new\nline.md", "del\x7f.md"})
    EXPECT_TRUE(unsafe_path_reason(path)) << path;
  EXPECT_EQ(*unsafe_path_reason("../x"), "'..' would leave the skill directory");
}

TEST(Paths, EditableProtectedAndOthers) {
  EXPECT_TRUE(is_editable("SKILL.md"));
  EXPECT_TRUE(is_editable("references/formulas.md"));
  EXPECT_FALSE(is_editable("references/sub/x.md"));
  EXPECT_FALSE(is_editable("references/.hidden.md"));
  EXPECT_FALSE(is_editable("references/notes.txt"));
  EXPECT_FALSE(is_editable("skill.md"));
  EXPECT_FALSE(is_editable("assets/readme.md"));
  EXPECT_FALSE(is_editable("references/LICENSE.md"));  // a licence is protected wherever it is
  for (const char* name : {"a.md", "A-b_c.2.md", "9.md"}) EXPECT_TRUE(is_reference_name(name)) << name;
  for (const char* name : {".md", "-a.md", ".a.md", "my notes.md", "caf\xC3\xA9.md", "$(rm -rf ~).md",
                           "\xE2\x80\xAEgnp.md", "a.txt", "a.MD"})
    EXPECT_FALSE(is_reference_name(name)) << name;
  EXPECT_NE(edit_path_problem("references/my notes.md")->find("reference names are letters, digits"), std::string::npos);
  EXPECT_TRUE(is_markdown_file("references/deep/x.md"));
  EXPECT_FALSE(is_markdown_file("assets/x.md"));
  for (const char* path : {"scripts/recalc.py", "LICENSE", "LICENSE.txt", "licence.md", "references/COPYING",
                           ".trace2skill/provenance.json"})
    EXPECT_TRUE(is_protected(path)) << path;
  EXPECT_FALSE(is_protected("references/licensing-notes.md"));
  EXPECT_FALSE(is_protected("assets/template.csv"));
  EXPECT_FALSE(edit_path_problem("references/x.md"));
  EXPECT_NE(edit_path_problem("scripts/run.py")->find("protected"), std::string::npos);
  EXPECT_NE(edit_path_problem("assets/x.md")->find("not editable"), std::string::npos);
}

TEST(Paths, LinksResolveAgainstTheirFile) {
  const auto check = [](const char* from, const char* target, Kind kind, const char* path = "") {
    const auto link = resolve_link(from, target);
    EXPECT_EQ(link.kind, kind) << from << " -> " << target;
    EXPECT_EQ(link.path, path) << from << " -> " << target;
  };
  check("SKILL.md", "references/a.md", Kind::local, "references/a.md");
  check("SKILL.md", "./references/a.md#part", Kind::local, "references/a.md");
  check("SKILL.md", "references/with%20space.md?x=1", Kind::local, "references/with space.md");
  check("references/a.md", "b.md", Kind::local, "references/b.md");
  check("references/a.md", "../SKILL.md", Kind::local, "SKILL.md");
  check("references/a.md", "../../x.md", Kind::escapes);
  check("SKILL.md", "../other/SKILL.md", Kind::escapes);
  check("SKILL.md", "%2E%2E/x.md", Kind::escapes);
  check("SKILL.md", "/etc/passwd", Kind::absolute);
  check("SKILL.md", "file:///etc/passwd", Kind::absolute);
  check("SKILL.md", "https://agentskills.io", Kind::external);
  check("SKILL.md", "mailto:a@b.c", Kind::external);
  check("SKILL.md", "//cdn.example.com/x.js", Kind::external);
  check("SKILL.md", "#usage", Kind::anchor);
  check("SKILL.md", "scripts/", Kind::local, "scripts");
}

}  // namespace
