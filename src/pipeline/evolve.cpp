// pipeline/evolve: the evolve job (see the header).
#include "t2s/pipeline/evolve.hpp"
#include "t2s/pipeline/provenance.hpp"
#include "t2s/pipeline/run_summary.hpp"

#include <sys/resource.h>
#include <unistd.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>
#include <map>
#include <numeric>
#include <ostream>
#include <set>

#include "t2s/pipeline/feature_reader.hpp"
#include "t2s/pipeline/output_lock.hpp"
#include "progress.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "t2s/core/interrupt.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/core/version.hpp"
#include "t2s/skill/apply.hpp"
#include "t2s/skill/provenance.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "t2s/skill/validate.hpp"
#include "t2s/store/llm_recording.hpp"
#include "t2s/store/run_archive.hpp"
#include "t2s/store/run_log.hpp"
#include "t2s/store/trajectory_store.hpp"

namespace t2s::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kTreeTagBase = 100;  // MPI tag of merge level l: kTreeTagBase + l
constexpr int kLeafTag = 99;       // leaves sent to rank 0 by the sequential baseline
constexpr int kRootTag = 97;       // the root, sent to rank 0 by its owner

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buffer;
}

// Peak resident memory of this process so far, in MB.
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Sums a per-rank value (MinedCounts, CountsBatch) over all ranks; every rank gets the total. The
// values travel as JSON text and are merged on rank 0 in rank order (the sums are exact in any order).
template <typename T>
T all_merged(const mpi::Comm& comm, T local) {
  if (comm.size() == 1) return local;
  const auto texts = comm.gather(comm.is_main() ? std::string() : local.to_json().dump());  // rank 0 keeps its own
  std::string merged;
  T total;
  if (comm.is_main()) {
    total = std::move(local);
    for (std::size_t i = 1; i < texts.size(); ++i) total.merge(T::from_json(json::parse(texts[i])));
    merged = total.to_json().dump();
  }
  comm.broadcast(merged);
  return comm.is_main() ? std::move(total) : T::from_json(json::parse(merged));
}

// A block of the skill's provenance sidecar lists this many trajectory ids at most (the archive has
// them all): a lesson a million runs share should not make a skill directory a hundred megabytes.
constexpr std::size_t kListedSupport = 1000;

// Analysis units: unit u is the rows [u*block, (u+1)*block) of the store, in storage order, so that
// each rank reads its share of the text blob front to back. A stats patch is a union over lessons
// decided for the whole corpus, so any cut into units gives the same skill.
struct Units {
  std::uint64_t trajectories = 0, block = 1, count = 0;
  std::vector<std::uint64_t> first_of_rank;  // first unit of each rank, plus the end

  Units(std::uint64_t n, std::uint64_t block_size, int ranks) : trajectories(n), block(block_size) {
    count = (n + block - 1) / block;
    for (int r = 0; r < ranks; ++r) first_of_rank.push_back(mpi::shard_range(count, r, ranks).first);
    first_of_rank.push_back(count);
  }
  int owner(std::uint64_t unit) const {
    const auto it = std::upper_bound(first_of_rank.begin(), first_of_rank.end(), unit);
    return static_cast<int>(it - first_of_rank.begin()) - 1;
  }
  std::pair<std::uint64_t, std::uint64_t> rows(std::uint64_t unit) const {
    const std::uint64_t first = unit * block;
    return {first, std::min(block, trajectories - first)};
  }
  static std::string key(std::uint64_t unit) { return "unit/" + std::to_string(unit); }
};

// Calls f(first_position, ids) for the store's ids in id order, a batch at a time.
template <typename F>
void for_each_id_batch(const store::TrajectoryStore& store, F&& f) {
  constexpr std::uint64_t kBatch = 1 << 16;
  for (std::uint64_t first = 0; first < store.size(); first += kBatch)
    f(first, store.ids(store.id_order(first, std::min(kBatch, store.size() - first))));
}

// The id-order position of each row in [first_row, end_row): support sets name trajectories by
// position (skill/support.hpp), 4 bytes each however many trajectories a lesson has.
std::vector<std::uint32_t> positions_of_rows(const store::TrajectoryStore& store, std::uint64_t first_row, std::uint64_t end_row) {
  std::vector<std::uint32_t> positions(end_row - first_row);
  constexpr std::uint64_t kBatch = 1 << 16;
  for (std::uint64_t first = 0; first < store.size(); first += kBatch) {
    const auto rows = store.id_order(first, std::min(kBatch, store.size() - first));
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (rows[i] >= first_row && rows[i] < end_row) positions[rows[i] - first_row] = static_cast<std::uint32_t>(first + i);
  }
  return positions;
}

bool has_heading(const std::string& text, const std::string& heading) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line == heading) return true;
    start = end + 1;
  }
  return false;
}

// The skill the analysts see: the starting skill (or a drafted one) with the sections the stats
// lessons go to, added when missing, each with a line saying what it holds.
skill::SkillDir frozen_skill(const EvolveJob& job, std::string& name) {
  skill::SkillDir dir;
  if (!job.skill.empty()) {
    dir = skill::load_skill_dir(job.skill);
    name = skill::directory_name(job.skill);
    if (dir.text("SKILL.md") == nullptr) throw InputError(job.skill.string() + ": has no SKILL.md");
  } else {
    name = job.skill_name;
    std::string title = name;
    std::replace(title.begin(), title.end(), '-', ' ');
    if (!title.empty()) title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
    std::string quoted = "\"";  // a YAML double-quoted scalar: any text is safe in it
    for (char c : job.description) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += (c == '\n' || c == '\r') ? ' ' : c;
    }
    quoted += '"';
    dir.files["SKILL.md"].bytes = "---\nname: " + name + "\ndescription: " + quoted + "\n---\n\n# " + title +
                                  "\n\nWritten by trace2skill from agent trajectories.\n";
  }
  std::string& text = dir.files["SKILL.md"].bytes;
  const std::pair<const std::string*, const char*> sections[] = {
      {&job.stats.failure_section, "Failure symptoms that recur in past runs, each with how much more often the runs that showed it failed."},
      {&job.stats.habit_section, "What runs did that made them pass more often than runs of the same tasks that did not."}};
  for (const auto& [heading, intro] : sections) {
    if (has_heading(text, *heading)) continue;
    if (!text.empty() && !text.ends_with('\n')) text += '\n';
    text += "\n" + *heading + "\n\n" + intro + "\n";
  }
  return dir;
}

// SHA-256 over the ids and outcomes in storage order: the units are row ranges, so a checkpoint is
// valid only for the same trajectories, labelled the same, in the same order.
std::string content_digest(const store::TrajectoryStore& trajectories) {
  Sha256 hasher;
  constexpr std::uint64_t kBatch = 1 << 16;
  std::vector<std::uint64_t> rows;
  for (std::uint64_t first = 0; first < trajectories.size(); first += kBatch) {
    rows.resize(std::min(kBatch, trajectories.size() - first));
    std::iota(rows.begin(), rows.end(), first);
    for (const auto& row : trajectories.rows(rows)) {
      hasher.update(row.id);
      const std::string outcome = std::to_string(row.success) + "/" + std::to_string(row.reward) + ";";
      hasher.update(outcome);
    }
  }
  return to_hex(hasher.finish());
}

// The ids of `lessons` (indices into `ids`) as a JSON list.
std::string lessons_list(const std::vector<std::uint32_t>& lessons, const std::vector<std::string>& ids) {
  json list = json::array();
  for (auto l : lessons) list.push_back(ids[l]);
  return list.dump();
}

}  // namespace

// ------------------------------------------------------------------------------------------ job

EvolveJob EvolveJob::from_config(const Config& config) {
  EvolveJob job;
  job.job_text = config.text();
  job.job_name = config.name();
  {
    // What a checkpoint is for: every value in force, except where the model server is and how it
    // is reached (a requeued job may find its server elsewhere) and settings that only change how
    // the work is done (threads, checkpoint pacing, where sandboxes are made).
    json effective = json::parse(config.effective());
    if (auto e = effective.find("evolve"); e != effective.end() && e->is_object())
      for (const char* key : {"threads", "tool_threads", "checkpoint_seconds", "checkpoint_every"}) e->erase(key);
    if (auto a = effective.find("analyze"); a != effective.end() && a->is_object() && a->contains("llm") && (*a)["llm"].is_object())
      (*a)["llm"].erase("sandbox_root");
    if (auto llm = effective.find("llm"); llm != effective.end() && llm->is_object()) {
      json kept = json::object();
      if (llm->contains("model")) kept["model"] = (*llm)["model"];
      *llm = kept;
    }
    job.effective = effective.dump();
  }
  const std::string& name = config.name();
  const auto required = [&](const char* key) {
    auto value = config.string(key);
    if (!value || value->empty()) throw InputError(name + ": " + key + " is required");
    return *value;
  };
  job.trajectories = required("evolve.trajectories");
  job.output = required("evolve.output");
  job.skill = config.string("evolve.skill").value_or("");
  job.skill_name = config.string("evolve.skill_name").value_or("evolved-skill");
  job.description = config.string("evolve.description")
                        .value_or("Lessons mined by trace2skill from agent trajectories: failure modes that recur and "
                                  "the habits of successful runs. Use when working on the tasks these runs came from.");
  job.analyst = config.string("evolve.analyst").value_or("stats");
  if (job.analyst != "stats" && job.analyst != "success" && job.analyst != "error" && job.analyst != "llm")
    throw InputError(name + ": evolve.analyst: \"" + job.analyst +
                     "\" is not an analyst; use \"stats\" (no LLM), \"success\", \"error\" or \"llm\" (success and error)");
  const auto positive = [&](const char* key, std::uint64_t fallback) {
    const auto value = config.integer(key);
    if (!value) return fallback;
    if (*value < 1) throw InputError(name + ": " + key + ": must be at least 1");
    return static_cast<std::uint64_t>(*value);
  };
  job.block = positive("evolve.block", job.block);
  job.checkpoint_every = positive("evolve.checkpoint_every", job.checkpoint_every);
  if (const auto seconds = config.number("evolve.checkpoint_seconds")) {
    if (!(*seconds >= 0.1 && *seconds <= 3600)) throw InputError(name + ": evolve.checkpoint_seconds: must be in [0.1, 3600]");
    job.checkpoint_seconds = *seconds;
  }
  job.tool_threads = static_cast<unsigned>(std::min<std::uint64_t>(positive("evolve.tool_threads", job.tool_threads), 256));
  if (const auto threads = config.integer("evolve.threads")) {
    if (*threads < 0 || *threads > 256) throw InputError(name + ": evolve.threads: must be in [0, 256] (0: one per core the rank may use)");
    job.threads = static_cast<unsigned>(*threads);
  }
  job.mode = config.string("evolve.mode").value_or("tree");
  if (job.mode != "tree" && job.mode != "sequential")
    throw InputError(name + ": evolve.mode: must be \"tree\" or \"sequential\", not \"" + job.mode + "\"");

  job.tree.fan_in = positive("consolidate.fan_in", job.tree.fan_in);
  if (job.tree.fan_in < 2) throw InputError(name + ": consolidate.fan_in: must be at least 2");
  if (const auto levels = config.integer("consolidate.max_levels")) {
    if (*levels < 0) throw InputError(name + ": consolidate.max_levels: must be 0 (unlimited) or more");
    job.tree.max_levels = static_cast<std::uint64_t>(*levels);
  }
  job.merge_kind = config.string("consolidate.merge").value_or("deterministic");
  if (job.merge_kind != "deterministic" && job.merge_kind != "llm")
    throw InputError(name + ": consolidate.merge: must be \"deterministic\" or \"llm\", not \"" + job.merge_kind + "\"");
  if (const auto near = config.number("consolidate.near_equal")) {
    if (!(*near > 0 && *near <= 1)) throw InputError(name + ": consolidate.near_equal: must be in (0, 1]");
    job.merge.near_equal = *near;
  }
  job.llm_merge.near_equal = job.merge.near_equal;
  if (const auto tokens = config.integer("consolidate.max_tokens")) {
    if (*tokens < 16) throw InputError(name + ": consolidate.max_tokens: must be at least 16");
    job.llm_merge.max_tokens = static_cast<int>(std::min<std::int64_t>(*tokens, 1 << 20));
  }

  if (const auto fraction = config.number("prevalence.min_fraction")) {
    if (!(*fraction >= 0 && *fraction <= 1)) throw InputError(name + ": prevalence.min_fraction: must be in [0, 1]");
    job.prevalence.min_fraction = *fraction;
  }
  if (const auto support = config.integer("prevalence.min_support")) {
    if (*support < 0) throw InputError(name + ": prevalence.min_support: must be 0 or more");
    job.prevalence.min_support = static_cast<std::uint64_t>(*support);
  }
  if (const auto rare = config.string("prevalence.rare")) {
    if (*rare == "references") job.prevalence.rare = consolidate::PrevalencePolicy::Rare::references;
    else if (*rare == "drop") job.prevalence.rare = consolidate::PrevalencePolicy::Rare::drop;
    else throw InputError(name + ": prevalence.rare: must be \"references\" or \"drop\", not \"" + *rare + "\"");
  }
  if (const auto file = config.string("prevalence.references_file")) job.prevalence.references_file = *file;

  job.stats = analyze::StatsOptions::from_json(config.table("analyze.stats"), name + ": [analyze.stats]");
  job.analysts = analyze::AnalystOptions::from_json(config.table("analyze.llm"), name + ": [analyze.llm]");
  job.llm_merge.model = job.analysts.model;

  job.llm = LlmSettings::from_config(config);
  for (const char* table : {"evolve", "consolidate", "prevalence", "analyze", "llm"})
    if (config.has(table)) config.reject_unread(table);
  return job;
}

// ------------------------------------------------------------------------------------------ run

namespace {

// The leaves of the merge tree: leaf j belongs to the rank r with first_of_rank[r] <= j <
// first_of_rank[r + 1]; a rank holds the patches (JSON) of its own leaves.
struct Leaves {
  std::vector<std::uint64_t> first_of_rank{0};  // plus the end
  std::map<std::uint64_t, std::string> mine;
  std::uint64_t count() const { return first_of_rank.back(); }
  int owner(std::uint64_t leaf) const {
    const auto it = std::upper_bound(first_of_rank.begin(), first_of_rank.end(), leaf);
    return static_cast<int>(it - first_of_rank.begin()) - 1;
  }
};

json usage_json(const llm::Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens}, {"completion_tokens", u.completion_tokens}, {"total_tokens", u.total_tokens}};
}

class EvolveRun {
 public:
  EvolveRun(const EvolveJob& job, const mpi::Comm& comm, std::ostream& out, std::string command_line, json libraries)
      : job_(job), comm_(comm), out_(out), command_line_(std::move(command_line)), libraries_(std::move(libraries)),
        parts_(job.output / "parts"), trajectories_(job.trajectories) {}

  EvolveSummary run();

 private:
  void say(const std::string& line) const {
    if (comm_.is_main()) out_ << "[evolve] " << line << std::endl;
  }
  void read_checkpoint();
  void check_identity();
  Leaves analyse_stats();
  Leaves analyse_llm();
  std::vector<skill::Patch> merge_level(std::vector<std::vector<skill::Patch>> inputs, std::vector<json>& records);
  std::string consolidate(Leaves& leaves);
  void finish(const std::string& root_text);
  void release_llm();
  void stop_if_requested(const std::string& phase);

  const EvolveJob& job_;
  const mpi::Comm& comm_;
  std::ostream& out_;
  std::string command_line_;
  json libraries_;
  fs::path parts_;
  DirectoryLock output_lock_;  // rank 0: held for the whole run
  store::TrajectoryStore trajectories_;
  std::string skill_name_;
  skill::SkillDir frozen_;
  consolidate::MergeOptions merge_options_;
  std::unique_ptr<store::RunLogWriter> log_;
  std::unique_ptr<LlmRuntime> llm_;
  std::unique_ptr<consolidate::LlmMerger> merger_;
  std::unique_ptr<analyze::LlmAnalysts> analysts_;
  std::string analyst_prompt_hash_, merger_prompt_hash_;

  // What earlier attempts completed (everyone reads before anyone writes): the decisions, this
  // rank's leaves and every merge node. Per-trajectory rows go straight from the checkpoint to the
  // archive at the end.
  std::map<std::string, std::string> done_;          // "kind:key" → JSON (analysis, merge: the patch)
  std::map<std::uint64_t, json> llm_done_;            // id-order position → LLM analysis record (mine)
  std::map<std::uint64_t, int> retry_attempt_;        // position → attempt number of a failed analysis redone
  std::string done_keys_;

  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::string started_utc_ = now_utc();
  json metrics_ = json::object();
  json corpus_;
  std::vector<analyze::Lesson> lessons_;  // stats
  std::vector<std::string> root_path_;
  std::vector<std::string> hosts_;
  json llm_totals_;  // this rank's request totals per stage
  EvolveSummary summary_;
};

void EvolveRun::read_checkpoint() {
  const auto [my_first, my_count] = mpi::shard_range(trajectories_.size(), comm_.rank(), comm_.size());
  const Units units(trajectories_.size(), job_.block, comm_.size());
  const std::uint64_t unit_first = units.first_of_rank[static_cast<std::size_t>(comm_.rank())];
  const std::uint64_t unit_end = units.first_of_rank[static_cast<std::size_t>(comm_.rank()) + 1];
  store::visit_run_log(parts_, [&](store::RunRecord&& r) {
    done_keys_ += r.kind + ":" + r.key + "\n";
    if (r.kind == "analysis") {
      json record = json::parse(r.json);
      if (record.contains("unit")) {
        const std::uint64_t unit = record.at("unit").get<std::uint64_t>();
        if (unit >= unit_first && unit < unit_end) done_.emplace(r.kind + ":" + r.key, record.at("patch").dump());
      } else {
        const std::uint64_t position = record.at("position").get<std::uint64_t>();
        if (position >= my_first && position < my_first + my_count) {
          auto& kept = llm_done_[position];
          if (kept.is_null() || record.value("attempt", 0) > kept.value("attempt", 0)) kept = std::move(record);
        }
      }
    } else if (r.kind == "merge") {
      done_.emplace(r.kind + ":" + r.key, json::parse(r.json).at("patch").dump());
    } else {
      done_.emplace(r.kind + ":" + r.key, std::move(r.json));
    }
  });
  // A failed LLM analysis (a call that failed after its retries) is tried again by a rerun, as long as
  // the merge tree has not started: its next record supersedes the failed one.
  if (done_keys_.find("\nmerge:") == std::string::npos && !done_keys_.starts_with("merge:"))
    for (auto it = llm_done_.begin(); it != llm_done_.end();) {
      if (it->second.at("status") != "failed") {
        ++it;
        continue;
      }
      retry_attempt_[it->first] = it->second.value("attempt", 0) + 1;
      it = llm_done_.erase(it);
    }
  // Every rank must resume from the same checkpoint (a file system that shows a segment to one node
  // and not to another would make the ranks disagree on what is left to do, and hang).
  const auto seen = comm_.all_gather(to_hex(sha256(done_keys_)));
  if (std::adjacent_find(seen.begin(), seen.end(), std::not_equal_to<>()) != seen.end())
    throw Error(parts_.string() + ": the ranks see different checkpoint files (is the file system shared and coherent?)");
}

// A checkpoint is valid for the same job (--set included) and model over the same starting skill
// and the same trajectories with the same outcomes, in the same order.
void EvolveRun::check_identity() {
  std::string skill_bytes;
  for (const auto& [path, file] : frozen_.files) skill_bytes += path + '\0' + file.bytes + '\0';
  std::string model;  // and the prompts: a newer t2s with other prompts does not resume an older run
  if (llm_) model = llm_->endpoint.model + '\0' + (analysts_ ? analysts_->prompt_hash() : "") + '\0' +
                    (merger_ ? merger_->prompt_hash() : "");
  const std::string job_digest = to_hex(sha256(job_.effective + '\0' + model + '\0' + skill_bytes));
  const std::string store_digest = content_digest(trajectories_);
  if (const auto it = done_.find("job:job"); it != done_.end()) {
    const json saved = json::parse(it->second);
    if (saved.at("sha256") != job_digest)
      throw InputError(job_.output.string() + ": holds a run of a different job (the job file, a --set value, the model "
                       "or the starting skill changed); use another output directory, or remove this one to start over");
    if (saved.at("trajectories_sha256") != store_digest)
      throw InputError(job_.output.string() + ": holds a run over other trajectories (" + job_.trajectories.string() +
                       " changed); use another output directory, or remove this one to start over");
  }
  log_ = std::make_unique<store::RunLogWriter>(parts_, "rank-" + std::to_string(comm_.rank()) + "-of-" + std::to_string(comm_.size()));
  if (comm_.is_main() && !done_.count("job:job")) {
    log_->add("job", "job", json{{"sha256", job_digest}, {"trajectories_sha256", store_digest}, {"job", job_.job_text}}.dump());
    log_->flush();
  }
}

// The tasks of the store and their labels, from the index columns (no record is parsed).
// Every analyst learns from labelled runs: a store without the outcomes it needs is refused before
// anything runs, naming the fix (the stats analyst compares passing with failing runs; the success
// analyst studies passing runs, the error analyst failing ones).
static void refuse_without_outcomes(const store::TrajectoryStore& store, const std::string& name, const std::string& analyst) {
  const std::vector<std::int8_t> labels = store.success_column();
  const auto successes = static_cast<std::uint64_t>(std::count(labels.begin(), labels.end(), 1));
  const auto failures = static_cast<std::uint64_t>(std::count(labels.begin(), labels.end(), 0));
  const std::string fix = "give each record a label (a top-level \"success\" or \"reward\", or an \"outcome\" object) and ingest it again";
  if (successes + failures == 0)
    throw InputError(name + ": none of its " + std::to_string(store.size()) + " trajectories has an outcome label, and the " + analyst +
                     " analyst learns from labelled runs; " + fix);
  if (analyst == "stats" && (successes == 0 || failures == 0))
    throw InputError(name + ": all " + std::to_string(successes + failures) + " labelled trajectories " + (successes == 0 ? "failed" : "succeeded") +
                     ", and the stats analyst compares passing with failing runs; add runs with the other outcome");
  if (analyst == "success" && successes == 0)
    throw InputError(name + ": no labelled trajectory succeeded, and the success analyst studies passing runs; use the error analyst");
  if (analyst == "error" && failures == 0)
    throw InputError(name + ": no labelled trajectory failed, and the error analyst studies failing runs; use the success analyst");
}

// The stats analyst: lessons decided over the whole corpus (each rank reads its rows once), then
// one patch per unit of rows.
Leaves EvolveRun::analyse_stats() {
  const Units units(trajectories_.size(), job_.block, comm_.size());
  const std::uint64_t my_first = units.first_of_rank[static_cast<std::size_t>(comm_.rank())];
  const std::uint64_t my_end = units.first_of_rank[static_cast<std::size_t>(comm_.rank()) + 1];
  const std::uint64_t my_first_row = std::min(my_first * units.block, units.trajectories);
  const std::uint64_t my_end_row = std::min(my_end * units.block, units.trajectories);
  auto phase = std::chrono::steady_clock::now();
  const analyze::TaskPlan plan(trajectories_.task_id_column(), trajectories_.success_column(), job_.stats.folds,
                               job_.stats.single_runs, job_.stats.min_mixed_tasks);
  std::unique_ptr<analyze::ShardMiner> miner;  // this rank's rows, read once; absent when resumed
  std::vector<std::string> my_ids;             // their trajectory ids, read with them
  if (const auto it = done_.find("stats:lessons"); it != done_.end()) {
    const json saved = json::parse(it->second);
    lessons_ = analyze::lessons_from_json(saved.at("lessons"));
    corpus_ = saved.at("corpus");
    say("lessons: " + std::to_string(lessons_.size()) + " (from the checkpoint)");
  } else {
    miner = std::make_unique<analyze::ShardMiner>(plan, my_first_row, my_end_row, job_.threads);
    my_ids.reserve(my_end_row - my_first_row);
    detail::for_each_features(trajectories_, my_first_row, my_end_row, job_.threads, [&](const store::IndexRow& row, const analyze::Features& features) {
      miner->add(row.row, features);
      my_ids.push_back(row.id);
    });
    metrics_["read_s"] = seconds_since(phase);
    const auto deciding = std::chrono::steady_clock::now();
    auto total = all_merged(comm_, miner->counts());
    total.settle(plan);
    const auto decision = analyze::decide(total, plan, job_.stats, [&](const std::vector<analyze::Subset>& subsets) {
      auto batch = all_merged(comm_, analyze::CountsBatch{miner->counts(subsets)});
      for (auto& counts : batch.counts) counts.settle(plan);
      return std::move(batch.counts);
    });
    metrics_["decide_s"] = seconds_since(deciding);
    lessons_ = decision.lessons;
    corpus_ = decision.report;
    corpus_.erase("candidates");
    if (comm_.is_main()) {
      log_->add("stats", "lessons", json{{"lessons", analyze::lessons_json(lessons_)}, {"corpus", corpus_}, {"report", decision.report},
                                         {"options", job_.stats.to_json()}}.dump());
      log_->flush();
      write_file_whole(job_.output / "stats-report.md", analyze::report_markdown(decision.report));
    }
    say("lessons: " + std::to_string(lessons_.size()) + " from " + std::to_string(total.successes) + " successes and " +
        std::to_string(total.failures) + " failures over " + std::to_string(plan.labelled_tasks()) + " tasks (" +
        std::to_string(plan.mixed_tasks()) + " with both outcomes; " + std::to_string(decision.report.at("tested").get<std::uint64_t>()) +
        " of " + std::to_string(total.features.size()) + " features tested); report: " + (job_.output / "stats-report.md").string());
    if (lessons_.empty()) {
      std::string closest;
      for (const auto& c : decision.report.at("candidates")) {
        if (closest.size() > 400) break;
        closest += (closest.empty() ? "" : "; ") + c.at("feature").get<std::string>() + " (" + c.at("verdict").get<std::string>() + ")";
      }
      say("no feature passed the tests" + (closest.empty() ? std::string(" (none was common enough to test)") : "; the closest: " + closest));
    }
  }
  metrics_["mine_s"] = seconds_since(phase);
  metrics_["peak_rss_mb_after_mine"] = comm_.all_max(peak_rss_mb());

  phase = std::chrono::steady_clock::now();
  const std::uint64_t population = trajectories_.size();
  Leaves leaves;
  leaves.first_of_rank = units.first_of_rank;
  std::uint64_t resumed = 0, computed = 0, since_flush = 0;
  auto last_report = std::chrono::steady_clock::now(), last_trim = last_report;
  for (const auto& [key, text] : done_)
    if (key.starts_with("analysis:unit/")) leaves.mine[std::stoull(key.substr(14))] = text;
  const bool all_resumed = leaves.mine.size() == my_end - my_first;
  std::vector<std::string> lesson_ids;  // a lesson's id is a digest: made once, not per trajectory
  for (const auto& l : lessons_) lesson_ids.push_back(l.id());
  const auto position_of = all_resumed ? std::vector<std::uint32_t>() : positions_of_rows(trajectories_, my_first_row, my_end_row);
  for (std::uint64_t u = my_first; u < my_end && !stop_requested(); ++u) {  // on a stop: no new unit
    if (leaves.mine.count(u)) {
      ++resumed;
      continue;
    }
    std::vector<std::vector<std::uint32_t>> positions(lessons_.size());
    json rows = json::array();
    const auto [first_row, count] = units.rows(u);
    // A resumed run kept no features: the unit's rows are read again, into a miner of their own.
    std::unique_ptr<analyze::ShardMiner> unit_miner;
    std::vector<std::string> unit_ids;
    if (!miner) {
      unit_miner = std::make_unique<analyze::ShardMiner>(plan, first_row, first_row + count);
      detail::for_each_features(trajectories_, first_row, first_row + count, 1, [&](const store::IndexRow& row, const analyze::Features& features) {
        unit_miner->add(row.row, features);
        unit_ids.push_back(row.id);
      });
    }
    const analyze::ShardMiner& read = miner ? *miner : *unit_miner;
    const analyze::LessonMatcher matcher(lessons_, read);
    for (std::uint64_t row = first_row; row < first_row + count; ++row) {
      const auto matched = matcher.match(row);
      for (auto l : matched) positions[l].push_back(position_of[row - my_first_row]);
      rows.push_back({miner ? my_ids[row - my_first_row] : unit_ids[row - first_row], lessons_list(matched, lesson_ids)});
    }
    std::vector<skill::Support> supports;
    for (auto& p : positions) supports.push_back(skill::Support::of_positions(std::move(p)));
    const json patch = skill::patch_json(analyze::lessons_patch(lessons_, supports, population));
    log_->add("analysis", Units::key(u),
              json{{"unit", u}, {"analyst", "stats"}, {"status", "ok"}, {"patch", patch}, {"trajectories", rows}}.dump());
    leaves.mine[u] = patch.dump();
    ++computed;
    if (++since_flush >= job_.checkpoint_every) {
      log_->flush();
      since_flush = 0;
    }
    // glibc keeps the freed holes between long-lived leaf patches resident; hand them back now and
    // then (a trim walks the whole heap: at every flush it cost a quarter of the analysis time)
    if (seconds_since(last_trim) >= 5.0) {
      malloc_trim(0);
      last_trim = std::chrono::steady_clock::now();
    }
    if (comm_.is_main() && seconds_since(last_report) >= 5.0) {  // ranks work alike: rank 0 speaks for them
      last_report = std::chrono::steady_clock::now();
      say("analysis on rank 0: " + std::to_string(u + 1 - my_first) + "/" + std::to_string(my_end - my_first) + " units");
    }
  }
  log_->flush();
  summary_.resumed_units = comm_.all_sum(resumed);
  summary_.computed_units = comm_.all_sum(computed);
  summary_.analysed = summary_.analysis_ok = summary_.accepted_patches = trajectories_.size();
  metrics_["units"] = {{"total", units.count}, {"resumed", summary_.resumed_units}, {"computed", summary_.computed_units}};
  if (!stop_requested())
    say("analysis: " + std::to_string(units.count) + " units (" + std::to_string(summary_.resumed_units) +
        " from the checkpoint)");
  metrics_["analyse_s"] = seconds_since(phase);
  return leaves;
}

// The LLM analysts: this rank's share of the id-sorted trajectories, many analyses in flight on one
// client; every result goes to the checkpoint as it completes. The accepted patches, in id order
// over all ranks, are the leaves.
Leaves EvolveRun::analyse_llm() {
  const auto phase = std::chrono::steady_clock::now();
  const auto [first, count] = mpi::shard_range(trajectories_.size(), comm_.rank(), comm_.size());
  const std::uint64_t end = first + count;
  std::map<std::uint64_t, std::string> accepted;  // position → patch JSON
  detail::ProgressCounts mine;
  const auto tally = [&](const std::string& status, std::int64_t tokens) {
    ++mine.done;
    mine.tokens += tokens;
    if (status == "ok") ++mine.ok;
    else if (status == "empty") ++mine.empty;
    else if (status == "dropped") ++mine.dropped;
    else if (status == "failed") ++mine.failed;
    else ++mine.skipped;
  };
  for (const auto& [position, record] : llm_done_) {
    const std::string status = record.at("status").get<std::string>();
    tally(status, 0);
    ++mine.resumed;
    if (status == "ok") accepted[position] = record.at("patch").dump();
  }
  detail::Progress progress(comm_, out_, trajectories_.size());
  std::string first_failure;  // of this attempt, for the message when nothing worked
  analyze::LlmAnalysts& analysts = *analysts_;
  analyst_prompt_hash_ = analysts.prompt_hash();

  // Index rows in id order, fetched a batch at a time.
  constexpr std::uint64_t kBatch = 1024;
  std::vector<store::IndexRow> batch;
  std::uint64_t batch_first = 0;
  const auto row_at = [&](std::uint64_t position) -> const store::IndexRow& {
    if (batch.empty() || position < batch_first || position >= batch_first + batch.size()) {
      batch_first = position;
      batch = trajectories_.rows(trajectories_.id_order(position, std::min(kBatch, end - position)));
    }
    return batch[position - batch_first];
  };

  auto last_flush = std::chrono::steady_clock::now();
  const auto maybe_flush = [&] {
    if (log_->buffered() >= 4096 || seconds_since(last_flush) >= job_.checkpoint_seconds) {
      log_->flush();
      last_flush = std::chrono::steady_clock::now();
    }
  };
  const auto record = [&](std::uint64_t position, const std::string& id, analyze::Analysis&& a) {
    json patch = nullptr;
    if (a.status == "ok") {
      for (auto& edit : a.patch.edits) edit.support = skill::Support::of_positions({static_cast<std::uint32_t>(position)});
      // Accepted only when its edits apply to the frozen skill (the edits the engine refuses go).
      consolidate::MergeReport report;
      skill::Patch checked = consolidate::merge_deterministic(std::vector<skill::Patch>{a.patch}, merge_options_, &report);
      for (const auto& note : report.notes) a.notes.push_back(note);
      if (checked.edits.empty()) {
        a.status = "failed";
        a.reason = "no edit of the analyst's patch applies to the frozen skill" +
                   (report.notes.empty() ? std::string() : ": " + report.notes.front());
      } else {
        checked.origin = a.patch.origin;
        patch = skill::patch_json(checked);
        accepted[position] = patch.dump();
      }
    }
    log_->add("analysis", id,
              json{{"position", position}, {"id", id}, {"attempt", retry_attempt_.count(position) ? retry_attempt_.at(position) : 0},
                   {"analyst", a.analyst}, {"status", a.status}, {"reason", a.reason},
                   {"patch", patch}, {"usage", usage_json(a.usage)}, {"calls", a.calls}, {"tool_calls", a.tool_calls},
                   {"wall_s", a.wall_s}, {"notes", a.notes}}
                  .dump());
    if (a.status == "failed" && first_failure.empty()) first_failure = a.reason;
    tally(a.status, a.usage.total_tokens);
    progress.update(mine);
    maybe_flush();
  };

  std::uint64_t next = first;
  std::size_t in_flight = 0;
  std::function<void()> fill = [&] {
    while (in_flight < job_.llm.max_in_flight && next < end && !stop_requested()) {  // on a stop: no new analysis
      const std::uint64_t position = next++;
      if (llm_done_.count(position)) continue;
      const store::IndexRow row = row_at(position);
      trace::Trajectory t = trajectories_.trajectory(row);
      const std::string analyst = analyze::analyst_for(t);
      if (!analyst.empty() && job_.analyst != "llm" && analyst != job_.analyst) {
        analyze::Analysis skipped;
        skipped.analyst = analyst;
        skipped.status = "skipped";
        skipped.reason = "the job runs the " + job_.analyst + " analyst only";
        record(position, row.id, std::move(skipped));
        continue;
      }
      ++in_flight;
      analysts.submit(row.id, t, [&, position, id = row.id](analyze::Analysis&& a) {
        --in_flight;
        record(position, id, std::move(a));
        llm_->client->post(fill);  // never recursively: a thousand analyses that end at once stay flat
      });
    }
  };
  fill();
  llm_->client->run();
  log_->flush();
  const auto totals = progress.finish(mine);

  // Totals on every rank, and the leaves: the accepted patches in id order.
  const auto sum = [&](std::uint64_t v) { return comm_.all_sum(v); };
  summary_.analysed = sum(mine.done);
  summary_.analysis_ok = sum(mine.ok), summary_.analysis_empty = sum(mine.empty);
  summary_.analysis_dropped = sum(mine.dropped), summary_.analysis_failed = sum(mine.failed);
  summary_.analysis_skipped = sum(mine.skipped);
  summary_.tokens = comm_.all_sum(mine.tokens);
  summary_.resumed_units = sum(mine.resumed);
  summary_.computed_units = summary_.analysed - summary_.resumed_units;
  (void)totals;
  // Nothing but failures (an unreachable or misconfigured model server): no skill from nothing.
  const auto reasons = comm_.all_gather(first_failure);
  if (summary_.analysis_failed > 0 && summary_.analysis_failed + summary_.analysis_skipped == trajectories_.size()) {
    std::string reason;
    for (const auto& r : reasons)
      if (reason.empty()) reason = r;
    throw Error("all " + std::to_string(summary_.analysis_failed) + " analyses failed, so no skill was written; the first "
                "reason: " + reason + "\nFix the cause (`t2s llm ping` checks the endpoint) and rerun the same command: "
                "failed analyses are tried again.");
  }
  const auto counts = comm_.all_gather(static_cast<std::uint64_t>(accepted.size()));
  Leaves leaves;
  for (const auto c : counts) leaves.first_of_rank.push_back(leaves.first_of_rank.back() + c);
  std::uint64_t leaf = leaves.first_of_rank[static_cast<std::size_t>(comm_.rank())];
  for (auto& [position, text] : accepted) leaves.mine[leaf++] = std::move(text);
  summary_.accepted_patches = leaves.count();
  metrics_["analyse_s"] = seconds_since(phase);
  metrics_["analyses"] = {{"total", trajectories_.size()}, {"ok", summary_.analysis_ok}, {"empty", summary_.analysis_empty},
                          {"dropped", summary_.analysis_dropped}, {"failed", summary_.analysis_failed},
                          {"skipped", summary_.analysis_skipped},
                          {"resumed", summary_.resumed_units}, {"tokens", summary_.tokens}};
  if (!stop_requested())
    say("analysis: " + std::to_string(summary_.accepted_patches) + " accepted patch(es) from " +
        std::to_string(trajectories_.size()) + " trajectories");
  return leaves;
}

// Merges the inputs of one level's nodes owned here: all LLM merges in flight at once, or the
// deterministic merge. `records` gets, per node, how it was merged.
std::vector<skill::Patch> EvolveRun::merge_level(std::vector<std::vector<skill::Patch>> inputs, std::vector<json>& records) {
  std::vector<skill::Patch> merged(inputs.size());
  records.assign(inputs.size(), json::object());
  if (!merger_) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      consolidate::MergeReport report;
      merged[i] = consolidate::merge_deterministic(inputs[i], merge_options_, &report);
      records[i] = {{"status", "ok"}, {"merge", "deterministic"}, {"reason", ""}, {"notes", report.notes}};
    }
    return merged;
  }
  for (std::size_t i = 0; i < inputs.size(); ++i)
    merger_->submit(std::move(inputs[i]), [&, i](consolidate::MergeOutcome&& o) {
      merged[i] = std::move(o.patch);
      records[i] = {{"status", o.fallback ? "fallback" : "ok"}, {"merge", "llm"}, {"reason", o.fallback_reason},
                    {"notes", o.report.notes}, {"usage", usage_json(o.usage)}};
    });
  llm_->client->run();
  return merged;
}

// The merge tree (or the sequential baseline) over the leaves; the root patch on rank 0.
std::string EvolveRun::consolidate(Leaves& leaves) {
  if (leaves.count() == 0) {
    root_path_ = {};
    return skill::patch_json(skill::Patch{}).dump();
  }
  if (job_.mode == "sequential") {
    // The online-editing baseline: rank 0 folds the leaves in, one at a time.
    std::string root;
    mpi::Comm::Outbox outbox(comm_);
    if (!comm_.is_main())
      for (const auto& [leaf, text] : leaves.mine) outbox.send(0, kLeafTag, text);
    if (comm_.is_main()) {
      skill::Patch accumulated;
      for (std::uint64_t leaf = 0; leaf < leaves.count(); ++leaf) {
        const int owner = leaves.owner(leaf);
        const std::string text = owner == 0 ? leaves.mine.at(leaf) : comm_.receive(owner, kLeafTag);
        const skill::Patch patch = skill::read_patch(text, "leaf " + std::to_string(leaf));
        std::vector<std::vector<skill::Patch>> pair(1);
        if (leaf > 0) pair[0].push_back(std::move(accumulated));
        pair[0].push_back(patch);
        std::vector<json> records;
        accumulated = std::move(merge_level(std::move(pair), records).front());
        summary_.merge_fallbacks += records.front().at("status") == "fallback";
      }
      root = skill::patch_json(accumulated).dump();
    }
    outbox.wait_all();
    root_path_ = {"sequential"};
    summary_.merge_nodes = leaves.count();
    return root;
  }

  const consolidate::MergeTree tree(leaves.count(), job_.tree);
  // node owner = owner of its first leaf
  const auto owner = [&](std::size_t level, std::uint64_t index) { return leaves.owner(tree.first_leaf(level, index)); };
  std::map<std::string, std::string> have;  // node name → patch JSON
  for (auto& [leaf, text] : leaves.mine) have[consolidate::MergeTree::node_name(0, leaf)] = std::move(text);
  leaves.mine.clear();
  std::set<std::string> finished;
  for (const auto& [key, text] : done_)
    if (key.starts_with("merge:")) {
      finished.insert(key.substr(6));
      have[key.substr(6)] = text;
    }
  std::uint64_t resumed_nodes = 0, nodes = 0, fallbacks = 0;
  for (std::size_t level = 1; level <= tree.levels(); ++level) {
    const int tag = kTreeTagBase + static_cast<int>(level);
    mpi::Comm::Outbox outbox(comm_);
    // send my children to the owners of unfinished parents elsewhere, in child order
    for (std::uint64_t i = 0; i < tree.nodes(level); ++i) {
      const int parent_owner = owner(level, i);
      if (finished.count(consolidate::MergeTree::node_name(level, i)) || parent_owner == comm_.rank()) continue;
      const auto [first, last] = tree.children(level, i);
      for (std::uint64_t c = first; c < last; ++c)
        if (owner(level - 1, c) == comm_.rank()) outbox.send(parent_owner, tag, have.at(consolidate::MergeTree::node_name(level - 1, c)));
    }
    // receive the children of my unfinished nodes, in node and child order, and merge them: LLM
    // merges all in flight at once, deterministic ones a node at a time (a level of a run over
    // millions of trajectories is never held parsed)
    std::vector<std::uint64_t> mine;
    std::vector<std::vector<skill::Patch>> inputs;
    const auto merge_inputs = [&] {
      std::vector<json> records;
      const auto merged = merge_level(std::move(inputs), records);
      for (std::size_t k = 0; k < mine.size(); ++k) {
        const std::uint64_t i = mine[k];
        const std::string name = consolidate::MergeTree::node_name(level, i);
        const json patch = skill::patch_json(merged[k]);
        have[name] = patch.dump();
        json record = records[k];
        fallbacks += record.at("status") == "fallback";
        const auto [first, last] = tree.children(level, i);
        record.update({{"level", level}, {"index", i}, {"first_child", first}, {"last_child", last}, {"patch", patch}});
        log_->add("merge", name, record.dump());
      }
      mine.clear();
      inputs.clear();
    };
    for (std::uint64_t i = 0; i < tree.nodes(level); ++i) {
      ++nodes;
      if (finished.count(consolidate::MergeTree::node_name(level, i))) {
        ++resumed_nodes;
        continue;
      }
      if (owner(level, i) != comm_.rank()) continue;
      const auto [first, last] = tree.children(level, i);
      std::vector<skill::Patch> children;
      for (std::uint64_t c = first; c < last; ++c) {
        const std::string child = consolidate::MergeTree::node_name(level - 1, c);
        const int child_owner = owner(level - 1, c);
        const std::string text = child_owner == comm_.rank() ? have.at(child) : comm_.receive(child_owner, tag);
        children.push_back(skill::read_patch(text, child));
      }
      mine.push_back(i);
      inputs.push_back(std::move(children));
      if (!merger_) merge_inputs();
    }
    merge_inputs();
    outbox.wait_all();
    log_->flush();  // each level is persisted before the next starts
    if (level < tree.levels()) stop_if_requested("merge");
    malloc_trim(0);  // the level's parsed patches are gone: return their pages before the next level
    // the level below is consumed: only this level feeds the next
    const std::string below = "L" + std::to_string(level - 1) + "/";
    for (auto it = have.lower_bound(below); it != have.end() && it->first.starts_with(below);) it = have.erase(it);
    say("merge level " + std::to_string(level) + "/" + std::to_string(tree.levels()) + ": " +
        std::to_string(tree.nodes(level)) + " node(s)");
  }
  summary_.merge_levels = tree.levels();
  summary_.merge_nodes = nodes;
  summary_.resumed_nodes = resumed_nodes;
  summary_.merge_fallbacks = comm_.all_sum(fallbacks);
  root_path_ = {consolidate::MergeTree::node_name(tree.levels(), 0)};
  // The root is computed by the owner of the first accepted patch, which need not be rank 0 (whose
  // trajectories may all have been dropped): it is sent there.
  const int root_owner = owner(tree.levels(), 0);
  if (root_owner == 0 || finished.count(root_path_.front())) return comm_.is_main() ? have.at(root_path_.front()) : std::string();
  if (comm_.rank() == root_owner) {
    mpi::Comm::Outbox outbox(comm_);
    outbox.send(0, kRootTag, have.at(root_path_.front()));
  }
  return comm_.is_main() ? comm_.receive(root_owner, kRootTag) : std::string();
}

EvolveSummary EvolveRun::run() {
  if (trajectories_.size() > std::numeric_limits<std::uint32_t>::max())
    throw InputError(job_.trajectories.string() + ": " + std::to_string(trajectories_.size()) +
                     " trajectories; one run takes at most 4294967295 (support sets hold 32-bit positions): split the store");
  refuse_without_outcomes(trajectories_, job_.trajectories.string(), job_.analyst);
  frozen_ = frozen_skill(job_, skill_name_);
  output_lock_ = lock_output(job_.output, comm_);  // one run at a time in the output directory
  merge_options_ = job_.merge;
  merge_options_.skill = &frozen_;  // merged patches are held to the skill engine's checks
  read_checkpoint();
  if (job_.uses_llm()) {
    llm_ = std::make_unique<LlmRuntime>(job_.llm, parts_, comm_, job_.tool_threads);
    if (job_.merge_kind == "llm") merger_ = std::make_unique<consolidate::LlmMerger>(*llm_->client, frozen_, job_.llm_merge);
    if (job_.analyst != "stats") analysts_ = std::make_unique<analyze::LlmAnalysts>(*llm_->client, *llm_->pool, frozen_, job_.analysts);
  }
  check_identity();
  summary_.trajectories = trajectories_.size();
  say(std::to_string(trajectories_.size()) + " trajectories from " + job_.trajectories.string() + ", on " +
      std::to_string(comm_.size()) + " rank(s); analyst " + job_.analyst + ", merge " + job_.merge_kind +
      (llm_ ? " (model " + llm_->endpoint.model + " at " + llm_->endpoint.display_url() + ", recording " +
                  std::string(llm::to_string(llm_->mode)) + ")"
            : "") +
      "; skill " + skill_name_ + (job_.skill.empty() ? " (new)" : " (from " + job_.skill.string() + ")"));

  Leaves leaves = job_.analyst == "stats" ? analyse_stats() : analyse_llm();
  stop_if_requested("analysis");
  metrics_["peak_rss_mb_after_analyse"] = comm_.all_max(peak_rss_mb());

  const auto phase = std::chrono::steady_clock::now();
  const std::string root_text = consolidate(leaves);
  metrics_["consolidate_s"] = seconds_since(phase);
  metrics_["peak_rss_mb_after_consolidate"] = comm_.all_max(peak_rss_mb());
  if (llm_) {
    llm_totals_ = json::object();
    for (const auto& [stage, totals] : llm_->client->totals()) llm_totals_[stage] = totals.to_json();
    merger_prompt_hash_ = merger_ ? merger_->prompt_hash() : "";
    release_llm();
  }
  char host_name[256] = {};
  gethostname(host_name, sizeof host_name - 1);
  hosts_ = comm_.gather(std::string(host_name));
  comm_.barrier();  // every checkpoint segment is on disk before rank 0 archives them
  if (comm_.is_main()) finish(root_text);
  return summary_;
}

void EvolveRun::release_llm() {
  if (!llm_) return;
  analysts_.reset();
  merger_.reset();
  llm_->release();
}

// A collective: when any rank was asked to stop, every rank ends the run here, its work so far
// checkpointed (the caller flushed), and a rerun resumes from there.
void EvolveRun::stop_if_requested(const std::string& phase) {
  if (!comm_.any(stop_requested())) return;
  release_llm();
  throw Interrupted("stopped on request during the " + phase + "; everything finished is checkpointed in " +
                    parts_.string() + "; rerun the same command to resume");
}

// Rank 0: prevalence, apply, validate, write the skill, archive the run, report.
void EvolveRun::finish(const std::string& root_text) {
  auto phase = std::chrono::steady_clock::now();
  const std::uint64_t population = trajectories_.size();
  skill::Patch root = skill::read_patch(root_text, "merge-tree root");
  // Stats lessons go in lesson order (failures, then habits, each by support): a merge keeps edits
  // where they first appear, which depends on how the rows were cut into units.
  std::map<std::string, std::size_t> lesson_rank;
  for (std::size_t i = 0; i < lessons_.size(); ++i) lesson_rank.emplace(lessons_[i].text, i);
  if (!lessons_.empty())
    std::stable_sort(root.edits.begin(), root.edits.end(), [&](const skill::Edit& a, const skill::Edit& b) {
      const auto rank = [&](const skill::Edit& e) {
        const auto it = lesson_rank.find(e.content);
        return it == lesson_rank.end() ? lessons_.size() : it->second;
      };
      return rank(a) < rank(b);
    });
  root.origin.population = population;
  root.origin.merge_path = root_path_;
  consolidate::PrevalencePolicy policy = job_.prevalence;
  policy.population = population;
  std::vector<consolidate::PrevalenceDecision> decisions;
  skill::Patch final_patch = consolidate::apply_prevalence(root, frozen_, policy, &decisions);
  final_patch.origin = root.origin;
  const skill::ApplyResult applied = skill::apply_patch(frozen_, skill_name_, final_patch);
  if (!applied.ok)
    throw Error("the consolidated patch does not give a valid skill, so nothing was written:\n" +
                skill::format_apply_result(applied, final_patch));
  summary_.skill_dir = job_.output / "skill" / skill_name_;
  skill::SkillDir result = applied.skill;

  // The archive gets every id in id order (its support sets hold positions); the skill's sidecar
  // names the first members of each block by id, from the same pass.
  summary_.archive = job_.output / "run.h5";
  store::RunArchiveWriter writer(summary_.archive);  // replaces an earlier run.h5 only when complete
  skill::Provenance provenance = skill::read_provenance(result);
  std::set<std::uint32_t> wanted;
  for (const auto& block : provenance.blocks) {
    const auto& positions = block.support.positions();
    wanted.insert(positions.begin(), positions.begin() + static_cast<std::ptrdiff_t>(std::min(positions.size(), kListedSupport)));
  }
  std::map<std::uint32_t, std::string> named;
  for_each_id_batch(trajectories_, [&](std::uint64_t first, const std::vector<std::string>& ids) {
    writer.append_trajectory_ids(ids);
    for (auto it = wanted.lower_bound(static_cast<std::uint32_t>(first)); it != wanted.end() && *it < first + ids.size(); ++it)
      named[*it] = ids[*it - first];
  });
  skill::name_positions(provenance, [&](std::uint32_t position) { return named.at(position); }, kListedSupport);
  skill::write_provenance(result, std::move(provenance));
  skill::write_skill_dir(result, summary_.skill_dir);
  summary_.valid = true;

  // --- lessons of the final skill, for the archive and the report
  std::map<std::string, std::string> id_by_text, key_by_text;
  for (const auto& l : lessons_) {
    id_by_text[l.text] = l.id();
    key_by_text[l.text] = l.key();
  }
  store::RunArchive archive;
  std::map<std::uint32_t, std::vector<std::string>> lessons_of;  // LLM analyses: trajectory position → lesson ids
  for (const auto& d : decisions) {
    if (d.edit >= root.edits.size()) continue;
    const skill::Edit& e = root.edits[d.edit];
    store::RunArchive::Lesson row;
    if (const auto it = id_by_text.find(e.content); it != id_by_text.end()) {
      row.id = it->second;
      row.kind = row.id.substr(0, row.id.find('-'));
      row.key = key_by_text.at(e.content);
    } else {
      row.id = "lesson-" + to_hex(sha256(e.file + '\0' + e.target_section + '\0' + e.content)).substr(0, 10);
      row.kind = job_.analyst == "stats" ? "merged" : "llm";
      for (const auto position : e.support.positions()) lessons_of[position].push_back(row.id);
    }
    using Action = consolidate::PrevalenceDecision::Action;
    row.placement = d.action == Action::kept ? e.file : d.action == Action::moved ? policy.references_file : "dropped";
    row.text = e.content;
    row.support = e.support.to_json().dump();
    row.support_count = e.support.size();
    row.population = population;
    row.merge_path = json(root_path_).dump();
    archive.lessons.push_back(std::move(row));
    ++(d.action == Action::kept ? summary_.promoted : d.action == Action::moved ? summary_.moved : summary_.dropped);
  }
  summary_.lessons = archive.lessons.size();
  std::stable_sort(archive.lessons.begin(), archive.lessons.end(),
                   [](const auto& a, const auto& b) { return a.support_count > b.support_count; });

  // --- the archive, streamed from the checkpoint
  std::uint64_t merge_rows = 0;
  // LLM analyses tried more than once: only the last attempt goes to the archive (stats units are
  // analysed once, and the log is not read for them twice).
  std::map<std::string, int> last_attempt;
  if (job_.analyst != "stats") store::visit_run_log(parts_, [&](store::RunRecord&& r) {
    if (r.kind != "analysis" || r.json.find("\"attempt\":") == std::string::npos) return;
    const json record = json::parse(r.json);
    const int attempt = record.value("attempt", 0);
    if (attempt > 0 || record.value("status", "") == "failed") {
      auto [it, inserted] = last_attempt.emplace(r.key, attempt);
      if (!inserted) it->second = std::max(it->second, attempt);
    }
  });
  {
    std::vector<store::RunArchive::Analysis> rows;
    std::vector<store::RunArchive::Node> nodes;
    store::visit_run_log(parts_, [&](store::RunRecord&& r) {
      if (r.kind == "analysis") {
        const json unit = json::parse(r.json);
        if (unit.contains("unit")) {
          for (const auto& row : unit.at("trajectories"))
            rows.push_back({row.at(0).get<std::string>(), "stats", unit.at("status").get<std::string>(), "", r.key,
                            row.at(1).get<std::string>(), "", 0, 0});
        } else {
          if (const auto last = last_attempt.find(r.key); last != last_attempt.end() && unit.value("attempt", 0) != last->second)
            return;  // superseded by a later attempt
          const auto found = lessons_of.find(unit.at("position").get<std::uint32_t>());
          rows.push_back({r.key, unit.at("analyst").get<std::string>(), unit.at("status").get<std::string>(),
                          unit.at("reason").get<std::string>(), r.key,
                          found == lessons_of.end() ? "[]" : json(found->second).dump(),
                          unit.at("patch").is_null() ? "" : unit.at("patch").dump(),
                          unit.at("usage").at("total_tokens").get<std::int64_t>(), unit.at("calls").get<std::int64_t>()});
        }
        if (rows.size() >= 4096) writer.append_analysis(rows), rows.clear();
      } else if (r.kind == "merge") {
        const json node = json::parse(r.json);
        nodes.push_back({r.key, node.at("status").get<std::string>(), node.value("merge", "deterministic"),
                         node.value("reason", ""), node.at("patch").dump(), node.at("level").get<std::int64_t>(),
                         node.at("index").get<std::int64_t>(), node.at("first_child").get<std::int64_t>(),
                         node.at("last_child").get<std::int64_t>()});
        writer.append_merge(nodes), nodes.clear();
        ++merge_rows;
      }
    });
    writer.append_analysis(rows);
  }
  // Every trajectory analysed once, every node merged once: anything else is a broken checkpoint.
  if (writer.analysis_rows() != trajectories_.size() || (job_.mode == "tree" && merge_rows != summary_.merge_nodes))
    throw Error(parts_.string() + ": the checkpoint holds " + std::to_string(writer.analysis_rows()) + " analyses for " +
                std::to_string(trajectories_.size()) + " trajectories and " + std::to_string(merge_rows) +
                " merge nodes for " + std::to_string(summary_.merge_nodes) + "; remove the output directory and rerun");
  std::vector<fs::path> recordings;
  if (std::error_code ec; fs::is_directory(parts_ / "llm", ec))
    for (const auto& entry : fs::directory_iterator(parts_ / "llm"))
      if (entry.path().filename().string().ends_with(".llm.h5")) recordings.push_back(entry.path());
  std::sort(recordings.begin(), recordings.end());
  writer.add_recordings(recordings);

  std::set<std::string> distinct_hosts(hosts_.begin(), hosts_.end());
  std::string host_list;
  for (const auto& h : distinct_hosts) host_list += (host_list.empty() ? "" : ",") + h;
  archive.provenance = {{"command", command_line_}, {"version", version()}, {"git_revision", git_revision()},
                        {"ranks", comm_.size()}, {"hosts", host_list}, {"started", started_utc_},
                        {"finished", now_utc()}, {"trajectories", job_.trajectories.string()},
                        {"analyst", job_.analyst}, {"mode", job_.mode}, {"merge", job_.merge_kind}};
  for (const auto& [key, value] : job_.provenance.items()) archive.provenance[key] = value;
  if (llm_) {
    archive.provenance["model"] = llm_->endpoint.model;
    archive.provenance["base_url"] = llm_->endpoint.display_url();
    archive.provenance["record_mode"] = std::string(llm::to_string(llm_->mode));
    if (!analyst_prompt_hash_.empty()) archive.provenance["analyst_prompt_hash"] = analyst_prompt_hash_;
    if (!merger_prompt_hash_.empty()) archive.provenance["merge_prompt_hash"] = merger_prompt_hash_;
  }
  const nlohmann::json slurm = slurm_provenance();
  for (const auto& [key, value] : slurm.items()) archive.provenance[key] = value;
  archive.job_text = job_.job_text;
  archive.libraries = libraries_;
  archive.skill_name = skill_name_;
  archive.skill_valid = true;
  for (const auto& [path, file] : result.files) archive.skill_files.emplace_back(path, file.bytes);
  archive.validation = skill::problems_json(applied.warnings).dump();  // a refused patch has thrown: only warnings remain
  metrics_["apply_s"] = seconds_since(phase);
  metrics_["peak_rss_mb_rank0"] = peak_rss_mb();
  metrics_["total_s"] = seconds_since(started_);
  if (!corpus_.is_null()) metrics_["corpus"] = corpus_;
  metrics_["merge"] = {{"levels", summary_.merge_levels}, {"nodes", summary_.merge_nodes}, {"resumed", summary_.resumed_nodes},
                       {"fan_in", job_.tree.fan_in}, {"mode", job_.mode}, {"merge", job_.merge_kind},
                       {"fallbacks", summary_.merge_fallbacks}};
  if (!llm_totals_.is_null()) metrics_["llm_rank0"] = llm_totals_;
  archive.metrics = metrics_;
  writer.finish(archive);

  // --- the report
  out_ << "\nLessons (support out of " << population << " trajectories):\n";
  std::size_t n = 0;
  for (const auto& l : archive.lessons) {
    char share[16];
    std::snprintf(share, sizeof share, "%5.1f%%", population ? 100.0 * static_cast<double>(l.support_count) / static_cast<double>(population) : 0.0);
    out_ << "  " << ++n << ". " << share << " (" << l.support_count << ")  -> " << l.placement << "\n     " << l.text << "\n";
  }
  if (archive.lessons.empty()) out_ << "  none: no pattern recurred often enough to become a lesson\n";
  if (job_.analyst != "stats")
    out_ << "\nAnalyses: " << summary_.analysis_ok << " ok, " << summary_.analysis_empty << " empty, "
         << summary_.analysis_dropped << " dropped, " << summary_.analysis_failed << " failed, "
         << summary_.analysis_skipped << " skipped (of " << population << "); "
         << summary_.tokens << " tokens; " << summary_.merge_fallbacks << " merge node(s) fell back to the deterministic merge\n";
  out_ << "\nSkill:   " << summary_.skill_dir.string() << " (valid; " << summary_.promoted << " lesson(s) in SKILL.md, "
       << summary_.moved << " in " << policy.references_file << ", " << summary_.dropped << " dropped)\n";
  for (const auto& warning : applied.warnings) out_ << "warning: " << skill::format_problem(warning) << "\n";
  out_ << "Archive: " << summary_.archive.string() << "  (t2s inspect " << summary_.archive.string() << ")\n";
  write_run_summary(job_.output,
                    {"evolve",
                     "skill " + skill_name_ + ": " + std::to_string(summary_.promoted) + " lesson(s) in SKILL.md, " +
                         std::to_string(summary_.moved) + " in references, " + std::to_string(summary_.dropped) + " dropped; from " +
                         std::to_string(population) + " trajectories" +
                         (job_.analyst != "stats" ? ", " + std::to_string(summary_.accepted_patches) + " accepted patch(es), " +
                                                        std::to_string(summary_.analysis_failed) + " failed analyses"
                                                  : ""),
                     {{"skill", summary_.skill_dir.string()}, {"trajectories", population}, {"lessons", summary_.lessons},
                      {"promoted", summary_.promoted}, {"moved", summary_.moved}, {"dropped", summary_.dropped},
                      {"accepted_patches", summary_.accepted_patches}, {"failed_analyses", summary_.analysis_failed},
                      {"tokens", summary_.tokens}}});
}

}  // namespace

EvolveSummary run_evolve(const EvolveJob& job, const mpi::Comm& comm, std::ostream& out, const std::string& command_line,
                         const nlohmann::json& libraries) {
  return EvolveRun(job, comm, out, command_line, libraries).run();
}

}  // namespace t2s::pipeline
