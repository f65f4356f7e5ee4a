// skill/skill_dir: a skill directory held in memory, loaded and written whole.
//
// Every regular file is kept byte for byte with its executable bit, and nothing else: empty
// directories, other permission bits, owners and times are not kept (written files get the
// default mode under the umask, executables every execute bit on top). What a patch may change is decided by skill/paths; everything else
// (scripts/, assets/, licences, the .trace2skill/ sidecar) is carried through untouched.
// Symbolic links and special files are refused: a link could make a write land outside the skill.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace t2s::skill {

struct SkillFile {
  std::string bytes;
  bool executable = false;
};

struct SkillDir {
  std::map<std::string, SkillFile, std::less<>> files;  // '/'-separated paths, sorted

  // The bytes of `path`, or nullptr when there is no such file.
  const std::string* text(std::string_view path) const;
  // Whether `path` is a file, or a directory holding files.
  bool exists(std::string_view path) const;
};

// Loads every file under `dir`. Throws InputError naming the file when `dir` is not a directory,
// holds a symbolic link, a special file or a file name with control characters, or when a file or
// directory in it cannot be read.
SkillDir load_skill_dir(const std::filesystem::path& dir);

// `dir` without trailing separators ("skills/pdf/" → "skills/pdf"; "/" stays): how a directory is
// named in messages, and the form every directory argument is normalised to.
std::filesystem::path without_trailing_separators(const std::filesystem::path& dir);

// A directory's own name ("skills/pdf/" and "skills/pdf" are both "pdf"): the specification wants
// it equal to the skill's `name`.
std::string directory_name(const std::filesystem::path& dir);

// Writes `skill` as the directory `out`, atomically: the files are written to a temporary directory
// beside `out` which is then renamed into place (an existing `out` is swapped out and removed
// after, whatever it holds: deciding whether it may be replaced is the caller's business). On
// failure nothing is left behind and an existing `out` is untouched.
void write_skill_dir(const SkillDir& skill, const std::filesystem::path& out);

// The mark of a directory `t2s skill apply` wrote: a digest of every other file of it, so that a
// later apply can tell its own, unchanged output (which it may replace) from anything else.
inline constexpr std::string_view kOutputMarkerPath = ".trace2skill/output.json";
// Adds (or renews) the marker of `skill`.
void mark_as_output(SkillDir& skill);
// Whether `skill` has a marker that matches its other files exactly (names, bytes, executable bits).
bool is_unchanged_output(const SkillDir& skill);

// renameat2(2) relative to the working directory; write_skill_dir uses the real one, tests a failing one.
using RenameFunction = int (*)(const char* from, const char* to, unsigned flags);

// Puts the directory `from` in place of the existing `to`, then removes the old `to`. Atomic where the
// file system can exchange two names (RENAME_EXCHANGE); elsewhere `to` is moved aside and `from`
// renamed in, and when that fails `to` is moved back: either way, on failure (Error) `to` is as it was.
void replace_directory(const std::filesystem::path& from, const std::filesystem::path& to,
                       RenameFunction rename = nullptr);

}  // namespace t2s::skill
