#include <algorithm>
#include <set>

#include "merge_prompt.hpp"
#include "normalize.hpp"
#include "resolve.hpp"
#include "t2s/consolidate/merge.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/text.hpp"
#include "t2s/skill/paths.hpp"

namespace t2s::consolidate {

namespace {

using nlohmann::json;
using detail::Candidate;

std::size_t edit_count(const std::vector<skill::Patch>& children) {
  std::size_t n = 0;
  for (const auto& child : children) n += child.edits.size();
  return n;
}

// "p<i>.e<j>" (1-based) as indices into `children`, or nothing when it names no input edit.
std::optional<std::pair<std::size_t, std::size_t>> parse_source(const std::string& id,
                                                                const std::vector<skill::Patch>& children) {
  const auto number = [&](std::size_t& at, std::size_t& value) {
    const auto start = at;
    value = 0;
    while (at < id.size() && at - start < 9 && id[at] >= '0' && id[at] <= '9')
      value = value * 10 + static_cast<std::size_t>(id[at++] - '0');
    return at > start;
  };
  std::size_t at = 1, patch = 0, edit = 0;
  if (id.empty() || id[0] != 'p' || !number(at, patch)) return std::nullopt;
  if (id.compare(at, 2, ".e") != 0) return std::nullopt;
  at += 2;
  if (!number(at, edit) || at != id.size()) return std::nullopt;
  if (patch == 0 || patch > children.size() || edit == 0 || edit > children[patch - 1].edits.size())
    return std::nullopt;
  return std::pair{patch - 1, edit - 1};
}


std::string shown(const json& value) {
  return value.is_string() ? abbreviate(value.get<std::string>(), 40)
                           : abbreviate(value.dump(-1, ' ', false, json::error_handler_t::replace), 40);
}

std::string listed(const std::vector<std::string>& items, std::size_t max = 20) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < max; ++i) out += (i == 0 ? "" : ", ") + items[i];
  if (items.size() > max) out += " and " + std::to_string(items.size() - max) + " more";
  return out;
}

}  // namespace

struct LlmMerger::Impl {
  llm::Client& client;
  const skill::SkillDir& skill;
  LlmMergeOptions options;
  std::string skill_md;
  std::vector<std::string> references;
  std::string prompt_hash = detail::merge_prompt_hash();

  Impl(llm::Client& c, const skill::SkillDir& s, LlmMergeOptions o) : client(c), skill(s), options(std::move(o)) {
    if (const auto* text = skill.text(skill::kSkillMd)) skill_md = *text;
    for (const auto& entry : skill.files)
      if (skill::is_reference(entry.first)) references.push_back(entry.first);
  }

  std::string model() const { return options.model.empty() ? client.endpoint().model : options.model; }

  json request_body(const std::vector<skill::Patch>& children) const {
    json body = {
        {"messages",
         json::array({{{"role", "system"}, {"content", detail::merge_instructions()}},
                      {{"role", "user"}, {"content", detail::merge_user_message(skill_md, references, children)}}})},
        {"temperature", options.temperature},
        {"max_tokens", options.max_tokens},
        {"response_format",
         {{"type", "json_schema"},
          {"json_schema", {{"name", "merged_patch"}, {"schema", detail::merge_answer_schema(edit_count(children))}}}}}};
    if (!options.model.empty()) body["model"] = options.model;
    return body;
  }

  MergeOutcome fallback(const std::vector<skill::Patch>& children, const std::string& reason,
                        const std::vector<std::string>& notes = {}) const {
    MergeOutcome out;
    out.fallback = true;
    out.fallback_reason = reason;
    MergeOptions merge_options;
    merge_options.near_equal = options.near_equal;
    merge_options.skill = &skill;
    out.patch = merge_deterministic(children, merge_options, &out.report);
    std::vector<std::string> all{"fell back to the deterministic merge: " + reason};
    all.insert(all.end(), notes.begin(), notes.end());
    all.insert(all.end(), out.report.notes.begin(), out.report.notes.end());
    out.report.notes = std::move(all);
    return out;
  }

  MergeOutcome read_answer(const std::vector<skill::Patch>& children, const json& answer) const {
    const auto inputs = edit_count(children);
    if (!answer.is_object()) return fallback(children, "the answer is not a JSON object");
    const auto found = answer.find("edits");
    if (found == answer.end() || !found->is_array()) return fallback(children, "the answer has no \"edits\" list");
    const auto& edits = *found;
    if (edits.size() > std::max<std::size_t>(inputs, 1))
      return fallback(children, "the answer has " + std::to_string(edits.size()) + " edits, more than the " +
                                    std::to_string(inputs) + " input edits");
    MergeReport report;
    report.edits_in = inputs;
    std::vector<Candidate> candidates;
    std::set<std::pair<std::size_t, std::size_t>> used;
    for (std::size_t k = 0; k < edits.size(); ++k) {
      std::string label = "edits[";
      label.append(std::to_string(k)).append("]");
      const auto& item = edits[k];
      if (!item.is_object()) {
        report.notes.push_back(label + " dropped: not an object");
        continue;
      }
      skill::Support support;
      std::vector<std::string> unknown, valid;
      if (const auto sources = item.find("sources"); sources != item.end() && sources->is_array()) {
        for (const auto& source : *sources) {
          const auto at = source.is_string() ? parse_source(source.get<std::string>(), children) : std::nullopt;
          if (!at) {
            unknown.push_back(shown(source));
            continue;
          }
          valid.push_back(detail::edit_id(at->first, at->second));
          used.insert(*at);
          support |= children[at->first].edits[at->second].support;
        }
      }
      if (!unknown.empty()) report.notes.push_back(label + " names unknown sources: " + listed(unknown));
      if (valid.empty()) {
        report.notes.push_back(label + " dropped: it names no input edit as its source");
        continue;
      }
      // The edit is read by the rules of any patch; what the model wrote as support is never read.
      skill::Edit edit;
      try {
        edit = skill::read_model_edit(item, detail::kMaxTextBytes);
      } catch (const InputError& e) {
        report.notes.push_back(label + " dropped: " + e.what());
        continue;
      }
      edit.support = std::move(support);
      candidates.push_back({std::move(edit), label + " (from " + listed(valid) + ")"});
    }
    std::vector<std::string> unused;
    for (std::size_t p = 0; p < children.size(); ++p)
      for (std::size_t e = 0; e < children[p].edits.size(); ++e)
        if (!used.contains({p, e})) unused.push_back(detail::edit_id(p, e));
    if (!unused.empty()) report.notes.push_back("input edits no output edit names: " + listed(unused));
    if (candidates.empty() && inputs > 0) return fallback(children, "the answer has no usable edit", report.notes);
    // The model's own duplicates are one edit, as in any merge.
    auto kept = detail::resolve(detail::group(candidates, options.near_equal, report), &skill, report);
    if (kept.empty() && inputs > 0)
      return fallback(children, "no edit of the answer applies to the frozen skill", report.notes);

    MergeOutcome out;
    for (auto& c : kept) out.patch.edits.push_back(std::move(c.edit));
    report.edits_out = out.patch.edits.size();
    if (const auto r = answer.find("reasoning"); r != answer.end() && r->is_string())
      out.patch.reasoning = abbreviate(repair_utf8(r->get<std::string>()), detail::kMaxReasoningBytes);
    if (const auto c = answer.find("changelog"); c != answer.end() && c->is_array())
      for (const auto& entry : *c)
        if (entry.is_string() && out.patch.changelog.size() < detail::kMaxChangelogEntries)
          out.patch.changelog.push_back(abbreviate(repair_utf8(entry.get<std::string>()), 1024));
    out.patch.origin.population = detail::max_population(children);
    out.patch.origin.model = model();
    out.patch.origin.prompt_hash = prompt_hash;
    out.patch.sha256 = detail::patch_digest(out.patch);
    out.report = std::move(report);
    return out;
  }
};

LlmMerger::LlmMerger(llm::Client& client, const skill::SkillDir& frozen_skill, LlmMergeOptions options)
    : impl_(std::make_shared<Impl>(client, frozen_skill, std::move(options))) {}

LlmMerger::~LlmMerger() = default;

std::string LlmMerger::prompt_hash() const { return impl_->prompt_hash; }

json LlmMerger::request_body(const std::vector<skill::Patch>& children) const { return impl_->request_body(children); }

MergeOutcome LlmMerger::read_answer(const std::vector<skill::Patch>& children, const json& answer) const {
  return impl_->read_answer(children, answer);
}

void LlmMerger::submit(std::vector<skill::Patch> children, std::function<void(MergeOutcome&&)> on_done) {
  if (edit_count(children) == 0) {  // nothing to merge: no call
    MergeOutcome out;
    MergeOptions merge_options;
    merge_options.near_equal = impl_->options.near_equal;
    out.patch = merge_deterministic(children, merge_options, &out.report);
    on_done(std::move(out));
    return;
  }
  llm::ChatRequest request{impl_->request_body(children), impl_->options.stage};
  auto inputs = std::make_shared<const std::vector<skill::Patch>>(std::move(children));
  impl_->client.submit(std::move(request), [impl = impl_, inputs, on_done = std::move(on_done)](llm::ChatResult&& r) {
    MergeOutcome out;
    // A callback must not throw (it would leave client.run()): every failure becomes a reason.
    try {
      out = r.ok ? impl->read_answer(*inputs, r.structured) : impl->fallback(*inputs, "the LLM call failed: " + r.error);
    } catch (const std::exception& e) {
      try {
        out = impl->fallback(*inputs, std::string("reading the answer failed: ") + e.what());
      } catch (const std::exception& again) {
        out = MergeOutcome{};
        out.fallback = true;
        out.fallback_reason = std::string("the merge failed: ") + e.what() + "; the deterministic merge too: " + again.what();
        out.report.notes.push_back(out.fallback_reason);
      }
    }
    out.usage = r.usage;
    out.request_key = r.key;
    on_done(std::move(out));
  });
}

}  // namespace t2s::consolidate
