// analyze/stats: the `stats` analyst (no LLM; the embedded default). Deterministic lessons mined
// from counts over the whole corpus:
// - failure modes: symptoms (analyze/features) that occur (almost) only in failed trajectories,
//   grouped when their templates differ in a few words only ("rows with Status <str> remain" and
//   "rows with State <str> remain"), and grouped further when the same failing actions run through
//   them (two symptoms of one cause); the lesson names the symptoms and the actions of the failing
//   runs;
// - habits: actions that occur (almost) only in successful trajectories, well above the base
//   success rate, grouped when they occur together; the lesson names the actions.
// Each lesson becomes one edit (append_to_section of the failure or habit section) whose support
// set is exactly the trajectories that show it: failed ones with one of its symptoms, successful
// ones with most of its actions. The text of a lesson depends only on the corpus-wide counts, so
// it is the same on every rank and the merge tree joins the supports found on each shard.
//
// The corpus may be split into shards (MPI ranks). Three steps, each a pure function of its inputs:
//   1. every shard counts features by outcome (FeatureCounts); the counts of all shards are summed;
//   2. candidates(total) picks the symptom groups and habit actions worth a closer look; every shard
//      adds evidence about them (Evidence: co-occurrence, failing actions per symptom group);
//      the evidence of all shards is summed;
//   3. lessons(total, candidates, evidence) decides the lessons; every shard then matches its
//      trajectories against them (LessonMatcher) to get the supports.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/analyze/features.hpp"
#include "t2s/skill/patch.hpp"

namespace t2s::analyze {

struct StatsOptions {
  std::uint64_t min_support = 3;          // trajectories a lesson needs
  double symptom_precision = 0.9;         // share of failures among trajectories with a symptom
  double habit_precision = 0.95;          // share of successes among trajectories with an action
  double habit_lift = 1.25;               // P(success | action) / P(success)
  double template_similarity = 0.75;      // share of agreeing words for two symptoms to be one
  double cooccurrence = 0.8;              // Jaccard of two actions' trajectories to be one habit
  double failing_action_coverage = 0.8;   // share of a failure group's runs an action must cover
  std::size_t max_lessons = 40;
  std::string failure_section = "## Known failure modes";
  std::string habit_section = "## What successful runs do";

  // Reads [analyze.stats] keys from a job's values (as JSON: the parsed TOML table); unknown keys
  // are an InputError naming them.
  static StatsOptions from_json(const nlohmann::json& table, const std::string& where);
  nlohmann::json to_json() const;
};

// Outcome of a trajectory as the analyst counts it; unlabelled ones count in neither column.
enum class Label { success, failure, unlabelled };
Label label_of(const trace::Trajectory& trajectory);

// Step 1: per-feature counts by outcome. Summing is commutative: any split of the corpus gives
// the same total.
struct FeatureCounts {
  std::uint64_t trajectories = 0, successes = 0, failures = 0;
  // feature → {in successes, in failures}
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>> symptoms, actions;

  void add(const Features& features, Label label);
  void merge(const FeatureCounts& other);
  nlohmann::json to_json() const;
  static FeatureCounts from_json(const nlohmann::json& value);
};

// Step 2: what deserves evidence.
struct Candidates {
  std::vector<std::vector<std::string>> symptom_groups;  // templates, grouped; most failures first
  std::vector<std::string> failing_actions;              // actions (almost) only in failures
  std::vector<std::string> habit_actions;                // actions (almost) only in successes

  nlohmann::json to_json() const;
  static Candidates from_json(const nlohmann::json& value);
};
Candidates candidates(const FeatureCounts& total, const StatsOptions& options);

struct Evidence {
  std::vector<std::uint64_t> group_members;                           // failed runs per symptom group
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> group_actions;  // (group, failing action) → runs
  std::vector<std::uint64_t> habit_members;                           // successful runs per habit action
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> habit_pairs;    // (a, b), a < b → runs with both

  void add(const Features& features, Label label, const Candidates& candidates);
  void merge(const Evidence& other);
  nlohmann::json to_json() const;
  static Evidence from_json(const nlohmann::json& value);
};

// Step 3.
struct Lesson {
  enum class Kind { failure, habit };
  Kind kind = Kind::failure;
  std::vector<std::string> symptoms;  // failure: the templates that show it
  std::vector<std::string> actions;   // failure: the failing runs' actions; habit: the habit's actions
  std::string section;                // where it goes
  std::string text;                   // the edit's content (a Markdown bullet)
  std::uint64_t estimated_support = 0;  // from the counts (the exact support comes from matching)

  std::string id() const;  // short, stable: "failure-1a2b3c4d" (hash of the text)
};
std::vector<Lesson> lessons(const FeatureCounts& total, const Candidates& candidates, const Evidence& evidence,
                            const StatsOptions& options);
nlohmann::json lessons_json(const std::vector<Lesson>& lessons);
std::vector<Lesson> lessons_from_json(const nlohmann::json& value);

// Which lessons a trajectory supports.
class LessonMatcher {
 public:
  explicit LessonMatcher(const std::vector<Lesson>& lessons);
  std::vector<std::uint32_t> match(const Features& features, Label label) const;  // ascending lesson indices

 private:
  struct Habit {
    std::vector<std::string> actions;
    std::size_t needed;
  };
  std::map<std::string, std::vector<std::uint32_t>, std::less<>> symptom_lessons_;
  std::vector<std::optional<Habit>> habits_;
};

// The patch of a set of trajectories: one edit per lesson that at least one of them supports, with
// those trajectories as its support, in lesson order. `supports[i]` is the support of lesson i.
skill::Patch lessons_patch(const std::vector<Lesson>& lessons, const std::vector<skill::Support>& supports,
                           std::uint64_t population);

}  // namespace t2s::analyze
