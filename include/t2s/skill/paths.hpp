// skill/paths: which files of a skill a patch may touch, and where a link points.
//
// Paths are relative to the skill directory and '/'-separated. Patch paths come from a model and
// are untrusted: they must be plain relative paths (no absolute path, no `..`, `.` or empty
// component, no backslash, no control character), and only SKILL.md and references/NAME.md
// (directly in references/) are editable. A reference NAME is [A-Za-z0-9][A-Za-z0-9._-]*.md: no
// space, shell syntax or look-alike Unicode in a file an agent will open by name. scripts/, licence files (LICENSE*, LICENCE*, COPYING*,
// in any case, anywhere) and the .trace2skill/ sidecar are protected; every other file (assets/,
// other resources) is carried through untouched as well.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace t2s::skill {

inline constexpr std::string_view kSkillMd = "SKILL.md";
inline constexpr std::string_view kReferencesDir = "references/";
inline constexpr std::string_view kSidecarDir = ".trace2skill/";

// Why `path` is not a plain relative path, or nothing when it is.
std::optional<std::string> unsafe_path_reason(std::string_view path);

bool is_reference_name(std::string_view name);  // [A-Za-z0-9][A-Za-z0-9._-]*.md
bool is_reference(std::string_view path);       // references/NAME.md
// A file the engine reads as Markdown: SKILL.md, or any .md under references/ (valid or not).
bool is_markdown_file(std::string_view path);
bool is_editable(std::string_view path);   // SKILL.md or a reference, unless protected
bool is_protected(std::string_view path);
bool is_sidecar(std::string_view path);

// Why a patch may not touch `path`, or nothing when it may.
std::optional<std::string> edit_path_problem(std::string_view path);

struct LinkTarget {
  enum class Kind {
    external,  // has a scheme (https:, mailto:) or is protocol-relative
    anchor,    // only a fragment (#usage)
    local,     // a file (or directory) inside the skill: `path`
    absolute,  // an absolute path or a file: URL
    escapes,   // `..` climbs out of the skill
  };
  Kind kind = Kind::external;
  std::string path;  // for local links: relative to the skill root, fragment and query removed
};

// Resolves a link written in `from_file` (a skill path) to its target: percent-escapes are decoded,
// `.` and `..` are resolved against the directory of `from_file`.
LinkTarget resolve_link(std::string_view from_file, std::string_view target);

}  // namespace t2s::skill
