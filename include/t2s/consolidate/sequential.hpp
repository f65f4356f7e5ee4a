// consolidate/sequential: the baseline the merge tree is compared with, "online skill editing":
// patches folded in one at a time, each step seeing the accumulated patch and the next one.
// The published Trace2Skill found parallel (tree) consolidation 20x faster and better; these make
// that comparison measurable with the same operators.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "t2s/consolidate/merge.hpp"

namespace t2s::consolidate {

// A left fold of merge_deterministic, two at a time: merge(merge(merge(p0, p1), p2), ...).
// One patch gives merge_deterministic({p0}); none gives an empty patch.
skill::Patch merge_sequential(std::span<const skill::Patch> patches, const MergeOptions& options = {},
                              MergeReport* report = nullptr);

struct ChainOutcome {
  skill::Patch patch;
  std::size_t calls = 0;      // merges submitted (n - 1 for n patches)
  std::size_t fallbacks = 0;  // steps that fell back to merge_deterministic
  std::vector<std::string> notes;  // per step: "step 2: fell back: ...", and every step's report notes
  llm::Usage usage;                // summed over the steps
  std::vector<std::string> request_keys;  // one per step, in order
};

// The LLM flavour: merger.submit({accumulated, next}) for each next patch, strictly one after
// another (a step is submitted from the callback of the one before). `on_done` is called once, on
// client.run()'s thread; with fewer than two patches (no call needed) at once, with the patch given
// (or an empty one). A step that falls back continues the chain with its deterministic result.
void merge_sequential_llm(LlmMerger& merger, std::vector<skill::Patch> patches,
                          std::function<void(ChainOutcome&&)> on_done);

}  // namespace t2s::consolidate
