// skill/frontmatter: SKILL.md split into its YAML frontmatter and its Markdown body.
//
// SKILL.md starts with a line `---`; the frontmatter runs to the next line `---` (trailing spaces
// allowed) and is parsed with yaml-cpp; the body is everything after. The original bytes are kept
// (in Document::lines), so rendering never re-emits YAML. Values are converted to a small tree of
// their own, two levels deep at most (keys, and the entries of `metadata` / `allowed-tools`):
// deeper structure, anchors and aliases are never walked, so hostile YAML cannot make us recurse.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "t2s/core/error.hpp"
#include "t2s/skill/markdown.hpp"

namespace t2s::skill {

// A SKILL.md that cannot be read as frontmatter + body, at a 1-based line of the file.
class SkillMdError : public InputError {
 public:
  SkillMdError(std::size_t line, const std::string& reason)
      : InputError("SKILL.md:" + std::to_string(line) + ": " + reason), line_(line), reason_(reason) {}
  std::size_t line() const noexcept { return line_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::size_t line_;
  std::string reason_;
};

struct YamlValue {
  enum class Kind { null, scalar, sequence, mapping };
  Kind kind = Kind::null;
  std::string key;       // its key in the enclosing mapping ("" in a sequence)
  std::string text;      // a scalar's text, as YAML reads it (quotes removed, folded)
  std::size_t line = 0;  // 1-based line in SKILL.md (of its key, for a mapping entry)
  std::vector<YamlValue> items;  // the entries of a mapping or a sequence
};

std::string_view kind_name(YamlValue::Kind kind);

struct Frontmatter {
  std::vector<YamlValue> fields;  // top-level entries in file order
  std::size_t key_line(std::string_view key) const;       // 1-based, 0 when absent
  const YamlValue* find(std::string_view key) const;
};

struct SkillMd {
  Frontmatter frontmatter;
  Document doc;  // the whole file; sections and links only in the body (doc.body_begin on)
  std::size_t body_lines() const { return doc.lines.size() - doc.body_begin; }
};

// The index of the first body line of SKILL.md: the line after the closing `---`, or 0 when the
// file has no (closed) frontmatter.
std::size_t body_begin(const std::vector<std::string>& lines);

// A skill file as Markdown: SKILL.md with its body after the frontmatter, other files whole.
// Never throws (the frontmatter itself is not parsed).
Document parse_skill_file(std::string_view path, std::string_view text);

// Parses SKILL.md. Throws SkillMdError (an InputError) when there is no frontmatter, it is not
// closed, is not valid YAML or not a mapping; never crashes or hangs on any input.
SkillMd parse_skill_md(std::string_view text);

}  // namespace t2s::skill
