#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "skill_test_util.hpp"
#include "t2s/core/error.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "testutil/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace t2s;

TEST(SkillDir, LoadThenWriteReproducesTheDirectory) {
  const test::TempDir temp;
  for (const char* name : {"spreadsheet-edit", "table-qa"}) {
    const auto source = test::test_skill_path(name);
    const auto skill = skill::load_skill_dir(source);
    const auto out = temp / name;
    skill::write_skill_dir(skill, out);
    EXPECT_EQ(test::snapshot(out), test::snapshot(source)) << name;
  }
  const auto skill = skill::load_skill_dir(temp / "spreadsheet-edit");
  EXPECT_TRUE(skill.files.at("scripts/recalc.py").executable);
  EXPECT_FALSE(skill.files.at("SKILL.md").executable);
  EXPECT_NE(fs::status(temp / "spreadsheet-edit/scripts/recalc.py").permissions() & fs::perms::owner_exec, fs::perms::none);
  EXPECT_TRUE(skill.exists("references"));
  EXPECT_TRUE(skill.exists("references/charts.md"));
  EXPECT_FALSE(skill.exists("refer"));
  EXPECT_EQ(skill.text("nope.md"), nullptr);
}

TEST(SkillDir, RefusesLinksSpecialFilesAndMissingDirectories) {
  const test::TempDir temp;
  temp.write("s/SKILL.md", "---\nname: s\n---\n");
  fs::create_symlink("/etc/passwd", temp / "s/leak.md");
  try {
    skill::load_skill_dir(temp / "s");
    FAIL() << "a symbolic link was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("leak.md: symbolic links are not allowed"), std::string::npos);
  }
  fs::remove(temp / "s/leak.md");
  ASSERT_EQ(::mkfifo((temp / "s/pipe").c_str(), 0600), 0);
  EXPECT_THROW(skill::load_skill_dir(temp / "s"), InputError);  // reading a FIFO would hang
  fs::remove(temp / "s/pipe");
  EXPECT_THROW(skill::load_skill_dir(temp / "missing"), InputError);
  EXPECT_THROW(skill::load_skill_dir(temp / "s/SKILL.md"), InputError);
  fs::create_directory_symlink(temp / "s", temp / "alias");
  EXPECT_THROW(skill::load_skill_dir(temp / "alias"), InputError);
}

TEST(SkillDir, WriteReplacesAnExistingDirectoryAndLeavesNothingBehind) {
  const test::TempDir temp;
  temp.write("out/old-file.md", "old");
  skill::SkillDir skill;
  skill.files["SKILL.md"] = {"new", false};
  skill::write_skill_dir(skill, temp / "out/");  // a trailing separator names the same directory
  EXPECT_EQ(test::read_text(temp / "out/SKILL.md"), "new");
  EXPECT_FALSE(fs::exists(temp / "out/old-file.md"));
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(temp.path())) ++entries;
  EXPECT_EQ(entries, 1u) << "no temporary directory may be left beside the output";
}

// A file system that cannot exchange two names (RENAME_EXCHANGE), as renameat2 reports it.
int rename_without_exchange(const char* from, const char* to, unsigned flags) {
  if (flags != 0) {
    errno = EINVAL;
    return -1;
  }
  return ::rename(from, to);
}

// ... on which moving the new directory into place fails as well.
int rename_failing_into_place(const char* from, const char* to, unsigned flags) {
  if (flags == 0 && std::string_view(to).ends_with("/out") && !std::string_view(from).ends_with(".old")) {
    errno = EIO;
    return -1;
  }
  return rename_without_exchange(from, to, flags);
}

TEST(SkillDir, ReplacingWithoutAtomicExchangeRollsBackOnFailure) {
  const test::TempDir temp;
  temp.write("out/SKILL.md", "old");
  temp.write("new/SKILL.md", "new");
  const auto entries = [&] {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(temp.path())) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  };
  EXPECT_THROW(skill::replace_directory(temp / "new", temp / "out", rename_failing_into_place), Error);
  EXPECT_EQ(test::read_text(temp / "out/SKILL.md"), "old") << "the existing directory is back in place";
  EXPECT_EQ(entries(), (std::vector<std::string>{"new", "out"})) << "nothing is left aside";

  skill::replace_directory(temp / "new", temp / "out", rename_without_exchange);
  EXPECT_EQ(test::read_text(temp / "out/SKILL.md"), "new");
  EXPECT_EQ(entries(), std::vector<std::string>{"out"}) << "the old directory is removed";
}

TEST(SkillDir, DirectoryNameIgnoresTrailingSeparators) {
  EXPECT_EQ(skill::directory_name("skills/pdf"), "pdf");
  EXPECT_EQ(skill::directory_name("skills/pdf/"), "pdf");
  EXPECT_EQ(skill::directory_name("skills/pdf/."), "pdf");
  EXPECT_EQ(skill::without_trailing_separators("skills/pdf//"), "skills/pdf");
  EXPECT_EQ(skill::without_trailing_separators("skills/pdf"), "skills/pdf");
  EXPECT_EQ(skill::without_trailing_separators("/"), "/");
}

}  // namespace
