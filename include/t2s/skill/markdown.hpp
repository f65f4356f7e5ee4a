// skill/markdown: the line-level Markdown model the skill engine reads and edits.
//
// A file is a list of lines, each keeping its own terminator ("\n", "\r\n", or none on an
// unterminated last line; a lone "\r" does not end a line, see find_lone_cr), so joining the lines
// gives back the exact bytes: parse → render is the identity for any input, including CRLF, mixed
// endings and a missing final newline.
//
// Structure, deliberately small and exact:
// - Headings are ATX headings as in CommonMark: up to 3 spaces of indent, 1–6 `#`, then a space, a
//   tab or the end of the line; an optional closing run of `#` (after a space) is not part of the
//   title; the title is trimmed. `#hashtag`, `####### x` and 4-space-indented lines are not headings.
// - Setext headings (a line underlined with `===` / `---`) are NOT recognised: those lines are plain
//   text, so an edit can never be anchored on them by mistake.
// - Fenced code blocks (``` or ~~~, 3 or more, up to 3 spaces of indent) hide everything inside
//   them, headings and links included; a fence closes on a run of the same character at least as
//   long with nothing after it but spaces; an unclosed fence runs to the end of the file.
// - A section is a heading and its extent: the lines up to the next heading of the same or a higher
//   level (fewer `#`), or the end of the file. Sections nest by level into a tree.
// - Links are inline links and images `[text](target "title")`, `<…>` targets, and reference
//   definitions `[id]: target`, outside fenced code and code spans.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace t2s::skill {

inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

// The offset of the first "\r" not followed by "\n", or npos. CommonMark ends a line there, this model
// does not (a line ends at "\n"): the validator flags such a byte and patches may not hold one, so a
// renderer never sees a line break (a heading, say) the engine did not.
std::size_t find_lone_cr(std::string_view text);

// Splits `text` into lines that keep their terminators; "" gives no lines.
std::vector<std::string> split_lines(std::string_view text);
std::string join_lines(const std::vector<std::string>& lines);
// A line without its terminator.
std::string_view line_text(std::string_view line);
bool is_blank(std::string_view line);
// The terminator new lines of this file get: the first one found, else "\n".
std::string line_ending(const std::vector<std::string>& lines);

struct Heading {
  int level = 0;  // 1-6
  std::string title;
};
// An ATX heading, or nothing (the line may still carry its terminator).
std::optional<Heading> parse_heading(std::string_view line);

// The opening or closing marker of a fenced code block.
struct Fence {
  char marker = '`';
  std::size_t length = 0;
  bool has_info = false;  // text after the marker: such a line can open a block, never close one
};
std::optional<Fence> parse_fence(std::string_view line);

// For each line, whether it is a fence line or inside a fenced block (lines before `begin` are not
// looked at). `open_at_end`, when given, is set to whether a block is still open after the last line.
std::vector<bool> fenced_lines(const std::vector<std::string>& lines, std::size_t begin = 0,
                               bool* open_at_end = nullptr);

struct Section {
  std::size_t heading = 0;      // line index of the heading
  int level = 0;
  std::string title;
  std::size_t end = 0;          // one past the last line of the extent (subsections included)
  std::size_t parent = npos;    // index into Document::sections, npos for top-level sections
  std::vector<std::size_t> children;
};

struct Link {
  std::size_t line = 0;    // line index
  std::size_t column = 0;  // byte offset of the target in the line
  std::string target;      // destination as written (without `<>` and title)
};

// A parsed Markdown file. Headings and links are looked for from `body_begin` on (SKILL.md passes
// the line after its frontmatter); the lines themselves are the whole file.
struct Document {
  std::vector<std::string> lines;
  std::size_t body_begin = 0;
  std::vector<bool> fenced;
  std::vector<Section> sections;  // in document order

  std::string render() const { return join_lines(lines); }
  // Index of the innermost section containing `line`, or npos (before the first heading).
  std::size_t section_at(std::size_t line) const;
  // "## Title" of a section.
  std::string heading_text(std::size_t section) const;
};

Document parse_markdown(std::string_view text, std::size_t body_begin = 0);

// Builds the section tree over `lines[body_begin..]` with the given fence flags.
std::vector<Section> build_sections(const std::vector<std::string>& lines, std::size_t body_begin,
                                    const std::vector<bool>& fenced);

std::vector<Link> find_links(const Document& doc);

// A skill file that a file points to, and the line index where it does.
struct Mention {
  std::string path;
  std::size_t line = 0;
};
// Every mention of a skill file in the body of `doc`, the skill file `from_file`, in line order: the
// target of each local link (resolved against `from_file`, percent-escapes decoded: skill/paths),
// and each references/NAME.md written plainly (e.g. in a code span, as the published Trace2Skill
// tooling recognises them). The one definition of "mentioned" for the validator's orphan rule and
// apply's create/delete pairing.
std::vector<Mention> file_mentions(std::string_view from_file, const Document& doc);

// How a patch names a section: "## Formulas" (level 2, title "Formulas") or a bare "Formulas"
// (any level). Titles match exactly (after trimming).
struct SectionSpec {
  int level = 0;  // 0: any level
  std::string title;
};
SectionSpec parse_section_spec(std::string_view spec);
// Indices of the sections that `spec` names.
std::vector<std::size_t> find_sections(const Document& doc, const SectionSpec& spec);

// A list item (`-`, `*`, `+`, `1.`, `1)`) or a table row (`|`): content appended after such a line
// joins it without a blank line when it starts with the same kind of line.
enum class LineKind { text, blank, list_item, table_row, heading };
LineKind line_kind(std::string_view line);

}  // namespace t2s::skill
