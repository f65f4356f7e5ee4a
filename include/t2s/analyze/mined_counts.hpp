// analyze/mined_counts: what the `stats` analyst counts of a corpus, exactly and in one read.
// - TaskPlan: the tasks (from the store's index columns alone), their held-out folds, and how each
//   enters the tests: a task with both outcomes is a stratum of its own; one-run tasks may be pooled
//   by task family.
// - ShardMiner: reads one shard's runs once, keeps their features compactly, and counts them for
//   any subset of runs (MinedCounts: per feature, the 2×2 tables of its strata, integers only).
// - MinedCounts from every shard sum exactly, in any order; tasks whose runs lie in several shards
//   stay open until settle() sees them whole.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/analyze/features.hpp"
#include "t2s/analyze/stratified.hpp"

namespace t2s::analyze {

// How tasks with one run are used: pooled by task family when too few tasks have both outcomes
// (automatic), always, or never.
enum class SingleRuns { automatic, pooled, ignored };

// Outcome of a trajectory as the analyst counts it; unlabelled ones count in neither column.
enum class Label { success, failure, unlabelled };

// The tasks of a corpus and how each enters the tests, from the store's index columns alone.
class TaskPlan {
 public:
  struct Task {
    std::string id;
    std::uint32_t runs = 0, successes = 0;  // labelled runs
    std::uint64_t first_row = 0, last_row = 0;
    std::uint32_t fold = 0;
    std::int64_t pool = -1;  // single run pooled with its family (index into pools()), or -1
  };
  struct Pool {  // single-run tasks of one family and fold, compared with each other
    std::string family;
    std::uint32_t fold = 0, runs = 0, successes = 0;
  };

  // task_ids[row] and labels[row] (-1 unlabelled, 0 failed, 1 succeeded) of every row of the store;
  // tasks go to `folds` folds by a hash of their id.
  TaskPlan(const std::vector<std::string>& task_ids, const std::vector<std::int8_t>& labels, std::uint32_t folds,
           SingleRuns single_runs, std::uint64_t min_mixed_tasks);

  std::uint32_t task_of(std::uint64_t row) const { return row_task_[row]; }  // kNone: unlabelled
  Label label_of(std::uint64_t row) const;
  const std::vector<Task>& tasks() const { return tasks_; }
  const std::vector<Pool>& pools() const { return pools_; }
  std::uint64_t mixed_tasks() const { return mixed_; }
  std::uint64_t labelled_tasks() const { return tasks_.size(); }
  bool pooled() const { return !pools_.empty(); }
  static constexpr std::uint32_t kNone = 0xffffffffu;

 private:
  std::vector<std::uint32_t> row_task_;
  std::vector<std::int8_t> labels_;
  std::vector<Task> tasks_;
  std::vector<Pool> pools_;
  std::uint64_t mixed_ = 0;
};

// Which runs to count again, and what to tally of them.
struct Subset {
  std::vector<std::string> excluding;    // leave out the runs that show any of these
  std::vector<std::string> failing_with; // non-empty: of the failed runs, keep only those that show one of these
  std::vector<std::string> only;         // tally just these features (and their conditions); empty: all
  std::vector<std::string> stratify_by;  // compare only runs of one task that agree on these (at most 8)
};

// Strata within a task (runs that agree on Subset::stratify_by) are numbered in this many bits.
constexpr unsigned kLayerBits = 8;

// The counts of one feature over a corpus (or a shard of it).
struct FeatureTally {
  std::uint64_t successes = 0, failures = 0;               // runs showing it
  std::uint64_t tasks = 0, success_tasks = 0, failure_tasks = 0;  // tasks where a run (a passing one, a failing one) shows it
  std::map<std::pair<std::uint32_t, Table>, std::uint64_t> tables;  // (fold, table of a task) → tasks
  std::map<std::uint32_t, std::pair<std::uint64_t, std::uint64_t>> pooled;  // pool << kLayerBits | layer → (runs showing it, successes among them)
  bool operator==(const FeatureTally&) const = default;
};

// What every shard contributes; sums exactly. The feature "" counts every run (the baseline). Tasks
// whose runs lie in several shards are kept as per-task counts until settle() sees them whole.
struct MinedCounts {
  std::uint64_t trajectories = 0, successes = 0, failures = 0;
  std::map<std::string, FeatureTally, std::less<>> features;
  std::map<std::uint64_t, std::map<std::string, std::pair<std::uint32_t, std::uint32_t>>> open_tasks;  // task << kLayerBits | layer → feature → (s, f)
  std::map<std::uint32_t, std::uint32_t> open_runs;  // task → its runs seen so far

  void merge(const MinedCounts& other);
  void settle(const TaskPlan& plan);  // folds every task that is now complete into the tallies
  nlohmann::json to_json() const;
  static MinedCounts from_json(const nlohmann::json& value);
};

// Several MinedCounts summed element by element (what a recount sends between ranks).
struct CountsBatch {
  std::vector<MinedCounts> counts;
  void merge(const CountsBatch& other);
  nlohmann::json to_json() const;
  static CountsBatch from_json(const nlohmann::json& value);
};

// Reads one shard's trajectories (rows [first_row, end_row) of the store) once: counts, and keeps each
// run's features compactly for matching.
class ShardMiner {
 public:
  // A task's counts so far: (feature id, (successes, failures)) sorted by id. A sorted vector, merged
  // with each run's sorted ids: far cheaper than a tree node per feature.
  using IdCounts = std::vector<std::pair<std::uint32_t, std::pair<std::uint32_t, std::uint32_t>>>;
  // counts() uses up to `threads` threads (0: one per usable core); its result does not depend on them.
  ShardMiner(const TaskPlan& plan, std::uint64_t first_row, std::uint64_t end_row, unsigned threads = 1);
  void add(std::uint64_t row, const Features& features);  // rows in order, from first_row on
  // Tallies of the tasks complete in this shard and open counts of the rest, over the runs of
  // `subset` (the others still count for telling when a task is complete).
  std::vector<MinedCounts> counts(const std::vector<Subset>& subsets) const;  // one pass for all of them
  MinedCounts counts() const;  // every run
  bool has(std::uint64_t row) const { return row >= first_ && row - first_ + 1 < offsets_.size(); }
  const TaskPlan& plan() const { return plan_; }
  // This shard's number of a feature (kNone: no run of the shard shows it), and the numbers of the
  // features a run shows, ascending (0 first: every run).
  std::uint32_t id_of(const std::string& feature) const;
  void feature_ids(std::uint64_t row, std::vector<std::uint32_t>& ids) const;
  static constexpr std::uint32_t kNone = 0xffffffffu;

 private:
  struct Open {
    std::uint32_t runs = 0;
    std::map<std::uint32_t, IdCounts> layers;  // layer → counts
  };
  std::uint32_t intern(const std::string& feature);
  void ids_of(std::uint64_t index, std::vector<std::uint32_t>& ids) const;
  const TaskPlan& plan_;
  std::uint64_t first_, end_;
  unsigned threads_;
  std::unordered_map<std::string, std::uint32_t> index_;  // id 0 is "": every run (nodes never move: names_ points into them)
  std::vector<const std::string*> names_;   // id → feature
  std::vector<std::uint32_t> condition_;    // id → id of its condition ("" for unconditional ones)
  std::vector<std::uint8_t> packed_;        // per row: varint deltas of its sorted feature ids
  std::vector<std::uint64_t> offsets_;      // row - first → start of its bytes in packed_ (one more: the end)
};

}  // namespace t2s::analyze
