// analyze/stats: the `stats` analyst (no LLM; the embedded default). Lessons that hold beyond the
// tasks they were learned from, each an instruction with its evidence and an exact support set.
//
// A feature of a run (analyze/features: an action such as a tool, an argument name, an API call, a
// flag, "A before B", "A after error E"; or a failure symptom) becomes a lesson only when
//   1. it is associated with the outcome WITHIN tasks (analyze/stratified: exact conditional test
//      over the tasks whose runs differ in both the feature and the outcome, each task a stratum), so
//      a feature that only hard or easy tasks show is not mistaken for a cause. When fewer than
//      `min_mixed_tasks` tasks have both outcomes (corpora of one run per task), tasks with a single
//      run are compared with each other within their task family (the task id up to its first digit
//      or separator), and the lesson says its evidence is between tasks;
//   2. the false discovery rate over every feature tested is at most `fdr` (Benjamini–Hochberg);
//   3. the effect (Mantel–Haenszel risk difference) is at least `min_difference`, in the lesson's
//      direction: actions that go with success (habits), symptoms that go with failure;
//   4. its support (successful runs showing a habit, failed runs showing a symptom) has at least
//      `min_support` runs over at least `min_tasks` tasks and `min_task_share` of the corpus's tasks;
//   5. it replicates on held-out tasks: tasks are split into `folds` folds by a hash of their id, and
//      the effect has the same direction within at least `replication` of the folds that hold
//      evidence (and at least two of them).
// Conditional features are scored among the runs their condition applies to. Everything considered
// is reported, with the reason it did or did not become a lesson.
//
// The corpus may be split into shards (MPI ranks), with a task's runs in any shards. Every shard reads
// its trajectories once and keeps their features compactly for matching (analyze/mined_counts); the
// shards' counts are summed, then decide() is a pure function of the total and of recounts.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/analyze/features.hpp"
#include "t2s/analyze/mined_counts.hpp"
#include "t2s/analyze/stratified.hpp"
#include "t2s/skill/patch.hpp"

namespace t2s::analyze {

struct StatsOptions {
  std::uint64_t min_support = 3;        // runs in a lesson's support
  std::uint64_t min_tasks = 3;          // distinct tasks in a lesson's support
  double min_task_share = 0.05;         // ... and this share of the corpus's labelled tasks
  double fdr = 0.1;                     // Benjamini–Hochberg level over all features tested
  double min_difference = 0.1;          // smallest effect (risk difference) worth a lesson
  std::uint32_t folds = 3;              // held-out task folds
  double replication = 1.0;             // share of informative folds the effect must hold in
  SingleRuns single_runs = SingleRuns::automatic;
  std::uint64_t min_mixed_tasks = 10;   // automatic: fewer tasks with both outcomes → pool single runs
  double template_similarity = 0.75;    // share of agreeing words for two symptoms to be one lesson
  double cooccurrence = 0.8;            // Jaccard of two symptoms' failed runs for them to be one lesson
  std::size_t max_lessons = 40;
  std::size_t report_candidates = 15;   // closest rejected candidates listed in the report
  std::string failure_section = "## Known failure modes";
  std::string habit_section = "## What successful runs do";

  // Reads [analyze.stats] keys from a job's values (as JSON: the parsed TOML table); unknown keys
  // are an InputError naming them.
  static StatsOptions from_json(const nlohmann::json& table, const std::string& where);
  nlohmann::json to_json() const;
};

Label label_of(const trace::Trajectory& trajectory);

// A lesson: an instruction with its evidence, keyed on features (any of which a run must show).
struct Lesson {
  enum class Kind { failure, habit };
  Kind kind = Kind::habit;
  std::vector<std::string> features;  // the first is the lesson's key
  std::string section;
  std::string text;                   // the edit's content (a Markdown bullet)
  nlohmann::json evidence;            // the numbers behind the text

  std::string key() const { return features.empty() ? std::string() : features.front(); }
  std::string id() const;  // short and stable: "habit-1a2b3c4d" (hash of the key)
};

struct Decision {
  std::vector<Lesson> lessons;
  nlohmann::json report;  // {"tested", "regime", "candidates": [...], ...}
};
// A subset of the corpus counted again, settled, and summed over every shard (a collective: every
// rank asks the same questions in the same order).
using Recount = std::function<std::vector<MinedCounts>(const std::vector<Subset>& subsets)>;


// With `recount`:
// - habits are kept one at a time, strongest first, each only when it still helps among the runs
//   that show neither a failure symptom found nor a habit already kept;
// - each failure lesson is paired with what tells its runs apart from the passing runs of the same
//   tasks (the strongest action, tested among those runs only), and failure lessons whose failing
//   runs share that action (symptoms of one cause) become one lesson.
Decision decide(const MinedCounts& total, const TaskPlan& plan, const StatsOptions& options, const Recount& recount = {});

// The report as Markdown (for people): what was tested, the lessons and the closest rejected candidates.
std::string report_markdown(const nlohmann::json& report);

nlohmann::json lessons_json(const std::vector<Lesson>& lessons);
std::vector<Lesson> lessons_from_json(const nlohmann::json& value);

// Which lessons a run supports: a habit's successful runs that show one of its features, a failure's
// failed runs that show one of its symptoms.
class LessonMatcher {
 public:
  // Matches the runs `miner` has read, by its feature numbers (no string is compared per run).
  LessonMatcher(const std::vector<Lesson>& lessons, const ShardMiner& miner);
  std::vector<std::uint32_t> match(std::uint64_t row) const;  // lesson indices, ascending

 private:
  const ShardMiner& miner_;
  std::vector<std::vector<std::uint32_t>> by_id_;  // the miner's feature number → lessons resting on it
  std::vector<Lesson::Kind> kinds_;
};

// The patch of a set of trajectories: one edit per lesson that at least one of them supports, with
// those trajectories as its support, in lesson order. `supports[i]` is the support of lesson i.
skill::Patch lessons_patch(const std::vector<Lesson>& lessons, const std::vector<skill::Support>& supports,
                           std::uint64_t population);

}  // namespace t2s::analyze
