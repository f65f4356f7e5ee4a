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

namespace {

// One measure of a file against its limit (0: none). Body lines are held to "at most limit".
struct Measure {
  const char* name;
  std::size_t used = 0, limit = 0;
};

std::vector<Measure> measures(std::string_view text, const Limits& limits) {
  const auto usage = measure(text);
  return {{"lines", usage.lines, limits.lines},
          {"bytes", usage.bytes, limits.bytes},
          {"tokens (approximate)", usage.tokens, limits.tokens}};
}

// The measures of the file `path`: its budget, and for SKILL.md the specification's body length.
std::vector<Measure> file_measures(std::string_view path, std::string_view text, const Budgets& budgets) {
  const bool skill_md = path == kSkillMd;
  auto out = measures(text, skill_md ? budgets.skill_md : budgets.reference);
  if (skill_md) {
    const auto lines = split_lines(text);
    out.push_back({"body lines", lines.size() - body_begin(lines), kMaxBodyLines - 1});
  }
  return out;
}

}  // namespace

std::vector<std::string> over_budget(std::string_view text, const Limits& limits) {
  std::vector<std::string> overflows;
  for (const auto& m : measures(text, limits))
    if (m.limit != 0 && m.used > m.limit)
      overflows.push_back(std::to_string(m.used) + " " + m.name + ", budget " + std::to_string(m.limit));
  return overflows;
}

std::string Overrun::message() const {
  const auto n = [](std::size_t value) { return std::to_string(value); };
  if (body()) {
    if (!before)
      return "the body has " + n(used) + " lines; the specification recommends fewer than " + n(kMaxBodyLines) +
             " (move material to references/)";
    return "the body grew from " + n(*before) + " to " + n(used) + " lines: a body already over the specification's " +
           n(kMaxBodyLines) + " lines may grow by fewer than " + n(kMaxBodyLines) + " (move material to references/)";
  }
  if (!before) return file + " has " + n(used) + " " + measure + ", budget " + n(limit);
  return file + " grew from " + n(*before) + " to " + n(used) + " " + measure + ", more than its budget of " + n(limit) +
         " (a file over budget at the start may grow by its budget)";
}

std::vector<Overrun> file_overruns(std::string_view path, std::string_view text, const Budgets& budgets,
                                   const std::string* before) {
  const auto now = file_measures(path, text, budgets);
  std::vector<Measure> start;
  bool grows = false;  // over budget at the start: held on what is added
  if (before != nullptr) {
    start = file_measures(path, *before, budgets);
    grows = std::any_of(start.begin(), start.end(), [](const Measure& m) { return m.limit != 0 && m.used > m.limit; });
  }
  std::vector<Overrun> out;
  for (std::size_t i = 0; i < now.size(); ++i) {
    const auto& m = now[i];
    if (m.limit == 0) continue;
    Overrun overrun{std::string(path), m.name, m.used, m.limit, m.limit, std::nullopt, 0};
    if (grows) {
      overrun.allowed = start[i].used + m.limit;
      overrun.before = start[i].used;
    }
    if (m.used <= overrun.allowed) continue;
    if (overrun.body()) overrun.line = body_begin(split_lines(text)) + overrun.allowed + 1;
    out.push_back(std::move(overrun));
  }
  return out;
}

std::vector<Overrun> overruns(const SkillDir& skill, const Budgets& budgets, const SkillDir* baseline) {
  std::vector<Overrun> out;
  for (const auto& [path, file] : skill.files) {
    if (!is_markdown_file(path)) continue;
    const auto found = file_overruns(path, file.bytes, budgets, baseline != nullptr ? baseline->text(path) : nullptr);
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
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

std::vector<std::string> move_overflow(SkillDir& skill, Provenance& provenance, const Budgets& budgets,
                                       const SkillDir* baseline) {
  std::vector<std::string> notes;
  const std::string skill_path(kSkillMd);
  const auto* before = baseline != nullptr ? baseline->text(skill_path) : nullptr;
  for (;;) {
    const auto* text = skill.text(skill_path);
    if (text == nullptr || file_overruns(skill_path, *text, budgets, before).empty()) break;
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
