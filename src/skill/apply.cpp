#include "t2s/skill/apply.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/skill/frontmatter.hpp"
#include "t2s/skill/paths.hpp"
#include "t2s/skill/provenance.hpp"

namespace t2s::skill {

namespace fs = std::filesystem;

namespace {

// Why one edit cannot be applied; caught per edit.
struct Refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Range {
  std::size_t begin = 0, end = 0;  // line indices, half-open
  bool empty() const { return begin >= end; }
};

bool overlaps(Range a, Range b) { return !a.empty() && !b.empty() && a.begin < b.end && b.begin < a.end; }

std::string describe_lines(Range range) {
  if (range.end <= range.begin + 1) return "line " + std::to_string(range.begin + 1);
  return "lines " + std::to_string(range.begin + 1) + "-" + std::to_string(range.end);
}

std::string quote(std::string_view text) {
  text = text.substr(0, text.find('\n'));
  return "\"" + abbreviate(text, 60) + "\"";
}

// What a line is to the structure of its file: code (a fence, or inside a fenced block), a heading,
// or other text (the frontmatter included). An edit may change what lines say, never what they are.
enum class Role { text, code, heading };

std::string_view role_name(Role role) {
  switch (role) {
    case Role::text: return "text";
    case Role::code: return "code";
    case Role::heading: return "a heading";
  }
  return "?";
}

Role role_of(std::string_view line, bool fenced) {
  return fenced ? Role::code : parse_heading(line) ? Role::heading : Role::text;
}

// The role of every line of a parsed file.
std::vector<Role> roles(const Document& doc) {
  std::vector<Role> out(doc.lines.size(), Role::text);
  for (auto i = doc.body_begin; i < doc.lines.size(); ++i) out[i] = role_of(doc.lines[i], doc.fenced[i]);
  return out;
}

// An edit resolved against the original file: what it needs, what it replaces, what it writes.
struct Change {
  std::size_t edit = 0;
  std::string file;
  bool whole_file = false;    // create or delete_file
  bool deletes_file = false;
  Range anchor;               // original lines it needs unchanged
  Range replaced;             // original lines it replaces or deletes; empty for insertions
  std::size_t at = 0;         // where its lines go
  std::vector<std::string> lines;      // new lines, without terminators
  std::vector<Role> roles;             // what each new line is where it lands (see place)
};

// Patch text with "\r\n" read as "\n" (a lone "\r" never gets here: check_fields refuses it).
std::string lf_only(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) out += text[i];
  return out;
}

// The content of an edit as every op reads it: "\r\n" read as "\n", one trailing newline ignored.
std::string content_text(std::string_view content) {
  auto text = lf_only(content);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// The content as lines ("" gives none, "\n" one empty line).
std::vector<std::string> content_lines(std::string_view content) {
  if (content.empty()) return {};
  const auto text = content_text(content);
  std::vector<std::string> lines;
  for (std::size_t start = 0;;) {
    const auto end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return lines;
    start = end + 1;
  }
}

std::vector<std::string> terminated(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& line : lines) out.push_back(line + "\n");
  return out;
}

std::string heading_text(const Heading& heading) {
  return std::string(static_cast<std::size_t>(heading.level), '#') + " " + heading.title;
}

// The original files the edits of one patch are resolved against.
class Resolver {
 public:
  explicit Resolver(const SkillDir& skill) : skill_(skill) {}

  const Document& doc(const std::string& file) {
    auto found = docs_.find(file);
    if (found == docs_.end()) found = docs_.emplace(file, parse_skill_file(file, *skill_.text(file))).first;
    return found->second;
  }

  Change resolve(const Edit& edit, std::size_t index) {
    check_fields(edit);
    Change change;
    change.edit = index;
    change.file = edit.file;
    if (edit.op == Op::create) {
      if (skill_.exists(edit.file)) throw Refusal("file \"" + edit.file + "\" already exists (create makes a new file)");
      change.whole_file = true;
      return change;
    }
    if (skill_.text(edit.file) == nullptr) throw Refusal("unknown file \"" + edit.file + "\" (not in the skill)");
    if (edit.op == Op::delete_file) {
      if (edit.file == kSkillMd) throw Refusal("SKILL.md cannot be deleted");
      change.whole_file = change.deletes_file = true;
      return change;
    }
    const auto& document = doc(edit.file);
    switch (edit.op) {
      case Op::insert_after:
      case Op::insert_before: insert(document, edit, change); break;
      case Op::append_to_section: append(document, edit, change); break;
      case Op::replace_in_section: replace(document, edit, change); break;
      case Op::add_section: add_section(document, edit, change); break;
      case Op::delete_section: delete_section(document, edit, change); break;
      default: break;
    }
    return change;
  }

 private:
  static void require(bool present, const char* field, Op op) {
    if (!present) throw Refusal(std::string(field) + " is required by " + std::string(op_name(op)));
  }

  static void check_fields(const Edit& edit) {
    if (auto problem = edit_path_problem(edit.file)) throw Refusal("file \"" + edit.file + "\": " + *problem);
    const std::pair<const char*, const std::string*> texts[] = {
        {"content", &edit.content},               {"target_text", &edit.target_text},
        {"old_text", &edit.old_text},             {"target_section", &edit.target_section},
        {"after_section", &edit.after_section}};
    for (const auto& [field, text] : texts) {
      for (const char c : *text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\n' && c != '\r' && c != '\t') || byte == 0x7f)
          throw Refusal(std::string(field) + " contains a control character (byte " + std::to_string(byte) + ")");
      }
      if (find_lone_cr(*text) != std::string::npos)
        throw Refusal(std::string(field) + " contains a carriage return without a line feed (a line break to Markdown renderers)");
    }
    const bool has_content = !edit.content.empty();
    switch (edit.op) {
      case Op::insert_after:
      case Op::insert_before:
        require(!edit.target_text.empty(), "target_text", edit.op);
        require(has_content, "content", edit.op);
        break;
      case Op::append_to_section:
        require(!edit.target_section.empty(), "target_section", edit.op);
        require(has_content, "content", edit.op);
        break;
      case Op::replace_in_section: require(!edit.old_text.empty(), "old_text", edit.op); break;
      case Op::add_section:
        require(!edit.target_section.empty(), "target_section (the new heading)", edit.op);
        require(has_content, "content", edit.op);
        break;
      case Op::delete_section: require(!edit.target_section.empty(), "target_section", edit.op); break;
      case Op::create: require(has_content, "content", edit.op); break;
      case Op::delete_file: break;
    }
    if (edit.op != Op::create && has_content) {
      bool open = false;
      fenced_lines(terminated(content_lines(edit.content)), 0, &open);
      if (open) throw Refusal("content opens a code fence it does not close");
    }
  }

  std::size_t section(const Document& document, const std::string& file, const std::string& spec_text,
                      const char* field) {
    const auto spec = parse_section_spec(spec_text);
    if (spec.title.empty()) throw Refusal(std::string(field) + " " + quote(spec_text) + " names no section");
    const auto found = find_sections(document, spec);
    if (found.size() == 1) return found[0];
    if (found.empty()) {
      std::string reason = std::string(field) + " " + quote(spec_text) + ": no such section in " + file;
      if (spec.level != 0)
        for (const auto other : find_sections(document, {0, spec.title}))
          reason += " (there is " + quote(document.heading_text(other)) + " on line " +
                    std::to_string(document.sections[other].heading + 1) + ")";
      throw Refusal(reason);
    }
    std::string lines;
    for (const auto s : found) lines += (lines.empty() ? "" : ", ") + std::to_string(document.sections[s].heading + 1);
    throw Refusal(std::string(field) + " " + quote(spec_text) + " is ambiguous: " + std::to_string(found.size()) +
                  " headings match in " + file + " (lines " + lines + ")");
  }

  // The scope of a text search: the named section's extent, or the whole file.
  Range scope(const Document& document, const Edit& edit, std::string& where) {
    if (edit.target_section.empty()) {
      where = edit.file;
      return {0, document.lines.size()};
    }
    const auto s = section(document, edit.file, edit.target_section, "target_section");
    where = quote(document.heading_text(s)) + " in " + edit.file;
    return {document.sections[s].heading, document.sections[s].end};
  }

  struct Match {
    Range lines;          // the lines the match touches
    std::string before;   // text of the first line before the match
    std::string after;    // text of the last line after the match, with its "\n" (if the match left it)
  };

  // The one occurrence of `needle` in `range`; line endings compare as "\n".
  static Match find_once(const Document& document, Range range, std::string_view needle_text, const char* field,
                         const std::string& where) {
    const auto needle = lf_only(needle_text);
    std::string text;
    std::vector<std::size_t> starts;
    for (auto i = range.begin; i < range.end; ++i) {
      starts.push_back(text.size());
      text.append(line_text(document.lines[i])).push_back('\n');
    }
    std::vector<std::size_t> found;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) found.push_back(at);
    const auto line_of = [&](std::size_t offset) {
      return static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), offset) - starts.begin()) - 1;
    };
    if (found.empty()) throw Refusal(std::string(field) + " " + quote(needle) + " not found in " + where);
    if (found.size() > 1) {
      std::string lines;
      for (const auto at : found) lines += (lines.empty() ? "" : ", ") + std::to_string(range.begin + line_of(at) + 1);
      throw Refusal(std::string(field) + " " + quote(needle) + " occurs " + std::to_string(found.size()) + " times in " +
                    where + " (lines " + lines + "): an anchor must be unique");
    }
    const auto first = line_of(found[0]), last = line_of(found[0] + needle.size() - 1);
    const auto last_end = last + 1 < starts.size() ? starts[last + 1] : text.size();
    Match match;
    match.lines = {range.begin + first, range.begin + last + 1};
    match.before = text.substr(starts[first], found[0] - starts[first]);
    match.after = text.substr(found[0] + needle.size(), last_end - found[0] - needle.size());
    return match;
  }

  // What the new lines of `change` are where they land: parsed after the original lines before them
  // (frontmatter lines are text). Landing inside a code block, they are code and may hold no fence
  // line: one would end the block early and turn the rest into text (or headings) the patch never
  // declared. Appending and adding a section never land in code (only an unclosed block reaches there).
  static void place(const Document& document, Change& change, bool may_land_in_code) {
    if (change.at < document.body_begin) {
      change.roles.assign(change.lines.size(), Role::text);
      return;
    }
    std::vector<std::string> lines(document.lines.begin(), document.lines.begin() + static_cast<std::ptrdiff_t>(change.at));
    bool in_code = false;
    fenced_lines(lines, document.body_begin, &in_code);
    if (in_code && !may_land_in_code)
      throw Refusal("the content would land inside a code block that is never closed (before line " +
                    std::to_string(change.at + 1) + ")");
    for (const auto& line : change.lines) {
      if (in_code && parse_fence(line))
        throw Refusal("content lands inside a code block (at line " + std::to_string(change.at + 1) +
                      ") and may not hold a code fence line such as " + quote(line));
      lines.push_back(line + "\n");
    }
    const auto fenced = fenced_lines(lines, document.body_begin);
    for (auto i = change.at; i < lines.size(); ++i) change.roles.push_back(role_of(lines[i], fenced[i]));
  }

  // The headings among the new lines of `change`.
  static std::vector<Heading> new_headings(const Change& change) {
    std::vector<Heading> headings;
    for (std::size_t i = 0; i < change.lines.size(); ++i)
      if (change.roles[i] == Role::heading) headings.push_back(*parse_heading(change.lines[i]));
    return headings;
  }

  // New headings must not take over the original lines after them, nor (with `floor` > 0) sit at or
  // above the level of the section the content goes into.
  static void check_headings(const Document& document, const Change& change, int floor, const std::string& section_name) {
    const auto headings = new_headings(change);
    if (headings.empty()) return;
    const auto top = *std::min_element(headings.begin(), headings.end(),
                                       [](const Heading& a, const Heading& b) { return a.level < b.level; });
    if (floor > 0 && top.level <= floor)
      throw Refusal("content has the heading " + quote(heading_text(top)) + ", not below " + section_name +
                    ": use add_section for a new section");
    auto next = change.at;
    while (next < document.lines.size() && is_blank(document.lines[next])) ++next;
    if (next == document.lines.size()) return;
    const auto following = document.fenced[next] ? std::nullopt : parse_heading(document.lines[next]);
    if (!following || following->level > top.level)
      throw Refusal("content's heading " + quote(heading_text(top)) + " would take over the lines that follow it (line " +
                    std::to_string(next + 1) + ": " + quote(line_text(document.lines[next])) + ")");
  }

  void insert(const Document& document, const Edit& edit, Change& change) {
    std::string where;
    const auto range = scope(document, edit, where);
    const auto match = find_once(document, range, edit.target_text, "target_text", where);
    change.anchor = match.lines;
    change.at = edit.op == Op::insert_after ? match.lines.end : match.lines.begin;
    change.lines = content_lines(edit.content);
    place(document, change, true);
    int floor = 0;
    if (!edit.target_section.empty()) floor = document.sections[document.section_at(range.begin)].level;
    check_headings(document, change, floor, where);
  }

  void append(const Document& document, const Edit& edit, Change& change) {
    const auto s = section(document, edit.file, edit.target_section, "target_section");
    const auto& target = document.sections[s];
    auto at = target.end;
    while (at > target.heading + 1 && is_blank(document.lines[at - 1])) --at;
    const auto content = content_lines(edit.content);
    const auto last_kind = line_kind(document.lines[at - 1]);
    const auto first_kind = line_kind(content.front() + "\n");
    const bool joins = last_kind == first_kind && (last_kind == LineKind::list_item || last_kind == LineKind::table_row);
    if (!joins) change.lines.emplace_back();
    change.lines.insert(change.lines.end(), content.begin(), content.end());
    if (at < document.lines.size() && !is_blank(document.lines[at])) change.lines.emplace_back();
    change.anchor = {target.heading, target.heading + 1};
    change.at = at;
    place(document, change, false);
    check_headings(document, change, target.level, quote(document.heading_text(s)));
  }

  void replace(const Document& document, const Edit& edit, Change& change) {
    std::string where;
    const auto range = scope(document, edit, where);
    const auto match = find_once(document, range, edit.old_text, "old_text", where);
    change.replaced = change.anchor = match.lines;
    change.at = match.lines.begin;
    // Removing whole lines leaves no empty line behind; otherwise the replaced lines end where the
    // match's last line ended.
    const auto content = content_text(edit.content);
    if (!(match.before.empty() && content.empty() && (match.after.empty() || match.after == "\n"))) {
      auto text = match.before + content + match.after;
      if (text.empty() || text.back() != '\n') text += '\n';
      change.lines = content_lines(text);
    }
    place(document, change, true);
    std::vector<int> old_levels, new_levels;
    const auto was = roles(document);
    for (auto i = match.lines.begin; i < match.lines.end; ++i)
      if (was[i] == Role::heading) old_levels.push_back(parse_heading(document.lines[i])->level);
    for (const auto& heading : new_headings(change)) new_levels.push_back(heading.level);
    if (old_levels != new_levels)
      throw Refusal("replace_in_section cannot add or remove headings (use add_section or delete_section)");
  }

  void add_section(const Document& document, const Edit& edit, Change& change) {
    const auto spec = parse_section_spec(edit.target_section);
    if (spec.level == 0 || spec.title.empty())
      throw Refusal("target_section " + quote(edit.target_section) +
                    " must be the new heading with its level, e.g. \"## Pitfalls\"");
    std::size_t at = document.lines.size();
    if (!edit.after_section.empty()) {
      const auto s = section(document, edit.file, edit.after_section, "after_section");
      const auto& after = document.sections[s];
      at = after.end;
      while (at > after.heading + 1 && is_blank(document.lines[at - 1])) --at;
      change.anchor = {after.heading, after.heading + 1};
    } else {
      while (at > document.body_begin && is_blank(document.lines[at - 1])) --at;
    }
    if (at > 0 && !is_blank(document.lines[at - 1])) change.lines.emplace_back();
    change.lines.push_back(heading_text(Heading{spec.level, spec.title}));
    change.lines.emplace_back();
    for (auto& line : content_lines(edit.content)) change.lines.push_back(std::move(line));
    if (at < document.lines.size() && !is_blank(document.lines[at])) change.lines.emplace_back();
    change.at = at;
    place(document, change, false);
    check_headings(document, change, 0, {});
  }

  void delete_section(const Document& document, const Edit& edit, Change& change) {
    const auto s = section(document, edit.file, edit.target_section, "target_section");
    auto begin = document.sections[s].heading;
    const auto end = document.sections[s].end;
    if (end == document.lines.size())
      while (begin > document.body_begin && is_blank(document.lines[begin - 1])) --begin;
    change.replaced = change.anchor = {begin, end};
    change.at = begin;
  }

  const SkillDir& skill_;
  std::map<std::string, Document> docs_;
};

std::string conflict_reason(const Change& other) {
  if (other.whole_file)
    return "conflicts with edits[" + std::to_string(other.edit) + "], which " +
           (other.deletes_file ? "deletes " : "creates ") + other.file;
  Range touched = other.anchor;
  if (!other.replaced.empty()) touched = {std::min(touched.begin, other.replaced.begin), std::max(touched.end, other.replaced.end)};
  if (touched.empty()) touched = {other.at, other.at + 1};
  return "conflicts with edits[" + std::to_string(other.edit) + "], which touches " + other.file + " " +
         describe_lines(touched);
}

bool conflict(const Change& a, const Change& b) {
  if (a.file != b.file) return false;
  if (a.whole_file || b.whole_file) return true;
  const auto inserts_inside = [](const Change& insertion, const Change& replacement) {
    return insertion.replaced.empty() && replacement.replaced.begin < insertion.at && insertion.at < replacement.replaced.end;
  };
  return overlaps(a.replaced, b.anchor) || overlaps(a.replaced, b.replaced) || overlaps(b.replaced, a.anchor) ||
         inserts_inside(a, b) || inserts_inside(b, a);
}

// The output skill for a set of changes, and where every line of each rewritten file came from.
struct Build {
  SkillDir skill;
  LineOrigins origins;
};

Build build(const SkillDir& input, const Patch& patch, std::vector<const Change*> changes, Resolver& resolver) {
  Build out{input, {}};
  std::stable_sort(changes.begin(), changes.end(), [](const Change* a, const Change* b) {
    return std::tuple(a->file, a->at, !a->replaced.empty(), a->edit) < std::tuple(b->file, b->at, !b->replaced.empty(), b->edit);
  });
  for (auto first = changes.begin(); first != changes.end();) {
    const auto& file = (*first)->file;
    auto last = first;
    while (last != changes.end() && (*last)->file == file) ++last;
    if ((*first)->whole_file) {
      const auto& change = **first;
      if (change.deletes_file) {
        out.skill.files.erase(file);
      } else {
        const auto& content = patch.edits[change.edit].content;
        out.skill.files[file] = {content, false};
        out.origins[file].assign(split_lines(content).size(), LineOrigin{{}, 0, change.edit});
      }
      first = last;
      continue;
    }
    const auto& doc = resolver.doc(file);
    const auto eol = line_ending(doc.lines);
    std::vector<std::string> lines;
    auto& origins = out.origins[file];
    std::size_t cursor = 0;
    const auto copy_to = [&](std::size_t end) {
      for (; cursor < end; ++cursor) {
        lines.push_back(doc.lines[cursor]);
        origins.push_back({file, cursor});
      }
    };
    for (auto it = first; it != last; ++it) {
      const auto& change = **it;
      copy_to(change.at);
      for (const auto& line : change.lines) {
        lines.push_back(line + eol);
        origins.push_back({{}, 0, change.edit});
      }
      if (!change.replaced.empty()) cursor = std::max(cursor, change.replaced.end);
    }
    copy_to(doc.lines.size());
    // Only the last line may lack a terminator, and it does when the original's last line did: blank
    // lines at the end then have nothing left, and go (with their origins, which stay line for line).
    for (auto& line : lines)
      if (!line.ends_with('\n')) line += eol;
    if (!doc.lines.empty() && !doc.lines.back().ends_with('\n')) {
      while (!lines.empty() && line_text(lines.back()).empty()) {
        lines.pop_back();
        origins.pop_back();
      }
      if (!lines.empty()) lines.back() = std::string(line_text(lines.back()));
    }
    out.skill.files[file].bytes = join_lines(lines);
    first = last;
  }
  return out;
}

// The first line where `doc` (the file `path`) mentions `target`; npos when it does not.
std::size_t mention_line(const std::string& path, const Document& doc, const std::string& target) {
  for (const auto& mention : file_mentions(path, doc))
    if (mention.path == target) return mention.line;
  return npos;
}

// Frontmatter keys a patch may not add, remove or change: the skill's identity and its permissions.
constexpr std::string_view kFixedKeys[] = {"name", "license", "compatibility", "allowed-tools"};

bool same_value(const YamlValue* a, const YamlValue* b) {
  if (a == nullptr || b == nullptr) return a == b;
  if (a->kind != b->kind || a->key != b->key || a->text != b->text || a->items.size() != b->items.size()) return false;
  for (std::size_t i = 0; i < a->items.size(); ++i)
    if (!same_value(&a->items[i], &b->items[i])) return false;
  return true;
}

// The fixed frontmatter keys a patch changed in SKILL.md, blamed on the edits touching the
// frontmatter. A frontmatter that no longer parses is left to the validator.
void check_fixed_keys(const Build& out, const std::vector<const Change*>& changes, Resolver& resolver,
                      const SkillDir& input, const std::function<void(std::size_t, std::string)>& fail) {
  const std::string file(kSkillMd);
  if (!out.origins.contains(file) || input.text(file) == nullptr || out.skill.text(file) == nullptr) return;
  try {
    const auto before = parse_skill_md(*input.text(file)).frontmatter;
    const auto after = parse_skill_md(*out.skill.text(file)).frontmatter;
    const auto body = resolver.doc(file).body_begin;
    for (const auto key : kFixedKeys) {
      if (same_value(before.find(key), after.find(key))) continue;
      for (const auto* change : changes)
        if (change->file == file && (change->at < body || change->replaced.begin < body))
          fail(change->edit, "changes the frontmatter key '" + std::string(key) +
                                 "' (name, license, compatibility and allowed-tools are fixed)");
    }
  } catch (const SkillMdError&) {
  }
}

// The change of `file` nearest above its original line `line` (what changed a copied line's role),
// else the first change of the file.
const Change* nearest_above(const std::vector<const Change*>& changes, const std::string& file, std::size_t line) {
  const Change* found = nullptr;
  for (const auto* change : changes)
    if (change->file == file &&
        (found == nullptr || (change->at <= line && (found->at > line || change->at >= found->at))))
      found = change;
  return found;
}

// Checks that need the output: pairing, links, sections left empty or duplicated, line roles,
// fixed frontmatter keys.
std::map<std::size_t, std::string> check_output(const Build& out, const std::vector<const Change*>& changes,
                                                 Resolver& resolver, const SkillDir& input) {
  std::map<std::size_t, std::string> failures;
  const auto fail = [&](std::size_t edit, std::string reason) { failures.try_emplace(edit, std::move(reason)); };
  check_fixed_keys(out, changes, resolver, input, fail);
  std::map<std::string, Document> docs;
  for (const auto& [path, file] : out.skill.files)
    if (is_markdown_file(path)) docs.emplace(path, parse_skill_file(path, file.bytes));

  for (const auto* change : changes) {
    const auto& file = change->file;
    if (change->whole_file && is_reference(file)) {
      if (change->deletes_file) {
        for (const auto& [path, doc] : docs)
          if (const auto line = mention_line(path, doc, file); line != npos)
            fail(change->edit, path + " line " + std::to_string(line + 1) + " still mentions " + file +
                                   " (remove the mention in the same patch)");
      } else if (!docs.contains(std::string(kSkillMd)) ||
                 mention_line(std::string(kSkillMd), docs.at(std::string(kSkillMd)), file) == npos) {
        fail(change->edit, file + " is not linked from SKILL.md (add the link in the same patch)");
      }
    }
  }

  for (const auto& entry : out.origins) {
    const auto& file = entry.first;  // no structured binding: clang 14 cannot capture one in a lambda
    const auto& origins = entry.second;
    const auto found = docs.find(file);
    if (found == docs.end()) continue;
    const auto& doc = found->second;
    // The links the patch wrote hold in the output (the validator's own rule).
    for (const auto& link : find_links(doc))
      if (const auto edit = origins[link.line].edit; edit != npos)
        if (const auto problem = link_problem(out.skill, file, link.target)) fail(edit, "content " + *problem);
    const Document* original = input.text(file) != nullptr ? &resolver.doc(file) : nullptr;
    const auto edit_of = [&](std::size_t line) { return origins[line].edit; };

    std::map<std::pair<int, std::string>, std::size_t> before, after;
    if (original != nullptr)
      for (const auto& section : original->sections) ++before[{section.level, section.title}];
    for (const auto& section : doc.sections) ++after[{section.level, section.title}];
    for (std::size_t s = 0; s < doc.sections.size(); ++s) {
      const auto& section = doc.sections[s];
      const std::pair key{section.level, section.title};
      if (after[key] > 1 && after[key] > before[key] && edit_of(section.heading) != npos)
        fail(edit_of(section.heading), "leaves a duplicate section " + quote(doc.heading_text(s)) + " in " + file);
      bool empty = true;
      for (auto i = section.heading + 1; i < section.end && empty; ++i) empty = is_blank(doc.lines[i]);
      if (!empty) continue;
      const auto heading_edit = edit_of(section.heading);
      if (heading_edit != npos) {
        fail(heading_edit, "leaves the section " + quote(doc.heading_text(s)) + " in " + file + " empty");
        continue;
      }
      if (original == nullptr) continue;
      const auto source = origins[section.heading].line;
      for (const auto& was : original->sections) {
        if (was.heading != source) continue;
        bool was_empty = true;
        for (auto i = was.heading + 1; i < was.end && was_empty; ++i) was_empty = is_blank(original->lines[i]);
        if (was_empty) break;
        for (const auto* change : changes)
          if (change->file == file && overlaps(change->replaced, {was.heading + 1, was.end}))
            fail(change->edit, "leaves the section " + quote(doc.heading_text(s)) + " in " + file +
                                   " empty (use delete_section to remove a section)");
      }
    }

    if (original == nullptr) continue;  // a created file: every line is its edit's own
    // Every line keeps its role: a copied line the one it had, a new line the one its edit gave it
    // where it landed. So the headings are the original ones, less those removed, plus those the
    // edits wrote, and no text turns into code or back.
    const auto was = roles(*original), now = roles(doc);
    std::map<std::size_t, std::size_t> written;  // edit → its new lines met so far
    for (std::size_t i = 0; i < origins.size(); ++i) {
      const auto& origin = origins[i];
      const Change* culprit = nullptr;
      Role expected = Role::text;
      if (origin.edit != npos) {
        culprit = *std::find_if(changes.begin(), changes.end(), [&](const Change* c) { return c->edit == origin.edit; });
        expected = culprit->roles[written[origin.edit]++];
      } else {
        expected = was[origin.line];
      }
      if (now[i] == expected) continue;
      if (culprit == nullptr) culprit = nearest_above(changes, file, origin.line);
      fail(culprit->edit, "would make " + quote(line_text(doc.lines[i])) + " (" +
                                (origin.edit != npos ? "new" : "line " + std::to_string(origin.line + 1)) + " in " +
                                file + ") " + std::string(role_name(now[i])) + " instead of " +
                                std::string(role_name(expected)));
      break;
    }
  }
  return failures;
}

// The output's problems: the validator's errors and the budget overruns relative to the input (the
// gate); and as warnings, the overruns the input already had that the output keeps within its due.
void check_result(const SkillDir& output, const std::string& name, const Budgets& budgets, const SkillDir& input,
                  ApplyResult& result) {
  auto validation = check_skill(output, name, budgets);
  result.problems = std::move(validation.errors);
  const auto gate = overruns(output, budgets, &input);
  for (const auto& overrun : gate) result.problems.push_back(budget_problem(overrun, Severity::error));
  std::stable_sort(result.problems.begin(), result.problems.end(), [](const Problem& a, const Problem& b) {
    return std::tie(a.file, a.line) < std::tie(b.file, b.line);
  });
  for (const auto& overrun : overruns(output, budgets)) {
    const bool refused = std::any_of(gate.begin(), gate.end(), [&](const Overrun& o) {
      return o.file == overrun.file && o.measure == overrun.measure;
    });
    if (refused) continue;
    auto warning = budget_problem(overrun, Severity::warning);
    warning.message += " (the file was over budget before the patch; what the patch added fits the budget)";
    result.warnings.push_back(std::move(warning));
  }
}

}  // namespace

std::string_view status_name(EditStatus status) {
  switch (status) {
    case EditStatus::applied: return "applied";
    case EditStatus::failed: return "failed";
    case EditStatus::not_applied: return "not applied";
  }
  return "?";
}

std::size_t ApplyResult::applied() const {
  return static_cast<std::size_t>(
      std::count_if(edits.begin(), edits.end(), [](const EditResult& e) { return e.status == EditStatus::applied; }));
}

std::size_t ApplyResult::failed() const {
  return static_cast<std::size_t>(
      std::count_if(edits.begin(), edits.end(), [](const EditResult& e) { return e.status == EditStatus::failed; }));
}

ApplyResult apply_patch(const SkillDir& skill, const std::string& name, const Patch& patch, const ApplyOptions& options) {
  ApplyResult result;
  result.edits.resize(patch.edits.size());
  const auto fail = [&](std::size_t edit, const std::string& reason) {
    result.edits[edit] = {EditStatus::failed, reason};
  };
  Resolver resolver(skill);
  std::vector<std::optional<Change>> changes(patch.edits.size());
  for (std::size_t i = 0; i < patch.edits.size(); ++i) {
    try {
      changes[i] = resolver.resolve(patch.edits[i], i);
    } catch (const Refusal& refusal) {
      fail(i, refusal.what());
    }
  }
  for (std::size_t i = 0; i < changes.size(); ++i)
    for (std::size_t j = i + 1; j < changes.size(); ++j)
      if (changes[i] && changes[j] && conflict(*changes[i], *changes[j])) {
        if (result.edits[i].status != EditStatus::failed) fail(i, conflict_reason(*changes[j]));
        if (result.edits[j].status != EditStatus::failed) fail(j, conflict_reason(*changes[i]));
      }

  // Checks on the output can fail edits that others depend on: repeat until nothing more fails.
  Build out;
  for (;;) {
    std::vector<const Change*> alive;
    for (std::size_t i = 0; i < changes.size(); ++i)
      if (changes[i] && result.edits[i].status != EditStatus::failed) alive.push_back(&*changes[i]);
    out = build(skill, patch, alive, resolver);
    const auto failures = check_output(out, alive, resolver, skill);
    if (failures.empty()) break;
    for (const auto& [edit, reason] : failures) fail(edit, reason);
  }
  if (result.failed() > 0 && !options.partial) return result;
  for (auto& edit : result.edits)
    if (edit.status != EditStatus::failed) edit.status = EditStatus::applied;

  auto provenance = follow_lines(read_provenance(skill), out.origins, out.skill);
  add_edit_blocks(provenance, out.origins, patch);
  if (options.budgets.overflow == OverflowPolicy::move_to_references)
    result.moves = move_overflow(out.skill, provenance, options.budgets, &skill);
  write_provenance(out.skill, std::move(provenance));
  check_result(out.skill, name, options.budgets, skill, result);
  result.ok = result.problems.empty();
  if (!result.ok) {  // nothing is written: no edit is applied
    for (auto& edit : result.edits)
      if (edit.status == EditStatus::applied) edit.status = EditStatus::not_applied;
    return result;
  }
  result.skill = std::move(out.skill);
  return result;
}

namespace {

bool contains(const fs::path& outer, const fs::path& inner) {
  const auto a = outer.string(), b = inner.string();
  return b.size() > a.size() && b.starts_with(a) && b[a.size()] == '/';
}

fs::path normalized(const fs::path& path) { return without_trailing_separators(fs::weakly_canonical(fs::absolute(path))); }

// An existing output directory is replaced only when it is an earlier output of apply that nobody
// changed since (its marker matches every file): re-running a command overwrites its own result, and
// nothing else (a project, a .git, a hand-written skill, an edited output) is ever deleted.
void check_replaceable(const fs::path& output, const fs::path& out) {
  std::error_code ec;
  const auto status = fs::symlink_status(out, ec);
  if (!fs::exists(status)) return;
  const auto refuse = [&](const std::string& why) {
    throw InputError(output.string() + ": " + why + " (refusing to replace it; remove it or choose another directory)");
  };
  if (!fs::is_directory(status)) refuse("exists and is not a directory");
  if (fs::is_empty(out, ec) && !ec) return;
  SkillDir existing;
  try {
    existing = load_skill_dir(out);
  } catch (const InputError& e) {
    refuse(std::string("exists and cannot be checked: ") + e.what());
  }
  if (!is_unchanged_output(existing)) refuse("exists and is not an unchanged output of t2s skill apply");
}

}  // namespace

ApplyResult apply_patch_to_directory(const fs::path& input, const Patch& patch, const fs::path& output,
                                     const ApplyOptions& options) {
  const auto skill = load_skill_dir(input);
  const auto in = normalized(input), out = normalized(output);
  if (in == out) throw InputError(output.string() + ": is the input directory (the input is never modified)");
  if (contains(in, out) || contains(out, in))
    throw InputError(output.string() + ": the output and the input directory must not contain each other");
  check_replaceable(output, out);
  auto result = apply_patch(skill, directory_name(output), patch, options);
  if (result.ok) {
    mark_as_output(result.skill);
    write_skill_dir(result.skill, out);
  }
  return result;
}

std::string format_apply_result(const ApplyResult& result, const Patch& patch) {
  std::string text;
  for (std::size_t i = 0; i < patch.edits.size(); ++i) {
    const auto& edit = patch.edits[i];
    const auto& status = result.edits[i];
    text += "edits[" + std::to_string(i) + "] " + std::string(status_name(status.status)) + ": " +
            std::string(op_name(edit.op)) + " " + edit.file;
    if (!edit.target_section.empty())
      text += " " + quote(edit.target_section);
    else if (!edit.target_text.empty() || !edit.old_text.empty())
      text += " at " + quote(edit.target_text.empty() ? edit.old_text : edit.target_text);
    if (status.status == EditStatus::failed) text += ": " + status.reason;
    text += "\n";
  }
  for (const auto& move : result.moves) text += move + "\n";
  for (const auto& problem : result.problems) text += "problem: " + format_problem(problem) + "\n";
  for (const auto& warning : result.warnings) text += "warning: " + format_problem(warning) + "\n";
  return text;
}

nlohmann::json apply_result_json(const ApplyResult& result, const Patch& patch) {
  auto edits = nlohmann::json::array();
  for (std::size_t i = 0; i < patch.edits.size(); ++i)
    edits.push_back({{"index", i},
                     {"op", op_name(patch.edits[i].op)},
                     {"file", patch.edits[i].file},
                     {"status", status_name(result.edits[i].status)},
                     {"reason", result.edits[i].reason}});
  return {{"ok", result.ok},
          {"applied", result.applied()},
          {"failed", result.failed()},
          {"edits", edits},
          {"moves", result.moves},
          {"problems", problems_json(result.problems)},
          {"warnings", problems_json(result.warnings)}};
}

}  // namespace t2s::skill
