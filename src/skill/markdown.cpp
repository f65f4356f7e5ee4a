#include "t2s/skill/markdown.hpp"

#include <algorithm>

#include "t2s/skill/paths.hpp"

namespace t2s::skill {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// Strips up to 3 leading spaces; nothing when the line is indented further (an indented code block).
std::optional<std::string_view> strip_indent(std::string_view text) {
  std::size_t spaces = 0;
  while (spaces < text.size() && text[spaces] == ' ') ++spaces;
  if (spaces > 3 || (spaces < text.size() && text[spaces] == '\t')) return std::nullopt;
  return text.substr(spaces);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::size_t find_lone_cr(std::string_view text) {
  for (auto at = text.find('\r'); at != std::string_view::npos; at = text.find('\r', at + 1))
    if (at + 1 == text.size() || text[at + 1] != '\n') return at;
  return std::string_view::npos;
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const auto length = newline == std::string_view::npos ? text.size() : newline + 1;
    lines.emplace_back(text.substr(0, length));
    text.remove_prefix(length);
  }
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::size_t size = 0;
  for (const auto& line : lines) size += line.size();
  std::string text;
  text.reserve(size);
  for (const auto& line : lines) text += line;
  return text;
}

std::string_view line_text(std::string_view line) {
  if (!line.empty() && line.back() == '\n') {
    line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }
  return line;
}

bool is_blank(std::string_view line) { return trim(line_text(line)).empty(); }

std::string line_ending(const std::vector<std::string>& lines) {
  for (const auto& line : lines)
    if (!line.empty() && line.back() == '\n') return line.size() >= 2 && line[line.size() - 2] == '\r' ? "\r\n" : "\n";
  return "\n";
}

std::optional<Heading> parse_heading(std::string_view line) {
  const auto text = strip_indent(line_text(line));
  if (!text) return std::nullopt;
  std::size_t level = 0;
  while (level < text->size() && (*text)[level] == '#') ++level;
  if (level == 0 || level > 6) return std::nullopt;
  if (level < text->size() && !is_space((*text)[level])) return std::nullopt;
  auto title = trim(text->substr(level));
  // A closing run of `#` counts only when a space separates it from the title (or it is all there is).
  std::size_t closing = title.size();
  while (closing > 0 && title[closing - 1] == '#') --closing;
  if (closing == 0)
    title = {};
  else if (closing < title.size() && is_space(title[closing - 1]))
    title = trim(title.substr(0, closing));
  return Heading{static_cast<int>(level), std::string(title)};
}

std::optional<Fence> parse_fence(std::string_view line) {
  const auto text = strip_indent(line_text(line));
  if (!text || text->empty() || ((*text)[0] != '`' && (*text)[0] != '~')) return std::nullopt;
  const char marker = (*text)[0];
  std::size_t length = 0;
  while (length < text->size() && (*text)[length] == marker) ++length;
  if (length < 3) return std::nullopt;
  const auto info = trim(text->substr(length));
  if (marker == '`' && info.find('`') != std::string_view::npos) return std::nullopt;  // an inline code span
  return Fence{marker, length, !info.empty()};
}

std::vector<bool> fenced_lines(const std::vector<std::string>& lines, std::size_t begin, bool* open_at_end) {
  std::vector<bool> fenced(lines.size(), false);
  std::optional<Fence> open;
  for (std::size_t i = begin; i < lines.size(); ++i) {
    const auto fence = parse_fence(lines[i]);
    if (open) {
      fenced[i] = true;
      if (fence && fence->marker == open->marker && fence->length >= open->length && !fence->has_info) open.reset();
    } else if (fence) {
      fenced[i] = true;
      open = fence;
    }
  }
  if (open_at_end != nullptr) *open_at_end = open.has_value();
  return fenced;
}

std::vector<Section> build_sections(const std::vector<std::string>& lines, std::size_t body_begin,
                                    const std::vector<bool>& fenced) {
  std::vector<Section> sections;
  std::vector<std::size_t> open;
  for (std::size_t i = body_begin; i < lines.size(); ++i) {
    if (fenced[i]) continue;
    auto heading = parse_heading(lines[i]);
    if (!heading) continue;
    while (!open.empty() && sections[open.back()].level >= heading->level) {
      sections[open.back()].end = i;
      open.pop_back();
    }
    Section section;
    section.heading = i;
    section.level = heading->level;
    section.title = std::move(heading->title);
    section.parent = open.empty() ? npos : open.back();
    if (!open.empty()) sections[open.back()].children.push_back(sections.size());
    open.push_back(sections.size());
    sections.push_back(std::move(section));
  }
  for (const auto index : open) sections[index].end = lines.size();
  return sections;
}

std::size_t Document::section_at(std::size_t line) const {
  std::size_t found = npos;
  for (std::size_t s = 0; s < sections.size() && sections[s].heading <= line; ++s)
    if (line < sections[s].end) found = s;
  return found;
}

std::string Document::heading_text(std::size_t section) const {
  return std::string(static_cast<std::size_t>(sections[section].level), '#') + " " + sections[section].title;
}

Document parse_markdown(std::string_view text, std::size_t body_begin) {
  Document doc;
  doc.lines = split_lines(text);
  doc.body_begin = std::min(body_begin, doc.lines.size());
  doc.fenced = fenced_lines(doc.lines, doc.body_begin);
  doc.sections = build_sections(doc.lines, doc.body_begin, doc.fenced);
  return doc;
}

namespace {

// The link whose destination starts at `from` in the line `text` (just after "(" or "]:"): the
// destination without `<>` or title, and where it starts. No link when the destination is empty.
void add_link(std::string_view text, std::size_t from, std::size_t line, std::vector<Link>& links) {
  auto at = from;
  while (at < text.size() && is_space(text[at])) ++at;
  auto end = at;
  if (at < text.size() && text[at] == '<') {
    end = text.find('>', ++at);
    if (end == std::string_view::npos) return;
  } else {
    for (int depth = 0; end < text.size() && !is_space(text[end]); ++end) {
      if (text[end] == '(') ++depth;
      if (text[end] == ')' && depth-- == 0) break;
    }
  }
  if (end > at) links.push_back({line, at, std::string(text.substr(at, end - at))});
}

void inline_links(std::string_view text, std::size_t line, std::vector<Link>& links) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '`') {  // skip a code span: a run of backticks up to the next run of the same length
      std::size_t run = 1;
      while (i + run < text.size() && text[i + run] == '`') ++run;
      std::size_t close = i + run;
      for (;;) {
        close = text.find(std::string(run, '`'), close);
        if (close == std::string_view::npos) break;
        std::size_t length = run;
        while (close + length < text.size() && text[close + length] == '`') ++length;
        if (length == run) break;
        close += length;
      }
      i = close == std::string_view::npos ? i + run - 1 : close + run - 1;
      continue;
    }
    if (text[i] == ']' && i + 1 < text.size() && text[i + 1] == '(') add_link(text, i + 2, line, links);
  }
}

}  // namespace

std::vector<Link> find_links(const Document& doc) {
  std::vector<Link> links;
  for (std::size_t i = doc.body_begin; i < doc.lines.size(); ++i) {
    if (doc.fenced[i]) continue;
    const auto text = line_text(doc.lines[i]);
    if (const auto stripped = strip_indent(text); stripped && stripped->starts_with('[') && !stripped->starts_with("[^")) {
      const auto close = stripped->find("]:");
      if (close != std::string_view::npos && stripped->substr(1, close - 1).find(']') == std::string_view::npos) {
        add_link(text, text.size() - stripped->size() + close + 2, i, links);
        continue;
      }
    }
    inline_links(text, i, links);
  }
  return links;
}

std::vector<Mention> file_mentions(std::string_view from_file, const Document& doc) {
  const auto is_name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-' || c == '.';
  };
  std::vector<Mention> mentions;
  auto links = find_links(doc);
  auto link = links.begin();
  for (std::size_t i = doc.body_begin; i < doc.lines.size(); ++i) {
    for (; link != links.end() && link->line == i; ++link)
      if (auto target = resolve_link(from_file, link->target); target.kind == LinkTarget::Kind::local)
        mentions.push_back({std::move(target.path), i});
    const std::string_view text = doc.lines[i];
    for (auto at = text.find(kReferencesDir); at != std::string_view::npos; at = text.find(kReferencesDir, at + 1)) {
      if (at > 0 && is_name_char(text[at - 1]) && text[at - 1] != '.') continue;  // "my-references/"
      std::size_t end = at + kReferencesDir.size();
      while (end < text.size() && is_name_char(text[end])) ++end;
      auto path = text.substr(at, end - at);
      while (path.ends_with('.')) path.remove_suffix(1);  // the end of a sentence
      if (is_reference(path)) mentions.push_back({std::string(path), i});
    }
  }
  return mentions;
}

SectionSpec parse_section_spec(std::string_view spec) {
  spec = trim(spec);
  std::size_t hashes = 0;
  while (hashes < spec.size() && spec[hashes] == '#') ++hashes;
  if (hashes >= 1 && hashes <= 6) {
    // "##Title" is read as "## Title": the level is explicit either way.
    if (auto heading = parse_heading(std::string(hashes, '#') + " " + std::string(spec.substr(hashes))))
      return {heading->level, std::move(heading->title)};
  }
  return {0, std::string(spec)};
}

std::vector<std::size_t> find_sections(const Document& doc, const SectionSpec& spec) {
  std::vector<std::size_t> found;
  for (std::size_t s = 0; s < doc.sections.size(); ++s)
    if (doc.sections[s].title == spec.title && (spec.level == 0 || spec.level == doc.sections[s].level))
      found.push_back(s);
  return found;
}

LineKind line_kind(std::string_view line) {
  if (is_blank(line)) return LineKind::blank;
  if (parse_heading(line)) return LineKind::heading;
  auto text = trim(line_text(line));
  if (text.starts_with('|')) return LineKind::table_row;
  if (text.size() >= 2 && (text[0] == '-' || text[0] == '*' || text[0] == '+') && is_space(text[1]))
    return LineKind::list_item;
  std::size_t digits = 0;
  while (digits < text.size() && digits < 9 && is_digit(text[digits])) ++digits;
  if (digits > 0 && digits + 1 < text.size() && (text[digits] == '.' || text[digits] == ')') && is_space(text[digits + 1]))
    return LineKind::list_item;
  return LineKind::text;
}

}  // namespace t2s::skill
