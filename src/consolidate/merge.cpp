#include "t2s/consolidate/merge.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "normalize.hpp"
#include "resolve.hpp"

namespace t2s::consolidate {

namespace {

using detail::Candidate;

struct Member {
  const skill::Edit* edit = nullptr;
  const std::string* label = nullptr;
  std::size_t position = 0;  // in input order
  std::string normalized;
  std::vector<std::string> words;
};

struct Group {
  std::vector<std::size_t> members;  // indices into the member list, in input order
  std::size_t kept = 0;              // the member whose text the group keeps
  skill::Support support;
  bool alive = true;

  std::size_t position(const std::vector<Member>& all) const { return all[members.front()].position; }
};

// How alike two members' contents are, or a negative number when they are not one edit.
double likeness(const Member& a, const Member& b, double threshold) {
  if (a.normalized == b.normalized) return 1.0;
  const double similarity = detail::jaccard(a.words, b.words);
  if (similarity < threshold || detail::negation_differs(a.words, b.words)) return -1.0;
  return similarity;
}

// Whether `candidate` should be kept over `current`: larger support, ties to the earlier.
bool better(const Member& candidate, const Member& current) {
  const auto a = candidate.edit->support.size(), b = current.edit->support.size();
  return a > b || (a == b && candidate.position < current.position);
}

void absorb(Group& into, Group& from, const std::vector<Member>& all) {
  into.support |= from.support;
  for (const auto m : from.members) into.members.push_back(m);
  std::sort(into.members.begin(), into.members.end());
  if (better(all[from.kept], all[into.kept])) into.kept = from.kept;
  from.alive = false;
}

std::string joined(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : std::string(separator)) + item;
  return out;
}

// Fields every child with edits agrees on are kept; anything else is left empty.
skill::PatchOrigin merged_origin(std::span<const skill::Patch> children) {
  skill::PatchOrigin origin;
  origin.population = detail::max_population(children);
  bool first = true;
  for (const auto& child : children) {
    if (child.edits.empty()) continue;
    if (first) {
      origin.model = child.origin.model;
      origin.model_hash = child.origin.model_hash;
      origin.prompt_hash = child.origin.prompt_hash;
      first = false;
      continue;
    }
    if (origin.model != child.origin.model) origin.model.clear();
    if (origin.model_hash != child.origin.model_hash) origin.model_hash.clear();
    if (origin.prompt_hash != child.origin.prompt_hash) origin.prompt_hash.clear();
  }
  return origin;
}

}  // namespace

namespace detail {

std::vector<Candidate> group(const std::vector<Candidate>& inputs, double near_equal, MergeReport& report) {
  std::vector<Member> members;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Member m;
    m.edit = &inputs[i].edit;
    m.label = &inputs[i].label;
    m.position = i;
    m.normalized = normalized_content(m.edit->content);
    m.words = words_of(m.normalized);
    members.push_back(std::move(m));
  }

  // Each edit joins the most alike group at its place (ties: the earlier group), else starts one.
  std::vector<Group> groups;
  std::map<std::string, std::vector<std::size_t>> at_place;  // place → its groups, in creation order
  for (std::size_t i = 0; i < members.size(); ++i) {
    auto& candidates = at_place[place_key(*members[i].edit)];
    std::size_t best = groups.size();
    double best_likeness = -1.0;
    for (const auto g : candidates) {
      const double l = likeness(members[i], members[groups[g].kept], near_equal);
      if (l > best_likeness) {
        best = g;
        best_likeness = l;
      }
    }
    if (best == groups.size()) {
      candidates.push_back(groups.size());
      groups.push_back({{i}, i, members[i].edit->support, true});
      continue;
    }
    Group single{{i}, i, members[i].edit->support, true};
    absorb(groups[best], single, members);
  }
  // Groups whose kept texts became alike as they grew are one: join them, pass after pass, until
  // none are, so that a merged patch merged again stays as it is.
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& entry : at_place) {
      const auto& list = entry.second;
      for (std::size_t x = 0; x < list.size(); ++x)
        for (std::size_t y = x + 1; y < list.size() && groups[list[x]].alive; ++y) {
          auto &a = groups[list[x]], &b = groups[list[y]];
          if (!b.alive || likeness(members[a.kept], members[b.kept], near_equal) < 0) continue;
          absorb(a, b, members);
          changed = true;
        }
    }
  }

  std::vector<const Group*> alive;
  for (const auto& g : groups)
    if (g.alive) alive.push_back(&g);
  std::sort(alive.begin(), alive.end(),
            [&](const Group* a, const Group* b) { return a->position(members) < b->position(members); });
  std::vector<Candidate> out;
  for (const auto* g : alive) {
    Candidate c{*members[g->kept].edit, *members[g->members.front()].label};
    c.edit.support = g->support;
    if (g->members.size() > 1) {
      std::vector<std::string> labels;
      for (const auto m : g->members) labels.push_back(*members[m].label);
      report.grouped += g->members.size() - 1;
      report.notes.push_back(joined(labels, " + ") + " are one " + describe_edit(c.edit) + ": kept the text of " +
                             *members[g->kept].label + ", support " + std::to_string(c.edit.support.size()));
      c.label = joined(labels, "+");
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace detail

skill::Patch merge_deterministic(std::span<const skill::Patch> children, const MergeOptions& options,
                                 MergeReport* report_out) {
  MergeReport report;
  std::vector<Candidate> inputs;
  for (std::size_t c = 0; c < children.size(); ++c)
    for (std::size_t e = 0; e < children[c].edits.size(); ++e) inputs.push_back({children[c].edits[e], detail::edit_id(c, e)});
  report.edits_in = inputs.size();
  auto candidates = detail::group(inputs, options.near_equal, report);
  const auto kept = detail::resolve(std::move(candidates), options.skill, report);

  skill::Patch out;
  for (const auto& c : kept) out.edits.push_back(c.edit);
  report.edits_out = out.edits.size();
  // A child alone (the others empty) keeps its reasoning, so merging a merged patch changes nothing.
  std::vector<const skill::Patch*> contributing;
  for (const auto& child : children)
    if (!child.edits.empty()) contributing.push_back(&child);
  if (contributing.size() == 1) {
    out.reasoning = contributing.front()->reasoning;
  } else if (contributing.size() > 1) {
    out.reasoning = "Deterministic merge of " + std::to_string(contributing.size()) + " patches: " +
                    std::to_string(report.edits_in) + " edits in, " + std::to_string(report.edits_out) + " out (" +
                    std::to_string(report.grouped) + " grouped with an equal or near-equal edit, " +
                    std::to_string(report.conflicts) + " lost a conflict, " + std::to_string(report.refused) +
                    " refused by the skill engine).";
  }
  std::set<std::string> seen;
  for (const auto& child : children)
    for (const auto& entry : child.changelog) {
      const auto key = detail::normalized_content(entry);
      if (!key.empty() && seen.insert(key).second) out.changelog.push_back(entry);
    }
  out.origin = merged_origin(children);
  out.sha256 = detail::patch_digest(out);
  if (report_out != nullptr) *report_out = std::move(report);
  return out;
}

}  // namespace t2s::consolidate
