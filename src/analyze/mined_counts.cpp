// analyze/mined_counts: the plan of a corpus's tasks and the exact counts of its features (see the header).
#include "t2s/analyze/mined_counts.hpp"

#include <algorithm>
#include <future>

#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/core/thread_pool.hpp"

namespace t2s::analyze {
namespace {

using nlohmann::json;

// The task family of a task id: what precedes its first digit or separator ("HumanEval_95_x" →
// "HumanEval", "pick_and_place_simple-Mug-…" → "pick_and_place_simple", "17" → "").
std::string family_of(std::string_view task_id) {
  std::size_t end = 0;
  while (end < task_id.size() && !std::isdigit(static_cast<unsigned char>(task_id[end])) &&
         std::string_view("-/:.# ").find(task_id[end]) == std::string_view::npos)
    ++end;
  std::string_view family = task_id.substr(0, end);
  while (!family.empty() && family.back() == '_') family.remove_suffix(1);
  return std::string(family);
}

std::uint32_t fold_of(std::string_view task_id, std::uint32_t folds) {
  const auto digest = sha256(task_id);
  const std::uint32_t word = (static_cast<std::uint32_t>(digest[0]) << 24) | (static_cast<std::uint32_t>(digest[1]) << 16) |
                             (static_cast<std::uint32_t>(digest[2]) << 8) | static_cast<std::uint32_t>(digest[3]);
  return folds <= 1 ? 0 : word % folds;
}

// Adds a complete task's counts (feature → runs showing it that succeeded / failed; the key "" counts
// every run that is counted at all) to the tallies. A feature is compared among the runs its
// condition applies to: all runs, or the runs showing the condition.
template <typename Counts, typename TallyOf, typename ConditionOf>
void contribute(const TaskPlan& plan, std::uint32_t task_index, std::uint32_t layer, const Counts& counts, TallyOf&& tally_of,
                ConditionOf&& condition_of_key) {
  const auto& task = plan.tasks()[task_index];
  for (const auto& [key, sf] : counts) {
    const auto [s, f] = sf;
    FeatureTally& t = tally_of(key);
    t.successes += s;
    t.failures += f;
    ++t.tasks;
    if (s > 0) ++t.success_tasks;
    if (f > 0) ++t.failure_tasks;
    if (task.pool >= 0) {
      auto& p = t.pooled[(static_cast<std::uint32_t>(task.pool) << kLayerBits) | layer];
      p.first += s + f;
      p.second += s;
      continue;
    }
    const auto condition = counts.find(condition_of_key(key));
    if (condition == counts.end()) continue;
    const Table table{condition->second.first + condition->second.second, condition->second.first, s + f, s};
    if (table.informative() && table.valid()) ++t.tables[{task.fold, table}];
  }
}

void merge_tally(FeatureTally& into, const FeatureTally& from) {
  into.successes += from.successes;
  into.failures += from.failures;
  into.tasks += from.tasks;
  into.success_tasks += from.success_tasks;
  into.failure_tasks += from.failure_tasks;
  for (const auto& [key, count] : from.tables) into.tables[key] += count;
  for (const auto& [pool, counts] : from.pooled) {
    auto& p = into.pooled[pool];
    p.first += counts.first;
    p.second += counts.second;
  }
}

json tally_json(const FeatureTally& t) {
  json tables = json::array(), pooled = json::array();
  for (const auto& [key, count] : t.tables) tables.push_back({key.first, key.second.n, key.second.m, key.second.k, key.second.a, count});
  for (const auto& [pool, counts] : t.pooled) pooled.push_back({pool, counts.first, counts.second});
  return {t.successes, t.failures, t.tasks, t.success_tasks, t.failure_tasks, tables, pooled};
}

FeatureTally tally_from_json(const json& v) {
  FeatureTally t;
  t.successes = v.at(0).get<std::uint64_t>();
  t.failures = v.at(1).get<std::uint64_t>();
  t.tasks = v.at(2).get<std::uint64_t>();
  t.success_tasks = v.at(3).get<std::uint64_t>();
  t.failure_tasks = v.at(4).get<std::uint64_t>();
  for (const auto& r : v.at(5))
    t.tables[{r.at(0).get<std::uint32_t>(), Table{r.at(1).get<std::uint32_t>(), r.at(2).get<std::uint32_t>(),
                                                   r.at(3).get<std::uint32_t>(), r.at(4).get<std::uint32_t>()}}] = r.at(5).get<std::uint64_t>();
  for (const auto& r : v.at(6)) t.pooled[r.at(0).get<std::uint32_t>()] = {r.at(1).get<std::uint64_t>(), r.at(2).get<std::uint64_t>()};
  return t;
}

void put_varint(std::vector<std::uint8_t>& out, std::uint32_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

// A task's counts kept as a vector sorted by feature id, read by contribute() like a map.
struct SortedCounts {
  const ShardMiner::IdCounts& counts;
  auto begin() const { return counts.begin(); }
  auto end() const { return counts.end(); }
  auto find(std::uint32_t id) const {
    const auto it = std::lower_bound(counts.begin(), counts.end(), id, [](const auto& entry, std::uint32_t x) { return entry.first < x; });
    return it != counts.end() && it->first == id ? it : counts.end();
  }
};

// Counts one run into its task's counts: `ids` (ascending) are the run's features, of which the
// `wanted` ones are tallied. A merge of two sorted lists, through `scratch`.
void add_run(ShardMiner::IdCounts& counts, const std::vector<std::uint32_t>& ids, const std::vector<bool>& wanted, bool success,
             ShardMiner::IdCounts& scratch) {
  scratch.clear();
  auto have = counts.begin();
  for (const auto id : ids) {
    if (!wanted[id]) continue;
    while (have != counts.end() && have->first < id) scratch.push_back(*have++);
    auto entry = have != counts.end() && have->first == id ? *have++ : ShardMiner::IdCounts::value_type{id, {0, 0}};
    ++(success ? entry.second.first : entry.second.second);
    scratch.push_back(entry);
  }
  scratch.insert(scratch.end(), have, counts.end());
  counts.swap(scratch);
}

// Adds one task's counts from another part of the rows into `into` (both sorted by id).
void add_counts(ShardMiner::IdCounts& into, const ShardMiner::IdCounts& from) {
  ShardMiner::IdCounts sum;
  sum.reserve(into.size() + from.size());
  auto a = into.cbegin();
  auto b = from.cbegin();
  while (a != into.cend() || b != from.cend()) {
    if (b == from.cend() || (a != into.cend() && a->first < b->first)) {
      sum.push_back(*a++);
    } else if (a == into.cend() || b->first < a->first) {
      sum.push_back(*b++);
    } else {
      sum.push_back({a->first, {a->second.first + b->second.first, a->second.second + b->second.second}});
      ++a, ++b;
    }
  }
  into.swap(sum);
}

}  // namespace

// ------------------------------------------------------------------------------------ the plan

TaskPlan::TaskPlan(const std::vector<std::string>& task_ids, const std::vector<std::int8_t>& labels, std::uint32_t folds,
                   SingleRuns single_runs, std::uint64_t min_mixed_tasks)
    : row_task_(task_ids.size(), kNone), labels_(labels) {
  std::map<std::string_view, std::uint32_t> index;
  for (std::uint64_t row = 0; row < task_ids.size(); ++row) {
    if (labels[row] < 0) continue;
    const auto [it, inserted] = index.emplace(task_ids[row], static_cast<std::uint32_t>(tasks_.size()));
    if (inserted) tasks_.push_back({task_ids[row], 0, 0, row, row, fold_of(task_ids[row], folds), -1});
    Task& task = tasks_[it->second];
    row_task_[row] = it->second;
    ++task.runs;
    task.successes += labels[row] > 0;
    task.last_row = row;
  }
  for (const auto& t : tasks_) mixed_ += t.successes > 0 && t.successes < t.runs;
  const bool pool = single_runs == SingleRuns::pooled || (single_runs == SingleRuns::automatic && mixed_ < min_mixed_tasks);
  if (!pool) return;
  std::map<std::pair<std::string, std::uint32_t>, std::size_t> pool_index;
  for (auto& t : tasks_) {
    if (t.runs != 1) continue;
    const auto key = std::make_pair(family_of(t.id), t.fold);
    const auto [it, inserted] = pool_index.emplace(key, pools_.size());
    if (inserted) pools_.push_back({key.first, key.second, 0, 0});
    t.pool = static_cast<std::int64_t>(it->second);
    ++pools_[it->second].runs;
    pools_[it->second].successes += t.successes;
  }
}

Label TaskPlan::label_of(std::uint64_t row) const {
  return labels_[row] < 0 ? Label::unlabelled : labels_[row] > 0 ? Label::success : Label::failure;
}

// -------------------------------------------------------------------------------------- counts

void MinedCounts::merge(const MinedCounts& other) {
  trajectories += other.trajectories;
  successes += other.successes;
  failures += other.failures;
  for (const auto& [feature, tally] : other.features) merge_tally(features[feature], tally);
  for (const auto& [task, counts] : other.open_tasks) {
    auto& into = open_tasks[task];
    for (const auto& [feature, sf] : counts) {
      into[feature].first += sf.first;
      into[feature].second += sf.second;
    }
  }
  for (const auto& [task, runs] : other.open_runs) open_runs[task] += runs;
}

void MinedCounts::settle(const TaskPlan& plan) {
  for (auto it = open_runs.begin(); it != open_runs.end();) {
    const std::uint32_t task = it->first;
    if (it->second < plan.tasks()[task].runs) {
      ++it;
      continue;
    }
    const std::uint64_t first = static_cast<std::uint64_t>(task) << kLayerBits, end = first + (1u << kLayerBits);
    for (auto layer = open_tasks.lower_bound(first); layer != open_tasks.end() && layer->first < end;) {
      contribute(
          plan, task, static_cast<std::uint32_t>(layer->first - first), layer->second,
          [&](const std::string& f) -> FeatureTally& { return features[f]; }, [](const std::string& f) { return condition_of(f); });
      layer = open_tasks.erase(layer);
    }
    it = open_runs.erase(it);
  }
}

json MinedCounts::to_json() const {
  json f = json::object(), layers = json::array(), runs = json::array();
  for (const auto& [feature, tally] : features) f[feature] = tally_json(tally);
  for (const auto& [key, counts] : open_tasks) {
    json c = json::object();
    for (const auto& [feature, sf] : counts) c[feature] = {sf.first, sf.second};
    layers.push_back({key, c});
  }
  for (const auto& [task, n] : open_runs) runs.push_back({task, n});
  return {{"trajectories", trajectories}, {"successes", successes}, {"failures", failures}, {"features", f},
          {"open_runs", runs}, {"open_tasks", layers}};
}

MinedCounts MinedCounts::from_json(const json& value) {
  MinedCounts c;
  c.trajectories = value.at("trajectories").get<std::uint64_t>();
  c.successes = value.at("successes").get<std::uint64_t>();
  c.failures = value.at("failures").get<std::uint64_t>();
  for (const auto& [feature, tally] : value.at("features").items()) c.features[feature] = tally_from_json(tally);
  for (const auto& item : value.at("open_runs")) c.open_runs[item.at(0).get<std::uint32_t>()] = item.at(1).get<std::uint32_t>();
  for (const auto& item : value.at("open_tasks")) {
    auto& counts = c.open_tasks[item.at(0).get<std::uint64_t>()];
    for (const auto& [feature, sf] : item.at(1).items()) counts[feature] = {sf.at(0).get<std::uint32_t>(), sf.at(1).get<std::uint32_t>()};
  }
  return c;
}

void CountsBatch::merge(const CountsBatch& other) {
  counts.resize(std::max(counts.size(), other.counts.size()));
  for (std::size_t i = 0; i < other.counts.size(); ++i) counts[i].merge(other.counts[i]);
}

json CountsBatch::to_json() const {
  json out = json::array();
  for (const auto& c : counts) out.push_back(c.to_json());
  return out;
}

CountsBatch CountsBatch::from_json(const json& value) {
  CountsBatch batch;
  for (const auto& c : value) batch.counts.push_back(MinedCounts::from_json(c));
  return batch;
}

// ----------------------------------------------------------------------------------- one shard

ShardMiner::ShardMiner(const TaskPlan& plan, std::uint64_t first_row, std::uint64_t end_row, unsigned threads)
    : plan_(plan), first_(first_row), end_(end_row), threads_(threads == 0 ? usable_cores() : threads) {
  offsets_.push_back(0);
  intern("");  // id 0: every run counted
}

std::uint32_t ShardMiner::intern(const std::string& feature) {
  if (const auto found = index_.find(feature); found != index_.end()) return found->second;
  const auto id = static_cast<std::uint32_t>(names_.size());
  const auto it = index_.emplace(feature, id).first;
  names_.push_back(&it->first);  // a node's address survives rehashing (an iterator does not)
  condition_.push_back(0);
  if (!feature.empty()) {
    const std::uint32_t c = intern(condition_of(feature));
    condition_[id] = c;
  }
  return id;
}

void ShardMiner::add(std::uint64_t row, const Features& features) {
  if (row != first_ + offsets_.size() - 1) throw Error("ShardMiner: rows must be added in order");
  std::vector<std::uint32_t> ids{0};
  ids.reserve(features.symptoms.size() + features.actions.size() + 1);
  for (const auto* list : {&features.symptoms, &features.actions})
    for (const auto& f : *list) ids.push_back(intern(f));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::uint32_t previous = 0;
  for (const auto id : ids) {
    put_varint(packed_, id - previous);
    previous = id;
  }
  offsets_.push_back(packed_.size());
}

void ShardMiner::ids_of(std::uint64_t i, std::vector<std::uint32_t>& ids) const {
  ids.clear();
  std::uint32_t id = 0;
  for (std::uint64_t at = offsets_[i]; at < offsets_[i + 1];) {
    std::uint32_t delta = 0;
    for (int shift = 0;; shift += 7) {
      const std::uint8_t byte = packed_[at++];
      delta |= static_cast<std::uint32_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
    }
    id += delta;
    ids.push_back(id);
  }
}

MinedCounts ShardMiner::counts() const { return std::move(counts(std::vector<Subset>{Subset{}}).front()); }

// One pass over the shard's runs for every subset, its rows cut into parts counted on threads of
// their own. A task whose runs fall in several parts stays open in each and is closed once their
// counts are summed: the result is the same for any cut.
std::vector<MinedCounts> ShardMiner::counts(const std::vector<Subset>& subsets) const {
  struct Selection {  // a subset, in this shard's feature numbers
    std::vector<bool> excluded, failing, wanted;
    std::vector<std::uint32_t> layer_bit;
    bool failing_only = false;
  };
  struct Part {  // what one part of the rows gives one subset
    std::uint64_t trajectories = 0, successes = 0, failures = 0;
    std::vector<FeatureTally> tallies;  // by feature id: the tasks closed so far
    std::map<std::uint32_t, Open> open;
  };
  std::vector<Selection> selections(subsets.size());
  for (std::size_t p = 0; p < subsets.size(); ++p) {
    const Subset& subset = subsets[p];
    Selection& pass = selections[p];
    if (subset.stratify_by.size() > kLayerBits) throw Error("ShardMiner: at most 8 features to stratify by");
    pass.excluded.assign(names_.size(), false);
    pass.failing.assign(names_.size(), false);
    pass.wanted.assign(names_.size(), subset.only.empty());
    pass.layer_bit.assign(names_.size(), 0);
    pass.failing_only = !subset.failing_with.empty();
    const auto mark = [&](const std::vector<std::string>& features, std::vector<bool>& marks) {
      for (const auto& f : features)
        if (const auto it = index_.find(f); it != index_.end()) marks[it->second] = true;
    };
    mark(subset.excluding, pass.excluded);
    mark(subset.failing_with, pass.failing);
    for (std::size_t b = 0; b < subset.stratify_by.size(); ++b)
      if (const auto it = index_.find(subset.stratify_by[b]); it != index_.end()) pass.layer_bit[it->second] |= 1u << b;
    pass.wanted[0] = true;
    for (const auto& f : subset.only)
      if (const auto it = index_.find(f); it != index_.end()) pass.wanted[it->second] = pass.wanted[condition_[it->second]] = true;
  }
  const auto close = [&](Part& part, std::uint32_t task, const Open& o) {
    for (const auto& [layer, counts] : o.layers)
      contribute(
          plan_, task, layer, SortedCounts{counts}, [&](std::uint32_t id) -> FeatureTally& { return part.tallies[id]; },
          [&](std::uint32_t id) { return condition_[id]; });
  };
  const auto complete = [&](std::uint32_t task, const Open& o) {
    const auto& t = plan_.tasks()[task];
    return t.first_row >= first_ && t.last_row < end_ && o.runs == t.runs;
  };
  // Rows [begin, end) of the shard (indices from its first row) for every subset.
  const auto count_part = [&](std::uint64_t begin, std::uint64_t end) {
    std::vector<Part> parts(selections.size());
    for (auto& part : parts) part.tallies.resize(names_.size());
    std::vector<std::uint32_t> ids;
    IdCounts merged;  // scratch of add_run
    for (std::uint64_t i = begin; i < end; ++i) {
      const std::uint64_t row = first_ + i;
      for (auto& part : parts) ++part.trajectories;
      const Label label = plan_.label_of(row);
      if (label == Label::unlabelled) continue;
      const std::uint32_t task = plan_.task_of(row);
      ids_of(i, ids);
      for (std::size_t p = 0; p < selections.size(); ++p) {
        const Selection& pass = selections[p];
        Part& part = parts[p];
        Open& o = part.open[task];
        ++o.runs;
        const auto shows = [&](const std::vector<bool>& marks) {
          return std::any_of(ids.begin(), ids.end(), [&](std::uint32_t id) { return marks[id]; });
        };
        if (!shows(pass.excluded) && (label == Label::success || !pass.failing_only || shows(pass.failing))) {
          ++(label == Label::success ? part.successes : part.failures);
          std::uint32_t layer = 0;
          for (const auto id : ids) layer |= pass.layer_bit[id];
          add_run(o.layers[layer], ids, pass.wanted, label == Label::success, merged);
        }
        if (complete(task, o)) {
          close(part, task, o);
          part.open.erase(task);
        }
      }
    }
    return parts;
  };
  // Parts of at least kMinPartRows rows, one per thread.
  constexpr std::uint64_t kMinPartRows = 4096;
  const std::uint64_t rows = offsets_.size() - 1;
  const std::uint64_t n_parts = std::max<std::uint64_t>(1, std::min<std::uint64_t>(threads_, rows / kMinPartRows));
  std::vector<std::vector<Part>> results;
  if (n_parts == 1) {
    results.push_back(count_part(0, rows));
  } else {
    ThreadPool pool(static_cast<unsigned>(n_parts));
    std::vector<std::future<std::vector<Part>>> futures;
    for (std::uint64_t k = 0; k < n_parts; ++k)
      futures.push_back(pool.submit([&, k] { return count_part(rows * k / n_parts, rows * (k + 1) / n_parts); }));
    for (auto& f : futures) results.push_back(f.get());
  }
  std::vector<MinedCounts> out;
  for (std::size_t p = 0; p < selections.size(); ++p) {
    Part& total = results[0][p];
    for (std::size_t k = 1; k < results.size(); ++k) {
      Part& part = results[k][p];
      total.trajectories += part.trajectories;
      total.successes += part.successes;
      total.failures += part.failures;
      for (std::uint32_t id = 0; id < names_.size(); ++id)
        if (part.tallies[id].tasks > 0) merge_tally(total.tallies[id], part.tallies[id]);
      for (auto& [task, o] : part.open) {
        Open& into = total.open[task];
        into.runs += o.runs;
        for (auto& [layer, counts] : o.layers) add_counts(into.layers[layer], counts);
      }
    }
    for (auto it = total.open.begin(); it != total.open.end();) {
      if (!complete(it->first, it->second)) {
        ++it;
        continue;
      }
      close(total, it->first, it->second);
      it = total.open.erase(it);
    }
    MinedCounts counted;
    counted.trajectories = total.trajectories;
    counted.successes = total.successes;
    counted.failures = total.failures;
    for (std::uint32_t id = 0; id < names_.size(); ++id)
      if (total.tallies[id].tasks > 0) counted.features.emplace(*names_[id], std::move(total.tallies[id]));
    for (const auto& [task, o] : total.open) {
      counted.open_runs[task] = o.runs;
      for (const auto& [layer, counts] : o.layers) {
        auto& into = counted.open_tasks[(static_cast<std::uint64_t>(task) << kLayerBits) | layer];
        for (const auto& [id, sf] : counts) into[*names_[id]] = sf;
      }
    }
    out.push_back(std::move(counted));
  }
  return out;
}

std::uint32_t ShardMiner::id_of(const std::string& feature) const {
  const auto it = index_.find(feature);
  return it == index_.end() ? kNone : it->second;
}

void ShardMiner::feature_ids(std::uint64_t row, std::vector<std::uint32_t>& ids) const {
  if (!has(row)) throw Error("ShardMiner: row " + std::to_string(row) + " is not in this shard");
  ids_of(row - first_, ids);
}

}  // namespace t2s::analyze
