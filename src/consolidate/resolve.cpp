#include "resolve.hpp"

#include <algorithm>
#include <numeric>

#include "normalize.hpp"
#include "t2s/core/canonical_json.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/skill/apply.hpp"
#include "t2s/skill/frontmatter.hpp"
#include "t2s/skill/paths.hpp"

namespace t2s::consolidate::detail {

namespace {

using skill::Op;

// The section an edit needs to exist (not the one an add_section creates).
const std::string& named_section(const skill::Edit& edit) {
  return edit.op == Op::add_section ? edit.after_section : edit.target_section;
}

bool is_insert(Op op) { return op == Op::insert_after || op == Op::insert_before; }

// Whether the anchor `outer` (searched in `outer_scope`) necessarily covers the unique occurrence
// of `inner` (searched in `inner_scope`): it contains it, and `inner` is searched at least as widely.
bool covers(const std::string& outer, const std::string& outer_scope, const std::string& inner,
            const std::string& inner_scope) {
  if (outer.empty() || inner.empty() || outer.find(inner) == std::string::npos) return false;
  return inner_scope.empty() || same_section(outer_scope, inner_scope);
}

std::string count(std::size_t n) { return std::to_string(n); }

// The engine's reason with its "edits[N]" (indices into the patch checked) named by their labels.
std::string relabel(const std::string& reason, const std::vector<Candidate>& edits) {
  std::string out;
  std::size_t at = 0;
  for (auto found = reason.find("edits["); found != std::string::npos; found = reason.find("edits[", at)) {
    auto end = found + 6;
    std::size_t index = 0;
    bool digits = false;
    while (end < reason.size() && reason[end] >= '0' && reason[end] <= '9' && index < edits.size()) {
      index = index * 10 + static_cast<std::size_t>(reason[end] - '0');
      digits = true;
      ++end;
    }
    out += reason.substr(at, found - at);
    if (digits && end < reason.size() && reason[end] == ']' && index < edits.size()) {
      out += edits[index].label;
      at = end + 1;
    } else {
      out += "edits[";
      at = found + 6;
    }
  }
  return out + reason.substr(at);
}

}  // namespace

std::optional<std::string> conflict_between(const skill::Edit& a, const skill::Edit& b) {
  if (a.file != b.file) return std::nullopt;
  if (a.op == Op::create && b.op == Op::create) return "both create " + a.file;
  if (a.op == Op::delete_file || b.op == Op::delete_file) return "one deletes " + a.file + ", which the other edits";
  if (a.op == Op::add_section && b.op == Op::add_section &&
      section_key(a.target_section, true) == section_key(b.target_section, true))
    return "both add the section \"" + a.target_section + "\"";
  for (const auto& [deleting, other] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    if (deleting->op == Op::delete_section && !named_section(*other).empty() &&
        same_section(deleting->target_section, named_section(*other)))
      return "one deletes the section \"" + deleting->target_section + "\", which the other needs";
  }
  const bool a_text = is_insert(a.op) || a.op == Op::replace_in_section;
  const bool b_text = is_insert(b.op) || b.op == Op::replace_in_section;
  if (a_text && b_text && (a.op == Op::replace_in_section || b.op == Op::replace_in_section)) {
    const auto x = anchor_key(text_anchor(a)), y = anchor_key(text_anchor(b));
    if (covers(x, a.target_section, y, b.target_section) || covers(y, b.target_section, x, a.target_section))
      return "they change or anchor on the same text";
  }
  return std::nullopt;
}

std::string skill_name(const skill::SkillDir& skill) {
  const auto* text = skill.text(skill::kSkillMd);
  if (text == nullptr) return "skill";
  try {
    const auto md = skill::parse_skill_md(*text);
    if (const auto* name = md.frontmatter.find("name"); name != nullptr && !name->text.empty()) return name->text;
  } catch (const skill::SkillMdError&) {
  }
  return "skill";
}

std::string patch_digest(const skill::Patch& patch) { return to_hex(sha256(canonical_json(skill::patch_json(patch)))); }

std::uint64_t max_population(std::span<const skill::Patch> children) {
  std::uint64_t population = 0;
  for (const auto& child : children) population = std::max(population, child.origin.population);
  return population;
}

std::vector<Candidate> resolve(std::vector<Candidate> candidates, const skill::SkillDir* skill, MergeReport& report) {
  const auto n = candidates.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    return candidates[x].edit.support.size() > candidates[y].edit.support.size();
  });
  std::vector<bool> kept(n, false);
  std::vector<std::size_t> kept_order;
  for (const auto i : order) {
    std::optional<std::string> why;
    std::size_t winner = 0;
    for (const auto k : kept_order)
      if ((why = conflict_between(candidates[k].edit, candidates[i].edit))) {
        winner = k;
        break;
      }
    if (!why) {
      kept[i] = true;
      kept_order.push_back(i);
      continue;
    }
    ++report.conflicts;
    report.notes.push_back(candidates[i].label + " (" + describe_edit(candidates[i].edit) + ", support " +
                           count(candidates[i].edit.support.size()) + ") lost a conflict to " + candidates[winner].label +
                           " (support " + count(candidates[winner].edit.support.size()) + "): " + *why);
  }
  std::vector<Candidate> out;
  for (std::size_t i = 0; i < n; ++i)
    if (kept[i]) out.push_back(std::move(candidates[i]));
  if (skill == nullptr || out.empty()) return out;

  const auto name = skill_name(*skill);
  for (;;) {
    skill::Patch patch;
    for (const auto& c : out) patch.edits.push_back(c.edit);
    const auto result = skill::apply_patch(*skill, name, patch);
    std::size_t worst = out.size();
    for (std::size_t i = 0; i < out.size(); ++i)
      if (result.edits[i].status == skill::EditStatus::failed &&
          (worst == out.size() || out[i].edit.support.size() <= out[worst].edit.support.size()))
        worst = i;
    if (worst == out.size()) {
      for (const auto& problem : result.problems)
        report.notes.push_back("the merged patch applies, but the skill it makes has a problem: " +
                               skill::format_problem(problem));
      return out;
    }
    ++report.refused;
    report.notes.push_back(out[worst].label + " (" + describe_edit(out[worst].edit) + ", support " +
                           count(out[worst].edit.support.size()) +
                           ") removed: the skill engine refuses it: " + relabel(result.edits[worst].reason, out));
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(worst));
    if (out.empty()) return out;
  }
}

}  // namespace t2s::consolidate::detail
