// Outputs: a rename only ever replaces a regular file; streams are written in place or refused.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "testutil/temp_dir.hpp"

namespace t2s {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Files, WhatIsAtAnOutputPathDecidesHowItIsWritten) {
  test::TempDir dir;
  EXPECT_FALSE(resolve_output(dir / "new.txt", false).stream);
  const fs::path fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(resolve_output(fifo, true).stream);
  EXPECT_THROW(resolve_output(fifo, false), InputError);
  EXPECT_TRUE(resolve_output("/dev/null", true).stream);
  EXPECT_THROW(resolve_output("/dev/null", false), InputError);
  EXPECT_THROW(resolve_output(dir.path(), true), InputError);
  fs::create_symlink(fifo, dir / "to-fifo");
  EXPECT_TRUE(resolve_output(dir / "to-fifo", true).stream);
  fs::create_symlink(dir / "file.txt", dir / "to-file");  // dangling: the file goes where it points
  EXPECT_EQ(resolve_output(dir / "to-file", false).path, dir / "file.txt");
  write_file_whole(dir / "to-file", "through the link");
  EXPECT_TRUE(fs::is_symlink(dir / "to-file"));
  EXPECT_EQ(read(dir / "file.txt"), "through the link");
}

TEST(Files, ARenameNeverReplacesWhatIsNotARegularFile) {
  test::TempDir dir;
  write_file_whole(dir / "a.txt", "one");
  write_file_whole(dir / "a.txt", "two");
  EXPECT_EQ(read(dir / "a.txt"), "two");
  EXPECT_FALSE(fs::exists(dir / "a.txt.partial"));
  // the path became a FIFO between the look and the rename: the partial file goes, the FIFO stays
  const fs::path fifo = dir / "fifo";
  std::ofstream(dir / "fifo.partial") << "data";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW(commit_output(dir / "fifo.partial", fifo), Error);
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_FALSE(fs::exists(dir / "fifo.partial"));
  EXPECT_THROW(write_file_whole(fifo, "x"), InputError);
  EXPECT_TRUE(fs::is_fifo(fifo));
}

}  // namespace
}  // namespace t2s
