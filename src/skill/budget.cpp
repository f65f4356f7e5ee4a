#include "t2s/skill/budget.hpp"

#include <algorithm>
#include <iterator>
#include <set>

#include "t2s/skill/frontmatter.hpp"
#include "t2s/skill/paths.hpp"
#include "t2s/skill/provenance.hpp"

namespace t2s::skill {

std::size_t approximate_tokens(std::string_view text) { return (text.size() + 3) / 4; }

Usage measure(std::string_view text) {
  return {split_lines(text).size(), text.size(), approximate_tokens(text)};
}

std::vector<std::string> over_budget(std::string_view text, const Limits& limits) {
  const auto usage = measure(text);
  std::vector<std::string> overflows;
  const auto check = [&](std::size_t used, std::size_t limit, const char* unit) {
    if (limit != 0 && used > limit)
      overflows.push_back(std::to_string(used) + " " + unit + ", budget " + std::to_string(limit));
  };
  check(usage.lines, limits.lines, "lines");
  check(usage.bytes, limits.bytes, "bytes");
  check(usage.tokens, limits.tokens, "tokens (approximate)");
  return overflows;
}

bool skill_md_overflows(std::string_view skill_md, const Limits& limits) {
  const auto lines = split_lines(skill_md);
  return !over_budget(skill_md, limits).empty() || lines.size() - body_begin(lines) >= kMaxBodyLines;
}

std::string relinked_for_references(const Document& doc, std::size_t line, const std::vector<Link>& links) {
  std::string text(line_text(doc.lines[line]));
  for (auto link = links.rbegin(); link != links.rend(); ++link) {  // right to left: columns stay valid
    if (link->line != line || resolve_link(kSkillMd, link->target).kind != LinkTarget::Kind::local) continue;
    std::string_view target = link->target;
    while (target.starts_with("./")) target.remove_prefix(2);
    const auto moved = target.starts_with(kReferencesDir) ? std::string(target.substr(kReferencesDir.size()))
                                                          : "../" + std::string(target);
    text.replace(link->column, link->target.size(), moved);
  }
  return text;
}

namespace {

std::string slug(std::string_view title) {
  std::string out;
  for (const char c : title) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (keep || (c >= 'A' && c <= 'Z'))
      out += keep ? c : static_cast<char>(c - 'A' + 'a');
    else if (!out.empty() && out.back() != '-')
      out += '-';
    if (out.size() >= 48) break;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "section" : out;
}

// The references a moved section mentions that the rest of SKILL.md does not: the stub links them,
// so they stay reachable from SKILL.md.
std::vector<std::string> references_only_in(const Document& doc, const Section& section, const SkillDir& skill) {
  std::set<std::string> inside, outside;
  for (const auto& mention : file_mentions(kSkillMd, doc))
    if (is_reference(mention.path) && skill.files.contains(mention.path))
      (mention.line >= section.heading && mention.line < section.end ? inside : outside).insert(mention.path);
  std::vector<std::string> only;
  std::set_difference(inside.begin(), inside.end(), outside.begin(), outside.end(), std::back_inserter(only));
  return only;
}

struct Candidate {
  std::size_t section = npos;
  std::size_t support = 0;
};

// The movable level-2 section with the least support (ties: the later one); section npos if none.
Candidate least_supported(const Document& doc, const Provenance& provenance) {
  Candidate best;
  for (std::size_t s = 0; s < doc.sections.size(); ++s) {
    const auto& section = doc.sections[s];
    if (section.level != 2) continue;
    std::size_t support = 0;
    bool has_blocks = false;
    for (const auto& block : provenance.blocks)
      if (block.file == kSkillMd && block.last_line > section.heading && block.first_line <= section.end) {
        has_blocks = true;
        support = std::max(support, block.prevalence());
      }
    if (has_blocks && (best.section == npos || support <= best.support)) best = {s, support};
  }
  return best;
}

}  // namespace

std::vector<std::string> move_overflow(SkillDir& skill, Provenance& provenance, const Limits& skill_md) {
  std::vector<std::string> notes;
  const std::string skill_path(kSkillMd);
  for (;;) {
    const auto* text = skill.text(skill_path);
    if (text == nullptr || !skill_md_overflows(*text, skill_md)) break;
    const auto doc = parse_skill_file(skill_path, *text);
    const auto [chosen, support] = least_supported(doc, provenance);
    if (chosen == npos) break;
    const auto& section = doc.sections[chosen];
    std::string path = std::string(kReferencesDir) + slug(section.title) + ".md";
    for (int n = 2; skill.files.contains(path); ++n)
      path = std::string(kReferencesDir) + slug(section.title) + "-" + std::to_string(n) + ".md";
    const auto eol = line_ending(doc.lines);

    // The section's body, blank lines at either end trimmed, becomes the reference.
    auto first = section.heading + 1, last = section.end;
    while (first < last && is_blank(doc.lines[first])) ++first;
    while (last > first && is_blank(doc.lines[last - 1])) --last;
    std::vector<std::string> reference{"# " + section.title + eol, eol};
    std::vector<LineOrigin> reference_origins(2);
    const auto links = find_links(doc);
    for (auto i = first; i < last; ++i) {
      reference.push_back(relinked_for_references(doc, i, links) + eol);
      reference_origins.push_back({skill_path, i});
    }
    auto see = "See [" + section.title + "](" + path + ")";
    const auto kept = references_only_in(doc, section, skill);
    for (std::size_t i = 0; i < kept.size(); ++i)
      see.append(i == 0 ? ", which refers to [" : ", [")
          .append(kept[i].substr(kReferencesDir.size()))
          .append("](")
          .append(kept[i])
          .append(")");

    std::vector<std::string> lines;
    std::vector<LineOrigin> origins;
    const auto copy = [&](std::size_t from, std::size_t to) {
      for (auto i = from; i < to; ++i) {
        lines.push_back(doc.lines[i]);
        origins.push_back({skill_path, i});
      }
    };
    // The stub, heading included, is new: no block stays behind, so a section never moves twice.
    copy(0, section.heading);
    std::vector<std::string> stub{std::string(line_text(doc.lines[section.heading])) + eol, eol, see + "." + eol};
    if (section.end < doc.lines.size()) stub.push_back(eol);
    lines.insert(lines.end(), stub.begin(), stub.end());
    origins.resize(lines.size());
    copy(section.end, doc.lines.size());

    skill.files[skill_path].bytes = join_lines(lines);
    skill.files[path] = {join_lines(reference), false};
    provenance = follow_lines(provenance, {{skill_path, origins}, {path, reference_origins}}, skill);
    notes.push_back("moved '" + doc.heading_text(chosen) + "' (support " + std::to_string(support) + ") to " + path);
  }
  return notes;
}

}  // namespace t2s::skill
