// consolidate/merge: the merge operators one node of the merge tree calls (DESIGN §2, §5): k child
// patches in, one patch out, every edit keeping the support set (trajectory ids) that backs it.
//
// merge_deterministic groups edits that say the same thing and resolves conflicts by support, with
// no model involved. LlmMerger asks a model to merge (dedupe, resolve conflicts, keep what recurs,
// generalise), but the program, not the model, computes every support set (from the input edits
// each output edit names as its `sources`) and holds the answer to the skill engine's rules; when
// the call fails or the answer is unusable it falls back to merge_deterministic and says so.
//
// Normalisation (what "the same" means):
// - Where an edit acts: its file and op, and its anchors: sections ("## Formulas") compared by
//   level and title with whitespace runs collapsed; anchor texts (`target_text`, `old_text`) exactly,
//   after "\r\n" → "\n" and trimming surrounding whitespace (two trimmed-equal anchors that are each
//   unique in the same skill are the same place). An add_section is placed by its new heading alone,
//   compared case-insensitively (after_section is not part of it: one heading is one section).
// - What an edit says: its content lowercased (ASCII), list markers ("-", "*", "+", "1.", "1)") and
//   quote markers at line starts removed, every other ASCII punctuation character (Markdown
//   emphasis, code marks, heading marks, brackets) read as a space, whitespace collapsed. Two edits
//   acting at the same place are equal when these texts are equal, near-equal when the Jaccard
//   similarity of their word sets is at least `near_equal` and the words they do not share hold no
//   negation ("not", "never", "no", "don", "avoid", ...): "always X" and "never X" are never one.
//
// Grouping: edits are taken in input order (children in order, edits in order); each joins the
// existing group at the same place whose kept text it is most similar to (at or above the
// threshold; ties: the earlier group), else starts a group. Groups whose kept texts became
// near-equal as they grew are then joined until none are, so that merging a merged patch again
// changes nothing. A group becomes one edit, at the position of its first member, with the fields
// of its member with the largest support (ties: the first in input order) and the union of all its
// members' supports.
//
// Conflicts (two edits the engine would refuse together, which grouping did not make one): two
// replace_in_section (or a replace and an insert) whose anchors are equal or contain one another
// in a scope that makes them the same text; a delete_section and any edit naming that section; two
// add_section of one heading; two creates of one file; a delete_file and any edit of that file.
// Resolved greedily: edits are considered by support size, largest first (ties: earlier in input
// order), and one conflicting with an edit already kept loses and is reported. When
// MergeOptions::skill is given, the result is then applied to that frozen skill with
// skill::apply_patch, and while the engine refuses edits the refused edit with the smallest support
// (ties: the later) is removed and reported: conflicts only the skill's text reveals (overlapping
// anchors, a delete of a section's parent, links, sections left empty) and what they cause (a
// created reference that lost its link) are resolved the same way.
//
// Origins: `population` is the largest of the children's; model, model_hash and prompt_hash are
// kept when every child that has edits agrees on them (deterministic merges), or are the merging
// model's and prompt's (LLM merges); merge_path is left to the tree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "t2s/llm/client.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/skill_dir.hpp"

namespace t2s::consolidate {

struct MergeOptions {
  double near_equal = 0.9;  // token-Jaccard similarity of normalised content at/above which two edits are one
  // The frozen skill the children were analysed against; when given, the merged patch is checked
  // with skill::apply_patch and edits the engine refuses are removed (see above). Not owned.
  const skill::SkillDir* skill = nullptr;
};

struct MergeReport {
  std::vector<std::string> notes;  // what was grouped, what lost a conflict, what the engine refused
  std::size_t edits_in = 0, edits_out = 0;
  std::size_t grouped = 0;    // input edits that joined another edit's group
  std::size_t conflicts = 0;  // edits that lost a conflict
  std::size_t refused = 0;    // edits removed because the skill engine refused them
};

// Deterministic merge of the children (in order) into one patch. A pure function of its inputs:
// order matters only for positions and ties, as documented above.
skill::Patch merge_deterministic(std::span<const skill::Patch> children, const MergeOptions& options = {},
                                 MergeReport* report = nullptr);

// ------------------------------------------------------------------------------------- LLM merge

struct LlmMergeOptions {
  std::string model;  // "" : the client endpoint's model
  double temperature = 0.0;
  int max_tokens = 8192;
  std::string stage = "merge";  // the client's accounting bucket
  double near_equal = 0.9;      // for the deterministic fallback
};

struct MergeOutcome {
  skill::Patch patch;
  bool fallback = false;        // the patch is merge_deterministic's
  std::string fallback_reason;  // why ("the LLM call failed: ...", "the answer kept no usable edit", ...)
  MergeReport report;           // dropped edits, unknown sources, unused inputs, engine refusals
  llm::Usage usage;
  std::string request_key;      // the client's key of the request ("" when no call was made)
};

// Merges on a shared llm::Client. The prompt holds the frozen skill (SKILL.md and the names of its
// references) and every child edit labelled with an id "p<i>.e<j>" (1-based: patch i, edit j) and
// its support count; the model answers one patch (JSON schema in response_format, validated by the
// client with one repair round) in which every edit lists `sources`, the ids it comes from. The
// program then:
// - reads every edit by skill::read_patch's rules, refuses paths a patch may not touch, and ignores
//   any `support` the model wrote;
// - gives each edit the union of its sources' supports; unknown ids are reported, edits with no
//   valid source are dropped and reported; input edits no output edit names are reported (the
//   model may drop duplicates and specifics on purpose);
// - groups its equal and near-equal edits, resolves conflicts and checks the result against the
//   frozen skill, as merge_deterministic does.
// It falls back to merge_deterministic (with the reason) when the call fails after the client's
// retries and repair round, when the answer cannot be read, when it has more edits or bigger texts
// than the limits, or when no usable edit is left although the children had edits. Children
// without any edit need no call: the outcome is given at once.
class LlmMerger {
 public:
  // `client` and `frozen_skill` must outlive the merger and every merge it submits.
  LlmMerger(llm::Client& client, const skill::SkillDir& frozen_skill, LlmMergeOptions options);
  ~LlmMerger();
  LlmMerger(const LlmMerger&) = delete;
  LlmMerger& operator=(const LlmMerger&) = delete;

  // Submits one merge; `on_done` is called once, on client.run()'s thread (or at once, before
  // submit returns, when no call is needed).
  void submit(std::vector<skill::Patch> children, std::function<void(MergeOutcome&&)> on_done);

  // SHA-256 (hex) of the prompt template (instructions, input layout and answer schema), for provenance.
  std::string prompt_hash() const;

  // The request body for `children`, as submit sends it (for tests and for recording tools).
  nlohmann::json request_body(const std::vector<skill::Patch>& children) const;

  // Reads the model's structured answer for `children` into an outcome (the part of submit that
  // does not need the network; `answer` is the schema-valid JSON). Never throws for any answer.
  MergeOutcome read_answer(const std::vector<skill::Patch>& children, const nlohmann::json& answer) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace t2s::consolidate
