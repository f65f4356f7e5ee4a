// skill/provenance: the sidecar that explains every block of a skill the system wrote.
//
// `.trace2skill/provenance.json` (not a skill file: the validator ignores .trace2skill/) lists
// blocks: a run of lines of one file written by one edit, with the edit's support set, its
// prevalence (the size of the support set, out of `population` trajectories when known), the
// merge-tree path and the model/prompt hashes of the patch. Blocks follow their lines through
// later patches and budget moves; a block whose lines are all gone is dropped. A block written by
// an evolve run lists at most a few thousand ids; `unlisted` counts the rest, and the run archive
// holds the whole set.
//
//   {"format": "trace2skill/provenance", "format_version": 1,
//    "blocks": [{"file": "SKILL.md", "first_line": 12, "last_line": 14, "sha256": "…",
//                "section": "## Formulas", "op": "append_to_section", "edit": 0,
//                "patch_sha256": "…", "support": ["…"], "prevalence": 5, "unlisted": 0,
//                "origin": {"model": "…", "model_hash": "…", "prompt_hash": "…",
//                           "merge_path": ["L2/0", "L1/3"], "population": 128}}]}
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "t2s/skill/markdown.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/skill_dir.hpp"

namespace t2s::skill {

inline constexpr std::string_view kProvenancePath = ".trace2skill/provenance.json";

struct Block {
  std::string file;
  std::size_t first_line = 0, last_line = 0;  // 1-based, inclusive
  std::string sha256;                         // of the block's bytes
  std::string section;                        // innermost heading holding the first line, "" if none
  std::string op;
  std::size_t edit = 0;  // index of the edit in its patch
  std::string patch_sha256;
  Support support;
  std::uint64_t unlisted = 0;  // members of the support set the sidecar does not list (see name_positions)
  PatchOrigin origin;

  std::size_t prevalence() const { return support.size() + unlisted; }
};

struct Provenance {
  std::vector<Block> blocks;  // sorted by file, then line
};

// The sidecar of `skill`; empty when there is none. Throws InputError when it is malformed.
Provenance read_provenance(const SkillDir& skill);
// Stores `provenance` in `skill`: blocks are trimmed of blank lines at either end (dropped when
// nothing else is left), sorted, and their hashes and sections recomputed from the files; the
// sidecar is removed when there are no blocks.
void write_provenance(SkillDir& skill, Provenance provenance);

// Where a line of a rewritten file came from: copied from `file`:`line` (0-based), or written by
// edit `edit`.
struct LineOrigin {
  std::string file;
  std::size_t line = 0;
  std::size_t edit = npos;
};
// The origins of every line of each file a step rewrote (or created).
using LineOrigins = std::map<std::string, std::vector<LineOrigin>, std::less<>>;

// Moves the blocks of `provenance` along with their lines: for each output file, a block covers
// the lines copied from its lines (one block per output file that received some); blocks of files
// not in `origins` stay when the file still exists in `skill`.
Provenance follow_lines(const Provenance& provenance, const LineOrigins& origins, const SkillDir& skill);

// Adds one block per run of lines written by the same edit of `patch`.
void add_edit_blocks(Provenance& provenance, const LineOrigins& origins, const Patch& patch);

// Gives every block whose support holds store positions the ids of its first `limit` members
// (`id_of(position)`), counting the others in `unlisted`: a skill names trajectories by id, and a
// lesson seen in a million runs should not make its sidecar a hundred megabytes.
void name_positions(Provenance& provenance, const std::function<std::string(std::uint32_t)>& id_of, std::size_t limit);

// "SKILL.md:12-14 append_to_section (edits[0]), support 5/128: a1b2c3d4e5f6, …; merge L2/0 > L1/3;
// model qwen3 (hash …), prompt 1234…": one line for people.
std::string describe(const Block& block);
// A block as it appears in the sidecar.
nlohmann::json block_json(const Block& block);

}  // namespace t2s::skill
