#include "t2s/consolidate/sequential.hpp"

#include <memory>

namespace t2s::consolidate {

namespace {

std::string step_prefix(std::size_t step) {
  std::string prefix = "step ";
  prefix.append(std::to_string(step)).append(": ");
  return prefix;
}

}  // namespace

skill::Patch merge_sequential(std::span<const skill::Patch> patches, const MergeOptions& options, MergeReport* report) {
  MergeReport total;
  skill::Patch accumulated;
  if (!patches.empty()) {
    MergeReport step;
    accumulated = merge_deterministic(patches.subspan(0, 1), options, &step);
    total.notes = std::move(step.notes);
    total.edits_in = step.edits_in;
  }
  for (std::size_t i = 1; i < patches.size(); ++i) {
    const skill::Patch pair[] = {accumulated, patches[i]};
    MergeReport step;
    accumulated = merge_deterministic(pair, options, &step);
    for (auto& note : step.notes) total.notes.push_back(step_prefix(i) + note);
    total.edits_in += patches[i].edits.size();
    total.grouped += step.grouped;
    total.conflicts += step.conflicts;
    total.refused += step.refused;
  }
  total.edits_out = accumulated.edits.size();
  if (report != nullptr) *report = std::move(total);
  return accumulated;
}

namespace {

// The state of one chain, shared by the callbacks of its steps.
struct Chain {
  LlmMerger& merger;
  std::vector<skill::Patch> patches;
  std::function<void(ChainOutcome&&)> on_done;
  ChainOutcome outcome;
  std::size_t next = 1;  // the patch the next step merges in
};

void step(const std::shared_ptr<Chain>& chain) {
  if (chain->next >= chain->patches.size()) {
    chain->on_done(std::move(chain->outcome));
    return;
  }
  std::vector<skill::Patch> pair{std::move(chain->outcome.patch), std::move(chain->patches[chain->next])};
  const auto number = chain->next++;
  ++chain->outcome.calls;
  chain->merger.submit(std::move(pair), [chain, number](MergeOutcome&& result) {
    auto& outcome = chain->outcome;
    const auto prefix = step_prefix(number);
    if (result.fallback) {
      ++outcome.fallbacks;
      outcome.notes.push_back(prefix + "fell back: " + result.fallback_reason);
    }
    for (auto& note : result.report.notes) outcome.notes.push_back(prefix + std::move(note));
    outcome.usage.prompt_tokens += result.usage.prompt_tokens;
    outcome.usage.completion_tokens += result.usage.completion_tokens;
    outcome.usage.total_tokens += result.usage.total_tokens;
    outcome.request_keys.push_back(std::move(result.request_key));
    outcome.patch = std::move(result.patch);
    step(chain);
  });
}

}  // namespace

void merge_sequential_llm(LlmMerger& merger, std::vector<skill::Patch> patches,
                          std::function<void(ChainOutcome&&)> on_done) {
  auto chain = std::make_shared<Chain>(Chain{merger, std::move(patches), std::move(on_done), {}, 1});
  if (!chain->patches.empty()) chain->outcome.patch = std::move(chain->patches.front());
  step(chain);
}

}  // namespace t2s::consolidate
