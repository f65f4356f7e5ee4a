// skill/diff: what changed between two skill directories, and why (the provenance of each change).
//
// A unified diff (3 lines of context, `--- a/PATH` / `+++ b/PATH`, /dev/null for added or removed
// files, "\ No newline at end of file" where it applies, "Binary files … differ" for files that
// are not UTF-8 text) of every file that differs, the .trace2skill/ sidecar excluded. With
// provenance, each hunk is followed by one `# provenance: …` line per block of B's sidecar that
// the hunk adds or changes; without it, the output is a plain diff that patch(1) accepts.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "t2s/skill/skill_dir.hpp"

namespace t2s::skill {

struct Hunk {
  std::size_t old_first = 0, old_count = 0;  // 0-based first line and count in A
  std::size_t new_first = 0, new_count = 0;  // in B
  std::vector<std::string> lines;            // ' ', '-' or '+' and the line, terminator included
};

// The hunks that turn `a` into `b` (lines with terminators, as split_lines gives them).
std::vector<Hunk> diff_lines(const std::vector<std::string>& a, const std::vector<std::string>& b,
                             std::size_t context = 3);

struct DiffOptions {
  std::size_t context = 3;
  bool provenance = true;
};

// The diff from `a` to `b`; empty when they hold the same files.
std::string diff_skills(const SkillDir& a, const SkillDir& b, const DiffOptions& options = {});

}  // namespace t2s::skill
