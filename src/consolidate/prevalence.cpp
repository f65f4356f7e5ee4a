#include "t2s/consolidate/prevalence.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "normalize.hpp"
#include "resolve.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/skill/apply.hpp"
#include "t2s/skill/budget.hpp"
#include "t2s/skill/frontmatter.hpp"
#include "t2s/skill/markdown.hpp"
#include "t2s/skill/paths.hpp"
#include "t2s/skill/validate.hpp"

namespace t2s::consolidate {

namespace {

using skill::Edit;
using skill::Op;
using Action = PrevalenceDecision::Action;

constexpr std::string_view kPointerTitle = "Rarely observed";
constexpr std::string_view kFileHeader =
    "# Observed rarely\n\nLessons that only a few of the analysed trajectories showed (below the prevalence "
    "threshold). They stay out of SKILL.md until more evidence backs them; use them when a task matches.\n";

struct Judgement {
  Action action = Action::kept;
  bool promoted = true;
  std::string reason;
};

bool adds_text(const Edit& edit) {
  if (edit.content.empty()) return false;
  switch (edit.op) {
    case Op::insert_after:
    case Op::insert_before:
    case Op::append_to_section:
    case Op::add_section:
    case Op::replace_in_section: return true;
    default: return false;
  }
}

std::string lf_trimmed(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (!(text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) out += text[i];
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}


std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// A piece of skill text quoted in an entry's bold title: one line, short, no Markdown syntax.
std::string snippet(std::string_view text) {
  text = text.substr(0, text.find('\n'));
  std::string out;
  for (const char c : abbreviate(text, 60))
    if (std::string_view("*_`[]<>\\\"").find(c) == std::string_view::npos) out += c;
  return out;
}

std::string title_of(std::string_view spec) { return snippet(skill::parse_section_spec(spec).title); }

// The references an edit's content mentions, read as SKILL.md text.
std::set<std::string> mentions_in(std::string_view content) {
  std::set<std::string> out;
  for (const auto& m : skill::file_mentions(skill::kSkillMd, skill::parse_markdown(content))) out.insert(m.path);
  return out;
}

// Where the moved edit would have gone, for the entry's title.
std::string where(const Edit& edit) {
  const auto in = edit.target_section.empty() ? std::string() : "In \"" + title_of(edit.target_section) + "\", ";
  switch (edit.op) {
    case Op::append_to_section: return "Under \"" + title_of(edit.target_section) + "\"";
    case Op::add_section: return "Section \"" + title_of(edit.target_section) + "\"";
    case Op::insert_after:
    case Op::insert_before: return in + (in.empty() ? "Next to \"" : "next to \"") + snippet(edit.target_text) + "\"";
    case Op::replace_in_section:
      return in + (in.empty() ? "In place of \"" : "in place of \"") + snippet(edit.old_text) + "\"";
    default: return "Elsewhere";
  }
}

std::string share(std::size_t support, std::uint64_t population) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f%%", 100.0 * static_cast<double>(support) / static_cast<double>(population));
  return "support " + std::to_string(support) + " of " + std::to_string(population) + " (" + buffer + ")";
}

// The moved text of a rare edit as it reads in `file` (a reference): a bold title saying where it
// would have gone and how many trajectories back it, then its content with headings turned into
// bold lines and links re-relativised. Nothing (and `why`) when a link would not resolve there.
std::optional<std::string> entry_text(const Edit& edit, std::uint64_t population, const skill::SkillDir& view,
                                      const std::string& file, std::string& why) {
  const auto terminated = skill::split_lines(lf_trimmed(edit.content) + "\n");
  std::vector<std::string> lines;
  for (const auto& line : terminated) lines.emplace_back(skill::line_text(line));
  const auto fenced = skill::fenced_lines(terminated);
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (!fenced[i])
      if (const auto heading = skill::parse_heading(lines[i])) lines[i] = "**" + heading->title + "**";
  const auto doc = skill::parse_markdown(join(lines));
  const auto links = skill::find_links(doc);
  for (std::size_t i = 0; i < lines.size(); ++i) lines[i] = skill::relinked_for_references(doc, i, links);
  const auto body = join(lines);
  for (const auto& link : skill::find_links(skill::parse_markdown(body)))
    if (const auto problem = skill::link_problem(view, file, link.target)) {
      why = "its link \"" + abbreviate(link.target, 80) + "\" would not hold in " + file + ": " + *problem;
      return std::nullopt;
    }
  return "**" + where(edit) + "** (seen in " + std::to_string(edit.support.size()) + " of " +
         std::to_string(population) + " trajectories)\n\n" + body;
}

// The heading of `text` whose section runs to the end of the file (the last one of the lowest
// level): appending to it adds at the end. "" when the file has no heading.
std::string last_top_heading(const std::string& path, const std::string& text) {
  const auto doc = skill::parse_skill_file(path, text);
  std::size_t best = skill::npos;
  for (std::size_t s = 0; s < doc.sections.size(); ++s)
    if (best == skill::npos || doc.sections[s].level <= doc.sections[best].level) best = s;
  if (best == skill::npos) return {};
  // The heading must name one section only, or append_to_section would refuse it.
  const auto spec = doc.heading_text(best);
  return skill::find_sections(doc, skill::parse_section_spec(spec)).size() == 1 ? spec : std::string();
}

struct Source {
  enum class Kind { root, entry, create, pointer } kind = Kind::root;
  std::size_t edit = 0;  // root index (root, entry)
};

class Splitter {
 public:
  Splitter(const skill::Patch& root, const skill::SkillDir& skill, const PrevalencePolicy& policy, std::uint64_t population)
      : root_(root), skill_(skill), policy_(policy), population_(population), judged_(root.edits.size()) {
    if (const auto* text = skill.text(skill::kSkillMd)) {
      md_ = skill::parse_skill_file(skill::kSkillMd, *text);
      for (std::size_t i = 0; i < md_.body_begin; ++i) frontmatter_.append(skill::line_text(md_.lines[i])).push_back('\n');
      for (const auto& m : skill::file_mentions(skill::kSkillMd, md_)) original_mentions_.insert(m.path);
    }
    for (std::size_t i = 0; i < root.edits.size(); ++i) judge(i);
  }

  skill::Patch run(std::vector<PrevalenceDecision>* decisions) {
    const auto name = detail::skill_name(skill_);
    skill::Patch out;
    // Every round either ends or demotes at least one edit: at most one round per edit, plus one.
    for (std::size_t round = 0; round <= root_.edits.size() + 1; ++round) {
      std::vector<Source> sources;
      out = build(sources);
      const auto result = skill::apply_patch(skill_, name, out);
      bool changed = false;
      for (std::size_t i = 0; i < out.edits.size(); ++i) {
        if (result.edits[i].status != skill::EditStatus::failed) continue;
        const auto& why = result.edits[i].reason;
        switch (sources[i].kind) {
          case Source::Kind::root: changed |= demote(sources[i].edit, "the skill engine refuses it without the rare edits: " + why); break;
          case Source::Kind::entry: changed |= demote(sources[i].edit, "its entry in " + file_ + " is refused: " + why); break;
          case Source::Kind::create:
          case Source::Kind::pointer:
            for (std::size_t e = 0; e < judged_.size(); ++e)
              if (judged_[e].action == Action::moved)
                changed |= demote(e, "the references file " + file_ + " could not be written: " + why);
            break;
        }
      }
      if (!changed) break;
    }
    if (decisions != nullptr) {
      decisions->clear();
      for (std::size_t i = 0; i < judged_.size(); ++i)
        decisions->push_back({i, judged_[i].promoted, judged_[i].reason, judged_[i].action});
    }
    return out;
  }

 private:
  void judge(std::size_t i) {
    const auto& edit = root_.edits[i];
    auto& j = judged_[i];
    if (edit.file != skill::kSkillMd && edit.op != Op::delete_file) {
      j.reason = "edits " + edit.file + ", a reference read on demand: not subject to prevalence";
      return;
    }
    const auto support = edit.support.size();
    const double fraction = static_cast<double>(support) / static_cast<double>(population_);
    char threshold[96];
    std::snprintf(threshold, sizeof threshold, "at least %llu trajectories and %g%%",
                  static_cast<unsigned long long>(policy_.min_support), 100.0 * policy_.min_fraction);
    if (support >= policy_.min_support && fraction >= policy_.min_fraction) {
      j.reason = share(support, population_) + ": promoted (needs " + threshold + ")";
      return;
    }
    j.promoted = false;
    j.reason = share(support, population_) + ": rare (promotion needs " + threshold + ")";
    if (policy_.rare == PrevalencePolicy::Rare::drop) {
      j.action = Action::dropped;
      j.reason += "; dropped";
    } else if (edit.op == Op::delete_file || !adds_text(edit)) {
      j.action = Action::dropped;
      j.reason += "; dropped: it only removes text, so there is nothing to move";
    } else if (!frontmatter_.empty() && !detail::text_anchor(edit).empty() &&
               frontmatter_.find(detail::anchor_key(detail::text_anchor(edit))) != std::string::npos) {
      j.action = Action::dropped;
      j.reason += "; dropped: it changes the frontmatter, which is not a lesson to move";
    } else {
      j.action = Action::moved;
      j.reason += "; moved to " + policy_.references_file;
    }
  }

  bool demote(std::size_t i, const std::string& why) {
    auto& j = judged_[i];
    if (j.action == Action::dropped) return false;
    j.action = Action::dropped;
    j.promoted = false;
    j.reason += "; then dropped: " + why;
    return true;
  }

  // The references file to write: the policy's, unless the skill has it without a heading to
  // append to, or the patch itself creates or deletes it; then the first free "<name>-N.md".
  void choose_file() {
    const auto taken_by_patch = [&](const std::string& path) {
      return std::any_of(root_.edits.begin(), root_.edits.end(), [&](const Edit& e) {
        return e.file == path && (e.op == Op::create || e.op == Op::delete_file);
      });
    };
    const auto usable = [&](const std::string& path) {
      if (taken_by_patch(path)) return false;
      const auto* text = skill_.text(path);
      return text == nullptr || !last_top_heading(path, *text).empty();
    };
    file_ = policy_.references_file;
    const auto stem = file_.substr(0, file_.size() - 3);
    for (int n = 2; !usable(file_); ++n) file_ = stem + "-" + std::to_string(n) + ".md";
  }

  skill::Patch build(std::vector<Source>& sources) {
    choose_file();
    const auto keeps = [&](std::size_t i) { return judged_[i].action == Action::kept; };
    // The files of the output, for link checks (contents do not matter there).
    skill::SkillDir view;
    for (const auto& entry : skill_.files) view.files[entry.first] = {};
    for (std::size_t i = 0; i < root_.edits.size(); ++i) {
      if (!keeps(i)) continue;
      if (root_.edits[i].op == Op::create) view.files[root_.edits[i].file] = {};
      if (root_.edits[i].op == Op::delete_file) view.files.erase(root_.edits[i].file);
    }
    view.files[file_] = {};

    // References the output keeps that SKILL.md no longer mentions once rare edits are out.
    std::set<std::string> mentioned = original_mentions_;
    for (std::size_t i = 0; i < root_.edits.size(); ++i)
      if (keeps(i) && root_.edits[i].file == skill::kSkillMd)
        for (auto& m : mentions_in(root_.edits[i].content)) mentioned.insert(m);
    std::vector<std::size_t> orphans;
    for (std::size_t i = 0; i < root_.edits.size(); ++i) {
      const auto& e = root_.edits[i];
      if (!keeps(i) || e.op != Op::create || !skill::is_reference(e.file) || mentioned.contains(e.file)) continue;
      if (policy_.rare == PrevalencePolicy::Rare::drop)
        demote(i, "only rare edits linked " + e.file);
      else
        orphans.push_back(i);
    }

    std::vector<std::pair<std::size_t, std::string>> entries;
    for (std::size_t i = 0; i < root_.edits.size(); ++i) {
      if (judged_[i].action != Action::moved) continue;
      std::string why;
      if (auto text = entry_text(root_.edits[i], population_, view, file_, why))
        entries.emplace_back(i, std::move(*text));
      else
        demote(i, why);
    }

    fit_budget(entries);

    skill::Patch out;
    out.reasoning = root_.reasoning;
    out.changelog = root_.changelog;
    out.origin = root_.origin;
    for (std::size_t i = 0; i < root_.edits.size(); ++i)
      if (keeps(i)) {
        out.edits.push_back(root_.edits[i]);
        sources.push_back({Source::Kind::root, i});
      }

    skill::Support moved_support;
    for (const auto& [i, text] : entries) moved_support |= root_.edits[i].support;
    const auto* existing = skill_.text(file_);
    if (!entries.empty() && existing != nullptr) {
      const auto heading = last_top_heading(file_, *existing);
      for (const auto& [i, text] : entries) {
        Edit e;
        e.file = file_;
        e.op = Op::append_to_section;
        e.target_section = heading;
        e.content = text;
        e.support = root_.edits[i].support;
        out.edits.push_back(std::move(e));
        sources.push_back({Source::Kind::entry, i});
      }
    } else if (!entries.empty()) {
      Edit e;
      e.file = file_;
      e.op = Op::create;
      e.content = file_text(entries);
      e.support = moved_support;
      out.edits.push_back(std::move(e));
      sources.push_back({Source::Kind::create, 0});
    }

    // SKILL.md links what only rare edits linked: the new references file and orphaned references.
    std::vector<std::string> links;
    skill::Support pointer_support = moved_support;
    if (!entries.empty() && existing == nullptr) links.push_back(file_);
    for (const auto i : orphans) {
      links.push_back(root_.edits[i].file);
      pointer_support |= root_.edits[i].support;
    }
    if (!links.empty()) {
      Edit e = pointer_edit();
      e.content = "Lessons only a few trajectories showed, for tasks that match them:";
      for (std::size_t k = 0; k < links.size(); ++k)
        e.content += (k == 0 ? " [" : ", [") + links[k].substr(skill::kReferencesDir.size()) + "](" + links[k] + ")";
      e.content += ".";
      e.support = std::move(pointer_support);
      out.edits.push_back(std::move(e));
      sources.push_back({Source::Kind::pointer, 0});
    }

    const auto moved = entries.size();
    std::size_t dropped = 0;
    for (const auto& j : judged_) dropped += j.action == Action::dropped;
    if (moved > 0)
      out.changelog.push_back("Moved " + std::to_string(moved) + " rarely observed edit" + (moved == 1 ? "" : "s") +
                              " to " + file_ + ".");
    if (dropped > 0)
      out.changelog.push_back("Left out " + std::to_string(dropped) + " rarely observed edit" + (dropped == 1 ? "" : "s") +
                              ".");
    out.sha256 = detail::patch_digest(out);
    return out;
  }

  // The references file as it will read (an existing one: its text, then each entry after a blank line).
  std::string file_text(const std::vector<std::pair<std::size_t, std::string>>& entries) const {
    const auto* existing = skill_.text(file_);
    std::string text = existing != nullptr ? *existing : std::string(kFileHeader);
    for (const auto& entry : entries) text.append("\n").append(entry.second);
    return text;
  }

  // Drops the least supported entries (ties: the later) until the file fits its budget.
  void fit_budget(std::vector<std::pair<std::size_t, std::string>>& entries) {
    for (auto overflow = skill::over_budget(file_text(entries), policy_.reference_budget);
         !overflow.empty() && !entries.empty(); overflow = skill::over_budget(file_text(entries), policy_.reference_budget)) {
      auto least = entries.begin();
      for (auto it = entries.begin(); it != entries.end(); ++it)
        if (root_.edits[it->first].support.size() <= root_.edits[least->first].support.size()) least = it;
      demote(least->first, file_ + " would exceed its budget (" + overflow.front() + ")");
      entries.erase(least);
    }
  }

  // An append to the skill's own "Rarely observed" section, else a new one at the end of SKILL.md.
  Edit pointer_edit() const {
    Edit e;
    e.file = skill::kSkillMd;
    const auto found = skill::find_sections(md_, {0, std::string(kPointerTitle)});
    if (found.size() == 1) {
      e.op = Op::append_to_section;
      e.target_section = md_.heading_text(found.front());
      return e;
    }
    e.op = Op::add_section;
    e.target_section = "## " + std::string(kPointerTitle);
    for (int n = 2; taken(e.target_section); ++n) e.target_section = "## " + std::string(kPointerTitle) + " (" + std::to_string(n) + ")";
    return e;
  }

  // Whether the skill or a kept edit of the patch has this heading already.
  bool taken(const std::string& heading) const {
    const auto key = detail::section_key(heading, true);
    for (std::size_t s = 0; s < md_.sections.size(); ++s)
      if (detail::section_key(md_.heading_text(s), true) == key) return true;
    for (std::size_t i = 0; i < root_.edits.size(); ++i)
      if (judged_[i].action == Action::kept && root_.edits[i].file == skill::kSkillMd &&
          root_.edits[i].op == Op::add_section && detail::section_key(root_.edits[i].target_section, true) == key)
        return true;
    return false;
  }

  const skill::Patch& root_;
  const skill::SkillDir& skill_;
  const PrevalencePolicy& policy_;
  std::uint64_t population_;
  std::vector<Judgement> judged_;
  skill::Document md_;
  std::string frontmatter_;
  std::set<std::string> original_mentions_;
  std::string file_;
};

}  // namespace

skill::Patch apply_prevalence(const skill::Patch& root, const skill::SkillDir& skill, const PrevalencePolicy& policy,
                              std::vector<PrevalenceDecision>* decisions) {
  const auto population = policy.population != 0 ? policy.population : root.origin.population;
  if (population == 0)
    throw InputError("prevalence: the population is unknown (set it in the policy, or in the root patch's origin)");
  if (!skill::is_reference(policy.references_file) || skill::edit_path_problem(policy.references_file))
    throw InputError("prevalence: references_file \"" + policy.references_file +
                     "\" must be an editable references/NAME.md path");
  if (!(policy.min_fraction >= 0.0 && policy.min_fraction <= 1.0))
    throw InputError("prevalence: min_fraction must be between 0 and 1");
  return Splitter(root, skill, policy, population).run(decisions);
}

}  // namespace t2s::consolidate
