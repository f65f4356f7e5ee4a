// pipeline/evolve: the evolve job (see the header).
#include "t2s/pipeline/evolve.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <numeric>
#include <ostream>
#include <set>

#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/core/version.hpp"
#include "t2s/skill/apply.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "t2s/skill/validate.hpp"
#include "t2s/store/run_archive.hpp"
#include "t2s/store/run_log.hpp"
#include "t2s/store/trajectory_store.hpp"

namespace t2s::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kTreeTagBase = 100;  // MPI tag of merge level l: kTreeTagBase + l
constexpr int kLeafTag = 99;       // leaves sent to rank 0 by the sequential baseline

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

// Sums a per-rank value (FeatureCounts, Evidence) over all ranks; every rank gets the total. The
// values travel as JSON text and are merged on rank 0 in rank order.
template <typename T>
T all_merged(const mpi::Comm& comm, const T& local) {
  const auto texts = comm.gather(local.to_json().dump());
  std::string merged;
  if (comm.is_main()) {
    T total = T::from_json(json::parse(texts.front()));
    for (std::size_t i = 1; i < texts.size(); ++i) total.merge(T::from_json(json::parse(texts[i])));
    merged = total.to_json().dump();
  }
  comm.broadcast(merged);
  return T::from_json(json::parse(merged));
}

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

// Calls f(id, trajectory) for the trajectories of units [first, end), in storage order.
template <typename F>
void for_each_trajectory(const store::TrajectoryStore& store, const Units& units, std::uint64_t first, std::uint64_t end,
                         F&& f) {
  if (first >= end) return;
  const std::uint64_t first_row = units.rows(first).first;
  const std::uint64_t end_row = units.rows(end - 1).first + units.rows(end - 1).second;
  store.for_each_trajectory(first_row, end_row - first_row,
                            [&](const store::IndexRow& row, const trace::Trajectory& t) { f(row.id, t); });
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
      {&job.stats.failure_section, "Failures that recur in past runs, with what the failing runs did."},
      {&job.stats.habit_section, "What the successful runs did that the failing ones did not."}};
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

std::string lessons_list(const std::vector<std::uint32_t>& lessons, const std::vector<analyze::Lesson>& all) {
  json ids = json::array();
  for (auto l : lessons) ids.push_back(all[l].id());
  return ids.dump();
}

}  // namespace

// ------------------------------------------------------------------------------------------ job

EvolveJob EvolveJob::from_config(const Config& config) {
  EvolveJob job;
  job.job_text = config.text();
  job.job_name = config.name();
  job.effective = config.effective();
  const auto required = [&](const char* key) {
    auto value = config.string(key);
    if (!value || value->empty()) throw InputError(config.name() + ": " + key + " is required");
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
  if (job.analyst != "stats")
    throw InputError(config.name() + ": evolve.analyst: \"" + job.analyst +
                     "\" is not available in this build; the analysts are: stats");
  const auto positive = [&](const char* key, std::uint64_t fallback) {
    const auto value = config.integer(key);
    if (!value) return fallback;
    if (*value < 1) throw InputError(config.name() + ": " + key + ": must be at least 1");
    return static_cast<std::uint64_t>(*value);
  };
  job.block = positive("evolve.block", job.block);
  job.checkpoint_every = positive("evolve.checkpoint_every", job.checkpoint_every);
  job.mode = config.string("evolve.mode").value_or("tree");
  if (job.mode != "tree" && job.mode != "sequential")
    throw InputError(config.name() + ": evolve.mode: must be \"tree\" or \"sequential\", not \"" + job.mode + "\"");

  job.tree.fan_in = positive("consolidate.fan_in", job.tree.fan_in);
  if (job.tree.fan_in < 2) throw InputError(config.name() + ": consolidate.fan_in: must be at least 2");
  if (const auto levels = config.integer("consolidate.max_levels")) {
    if (*levels < 0) throw InputError(config.name() + ": consolidate.max_levels: must be 0 (unlimited) or more");
    job.tree.max_levels = static_cast<std::uint64_t>(*levels);
  }
  if (const auto merge = config.string("consolidate.merge"); merge && *merge != "deterministic")
    throw InputError(config.name() + ": consolidate.merge: \"" + *merge + "\" is not available in this build; use \"deterministic\"");
  if (const auto near = config.number("consolidate.near_equal")) {
    if (!(*near > 0 && *near <= 1)) throw InputError(config.name() + ": consolidate.near_equal: must be in (0, 1]");
    job.merge.near_equal = *near;
  }

  if (const auto fraction = config.number("prevalence.min_fraction")) {
    if (!(*fraction >= 0 && *fraction <= 1)) throw InputError(config.name() + ": prevalence.min_fraction: must be in [0, 1]");
    job.prevalence.min_fraction = *fraction;
  }
  if (const auto support = config.integer("prevalence.min_support")) {
    if (*support < 0) throw InputError(config.name() + ": prevalence.min_support: must be 0 or more");
    job.prevalence.min_support = static_cast<std::uint64_t>(*support);
  }
  if (const auto rare = config.string("prevalence.rare")) {
    if (*rare == "references") job.prevalence.rare = consolidate::PrevalencePolicy::Rare::references;
    else if (*rare == "drop") job.prevalence.rare = consolidate::PrevalencePolicy::Rare::drop;
    else throw InputError(config.name() + ": prevalence.rare: must be \"references\" or \"drop\", not \"" + *rare + "\"");
  }
  if (const auto file = config.string("prevalence.references_file")) job.prevalence.references_file = *file;

  job.stats = analyze::StatsOptions::from_json(config.table("analyze.stats"), config.name() + ": [analyze.stats]");
  for (const char* table : {"evolve", "consolidate", "prevalence", "analyze"})
    if (config.has(table)) config.reject_unread(table);
  return job;
}

// ------------------------------------------------------------------------------------------ run

EvolveSummary run_evolve(const EvolveJob& job, const mpi::Comm& comm, std::ostream& out, const std::string& command_line,
                         const nlohmann::json& libraries) {
  const auto started = std::chrono::steady_clock::now();
  const std::string started_utc = now_utc();
  json metrics = json::object();
  const auto say = [&](const std::string& line) {
    if (comm.is_main()) out << "[evolve] " << line << std::endl;
  };
  EvolveSummary summary;
  const fs::path parts = job.output / "parts";

  const store::TrajectoryStore trajectories(job.trajectories);
  const Units units(trajectories.size(), job.block, comm.size());
  const std::uint64_t my_first = units.first_of_rank[static_cast<std::size_t>(comm.rank())];
  const std::uint64_t my_end = units.first_of_rank[static_cast<std::size_t>(comm.rank()) + 1];
  std::string skill_name;
  const skill::SkillDir frozen = frozen_skill(job, skill_name);

  // What earlier attempts of this job completed. Everyone reads before anyone writes. Kept: the
  // decisions, this rank's unit patches and the merge nodes (per-trajectory rows go straight from
  // the checkpoint to the archive at the end).
  std::map<std::string, std::string> done;  // "kind:key" → JSON (analysis and merge: the patch)
  std::string done_keys;
  store::visit_run_log(parts, [&](store::RunRecord&& r) {
    done_keys += r.kind + ":" + r.key + "\n";
    if (r.kind == "analysis") {
      const json record = json::parse(r.json);
      const std::uint64_t unit = record.at("unit").get<std::uint64_t>();
      if (unit >= my_first && unit < my_end) done.emplace(r.kind + ":" + r.key, record.at("patch").dump());
    } else if (r.kind == "merge") {
      done.emplace(r.kind + ":" + r.key, json::parse(r.json).at("patch").dump());
    } else {
      done.emplace(r.kind + ":" + r.key, std::move(r.json));
    }
  });
  // Every rank must resume from the same checkpoint (a file system that shows a segment to one node
  // and not to another would make the ranks disagree on what is left to do, and hang).
  const auto seen = comm.all_gather(to_hex(sha256(done_keys)));
  if (std::adjacent_find(seen.begin(), seen.end(), std::not_equal_to<>()) != seen.end())
    throw Error(parts.string() + ": the ranks see different checkpoint files (is the file system shared and coherent?)");

  // A checkpoint is valid for the same job (--set included) over the same starting skill and the
  // same trajectories with the same outcomes, in the same order.
  std::string skill_bytes;
  for (const auto& [path, file] : frozen.files) skill_bytes += path + '\0' + file.bytes + '\0';
  const std::string job_digest = to_hex(sha256(job.effective + '\0' + skill_bytes));
  const std::string store_digest = content_digest(trajectories);
  if (const auto it = done.find("job:job"); it != done.end()) {
    const json saved = json::parse(it->second);
    if (saved.at("sha256") != job_digest)
      throw InputError(job.output.string() + ": holds a run of a different job (the job file, a --set value or the "
                       "starting skill changed); use another output directory, or remove this one to start over");
    if (saved.at("trajectories_sha256") != store_digest)
      throw InputError(job.output.string() + ": holds a run over other trajectories (" + job.trajectories.string() +
                       " changed); use another output directory, or remove this one to start over");
  }
  store::RunLogWriter log(parts, "rank-" + std::to_string(comm.rank()) + "-of-" + std::to_string(comm.size()));
  if (comm.is_main() && !done.count("job:job")) {
    log.add("job", "job", json{{"sha256", job_digest}, {"trajectories_sha256", store_digest}, {"job", job.job_text}}.dump());
    log.flush();
  }

  summary.trajectories = trajectories.size();
  consolidate::MergeOptions merge_options = job.merge;
  merge_options.skill = &frozen;  // merged patches are held to the skill engine's checks
  say(std::to_string(trajectories.size()) + " trajectories from " + job.trajectories.string() + " in " +
      std::to_string(units.count) + " units of " + std::to_string(job.block) + ", on " + std::to_string(comm.size()) +
      " rank(s); skill " + skill_name + (job.skill.empty() ? " (new)" : " (from " + job.skill.string() + ")"));

  // --- lessons: counted over the whole corpus (stats analyst)
  auto phase = std::chrono::steady_clock::now();
  std::vector<analyze::Lesson> lessons;
  json corpus;
  if (const auto it = done.find("stats:lessons"); it != done.end()) {
    const json saved = json::parse(it->second);
    lessons = analyze::lessons_from_json(saved.at("lessons"));
    corpus = saved.at("corpus");
    say("lessons: " + std::to_string(lessons.size()) + " (from the checkpoint)");
  } else {
    analyze::FeatureCounts counts;
    for_each_trajectory(trajectories, units, my_first, my_end, [&](const std::string&, const trace::Trajectory& t) {
      counts.add(analyze::extract_features(t), analyze::label_of(t));
    });
    const auto total = all_merged(comm, counts);
    const auto candidates = analyze::candidates(total, job.stats);
    analyze::Evidence evidence;
    for_each_trajectory(trajectories, units, my_first, my_end, [&](const std::string&, const trace::Trajectory& t) {
      evidence.add(analyze::extract_features(t), analyze::label_of(t), candidates);
    });
    lessons = analyze::lessons(total, candidates, all_merged(comm, evidence), job.stats);
    corpus = {{"trajectories", total.trajectories}, {"successes", total.successes}, {"failures", total.failures},
              {"symptoms", total.symptoms.size()}, {"actions", total.actions.size()},
              {"symptom_groups", candidates.symptom_groups.size()}, {"habit_actions", candidates.habit_actions.size()}};
    if (comm.is_main()) {
      log.add("stats", "lessons", json{{"lessons", analyze::lessons_json(lessons)}, {"corpus", corpus}, {"options", job.stats.to_json()}}.dump());
      log.flush();
    }
    say("lessons: " + std::to_string(lessons.size()) + " from " + std::to_string(total.successes) + " successes and " +
        std::to_string(total.failures) + " failures (" + std::to_string(candidates.symptom_groups.size()) +
        " symptom groups, " + std::to_string(candidates.habit_actions.size()) + " habit actions examined)");
  }
  metrics["mine_s"] = seconds_since(phase);
  metrics["peak_rss_mb_after_mine"] = comm.all_max(peak_rss_mb());

  // --- analysis: every unit's patch (the leaves), checkpointed as they complete
  phase = std::chrono::steady_clock::now();
  const std::uint64_t population = trajectories.size();
  const analyze::LessonMatcher matcher(lessons);
  std::map<std::uint64_t, std::string> leaves;  // unit → patch JSON (mine, and any in the checkpoint)
  std::uint64_t resumed = 0, computed = 0, since_flush = 0;
  auto last_report = std::chrono::steady_clock::now();
  for (const auto& [key, text] : done)
    if (key.starts_with("analysis:unit/")) leaves[std::stoull(key.substr(14))] = text;
  for (std::uint64_t u = my_first; u < my_end; ++u) {
    if (leaves.count(u)) {
      ++resumed;
      continue;
    }
    std::vector<std::vector<std::string>> supports(lessons.size());
    json rows = json::array();
    for_each_trajectory(trajectories, units, u, u + 1, [&](const std::string& id, const trace::Trajectory& t) {
      const auto matched = matcher.match(analyze::extract_features(t), analyze::label_of(t));
      for (auto l : matched) supports[l].push_back(id);
      rows.push_back({id, lessons_list(matched, lessons)});
    });
    const json patch = skill::patch_json(analyze::lessons_patch(lessons, supports, population));
    log.add("analysis", Units::key(u),
            json{{"unit", u}, {"analyst", "stats"}, {"status", "ok"}, {"patch", patch}, {"trajectories", rows}}.dump());
    leaves[u] = patch.dump();
    ++computed;
    if (++since_flush >= job.checkpoint_every) {
      log.flush();
      since_flush = 0;
    }
    if (comm.is_main() && seconds_since(last_report) >= 5.0) {  // ranks work alike: rank 0 speaks for them
      last_report = std::chrono::steady_clock::now();
      say("analysis on rank 0: " + std::to_string(u + 1 - my_first) + "/" + std::to_string(my_end - my_first) + " units");
    }
  }
  log.flush();
  summary.resumed_units = comm.all_sum(resumed);
  summary.computed_units = comm.all_sum(computed);
  summary.analysed = trajectories.size();
  say("analysis: " + std::to_string(units.count) + " units (" + std::to_string(summary.resumed_units) +
      " from the checkpoint)");
  metrics["analyse_s"] = seconds_since(phase);
  metrics["peak_rss_mb_after_analyse"] = comm.all_max(peak_rss_mb());

  // --- consolidation
  phase = std::chrono::steady_clock::now();
  std::string root_text;
  std::vector<std::string> root_path;
  if (units.count == 0) {
    root_text = skill::patch_json(skill::Patch{}).dump();
  } else if (job.mode == "sequential") {
    // The online-editing baseline: rank 0 folds the leaves in, one at a time.
    {
      mpi::Comm::Outbox outbox(comm);
      if (!comm.is_main())
        for (std::uint64_t u = my_first; u < my_end; ++u) outbox.send(0, kLeafTag, leaves.at(u));
      if (comm.is_main()) {
        skill::Patch accumulated;
        for (std::uint64_t u = 0; u < units.count; ++u) {
          const int owner = units.owner(u);
          const std::string text = owner == 0 ? leaves.at(u) : comm.receive(owner, kLeafTag);
          const skill::Patch leaf = skill::read_patch(text, Units::key(u));
          const std::vector<skill::Patch> pair = u == 0 ? std::vector<skill::Patch>{leaf} : std::vector<skill::Patch>{accumulated, leaf};
          accumulated = consolidate::merge_deterministic(pair, merge_options);
        }
        root_text = skill::patch_json(accumulated).dump();
      }
      outbox.wait_all();
    }
    root_path = {"sequential"};
    summary.merge_nodes = units.count;
  } else {
    const consolidate::MergeTree tree(units.count, job.tree);
    // leaf owner = unit owner; node owner = owner of its first leaf
    const auto owner = [&](std::size_t level, std::uint64_t index) { return units.owner(tree.first_leaf(level, index)); };
    std::map<std::string, std::string> have;  // node name → patch JSON
    for (auto& [u, text] : leaves) have[consolidate::MergeTree::node_name(0, u)] = std::move(text);
    leaves.clear();
    std::set<std::string> finished;
    for (const auto& [key, text] : done)
      if (key.starts_with("merge:")) {
        finished.insert(key.substr(6));
        have[key.substr(6)] = text;
      }
    std::uint64_t resumed_nodes = 0, nodes = 0;
    for (std::size_t level = 1; level <= tree.levels(); ++level) {
      const int tag = kTreeTagBase + static_cast<int>(level);
      mpi::Comm::Outbox outbox(comm);
      // send my children to the owners of unfinished parents elsewhere, in child order
      for (std::uint64_t i = 0; i < tree.nodes(level); ++i) {
        const int parent_owner = owner(level, i);
        if (finished.count(consolidate::MergeTree::node_name(level, i)) || parent_owner == comm.rank()) continue;
        const auto [first, last] = tree.children(level, i);
        for (std::uint64_t c = first; c < last; ++c)
          if (owner(level - 1, c) == comm.rank()) outbox.send(parent_owner, tag, have.at(consolidate::MergeTree::node_name(level - 1, c)));
      }
      for (std::uint64_t i = 0; i < tree.nodes(level); ++i) {
        const std::string name = consolidate::MergeTree::node_name(level, i);
        ++nodes;
        if (finished.count(name)) {
          ++resumed_nodes;
          continue;
        }
        if (owner(level, i) != comm.rank()) continue;
        const auto [first, last] = tree.children(level, i);
        std::vector<skill::Patch> children;
        for (std::uint64_t c = first; c < last; ++c) {
          const std::string child = consolidate::MergeTree::node_name(level - 1, c);
          const int child_owner = owner(level - 1, c);
          const std::string text = child_owner == comm.rank() ? have.at(child) : comm.receive(child_owner, tag);
          children.push_back(skill::read_patch(text, child));
        }
        consolidate::MergeReport report;
        skill::Patch merged = consolidate::merge_deterministic(children, merge_options, &report);
        const json patch = skill::patch_json(merged);
        have[name] = patch.dump();
        log.add("merge", name,
                json{{"level", level}, {"index", i}, {"first_child", first}, {"last_child", last}, {"status", "ok"},
                     {"merge", "deterministic"}, {"notes", report.notes}, {"patch", patch}}.dump());
      }
      outbox.wait_all();
      log.flush();  // each level is persisted before the next starts
      // the level below is consumed: only this level feeds the next
      const std::string below = "L" + std::to_string(level - 1) + "/";
      for (auto it = have.lower_bound(below); it != have.end() && it->first.starts_with(below);) it = have.erase(it);
      say("merge level " + std::to_string(level) + "/" + std::to_string(tree.levels()) + ": " +
          std::to_string(tree.nodes(level)) + " node(s)");
    }
    summary.merge_levels = tree.levels();
    summary.merge_nodes = nodes;
    summary.resumed_nodes = resumed_nodes;
    if (comm.is_main()) root_text = have.at(consolidate::MergeTree::node_name(tree.levels(), 0));
    root_path = {consolidate::MergeTree::node_name(tree.levels(), 0)};
  }
  metrics["consolidate_s"] = seconds_since(phase);
  metrics["peak_rss_mb_after_consolidate"] = comm.all_max(peak_rss_mb());
  char host_name[256] = {};
  gethostname(host_name, sizeof host_name - 1);
  const auto hosts = comm.gather(std::string(host_name));
  comm.barrier();  // every checkpoint segment is on disk before rank 0 archives them
  if (!comm.is_main()) return summary;

  // --- prevalence, apply, validate, write (rank 0)
  phase = std::chrono::steady_clock::now();
  skill::Patch root = skill::read_patch(root_text, "merge-tree root");
  // Stats lessons go in lesson order (failures, then habits, each by support): a merge keeps edits
  // where they first appear, which depends on how the rows were cut into units.
  std::map<std::string, std::size_t> lesson_rank;
  for (std::size_t i = 0; i < lessons.size(); ++i) lesson_rank.emplace(lessons[i].text, i);
  std::stable_sort(root.edits.begin(), root.edits.end(), [&](const skill::Edit& a, const skill::Edit& b) {
    const auto rank = [&](const skill::Edit& e) {
      const auto it = lesson_rank.find(e.content);
      return it == lesson_rank.end() ? lessons.size() : it->second;
    };
    return rank(a) < rank(b);
  });
  root.origin.population = population;
  root.origin.merge_path = root_path;
  consolidate::PrevalencePolicy policy = job.prevalence;
  policy.population = population;
  std::vector<consolidate::PrevalenceDecision> decisions;
  skill::Patch final_patch = consolidate::apply_prevalence(root, frozen, policy, &decisions);
  final_patch.origin = root.origin;
  const skill::ApplyResult applied = skill::apply_patch(frozen, skill_name, final_patch);
  if (!applied.ok)
    throw Error("the consolidated patch does not give a valid skill, so nothing was written:\n" +
                skill::format_apply_result(applied, final_patch));
  summary.skill_dir = job.output / "skill" / skill_name;
  skill::SkillDir result = applied.skill;
  skill::write_skill_dir(result, summary.skill_dir);
  summary.valid = true;

  // --- lessons of the final skill, for the archive and the report
  std::map<std::string, std::string> id_by_text;
  for (const auto& l : lessons) id_by_text[l.text] = l.id();
  std::map<std::string, const skill::Edit*> root_by_text;
  for (const auto& e : root.edits) root_by_text[e.content] = &e;
  store::RunArchive archive;
  for (const auto& d : decisions) {
    if (d.edit >= root.edits.size()) continue;
    const skill::Edit& e = root.edits[d.edit];
    store::RunArchive::Lesson row;
    row.id = id_by_text.count(e.content) ? id_by_text[e.content] : "edit-" + to_hex(sha256(e.content)).substr(0, 8);
    row.kind = row.id.substr(0, row.id.find('-'));
    using Action = consolidate::PrevalenceDecision::Action;
    row.placement = d.action == Action::kept ? e.file : d.action == Action::moved ? policy.references_file : "dropped";
    row.text = e.content;
    row.support = json(e.support).dump();
    row.support_count = e.support.size();
    row.population = population;
    row.merge_path = json(root_path).dump();
    archive.lessons.push_back(std::move(row));
    ++(d.action == Action::kept ? summary.promoted : d.action == Action::moved ? summary.moved : summary.dropped);
  }
  summary.lessons = archive.lessons.size();
  std::stable_sort(archive.lessons.begin(), archive.lessons.end(),
                   [](const auto& a, const auto& b) { return a.support_count > b.support_count; });

  // --- the archive, streamed from the checkpoint
  summary.archive = job.output / "run.h5";
  store::RunArchiveWriter writer(summary.archive);  // replaces an earlier run.h5 only when complete
  std::uint64_t merge_rows = 0;
  {
    std::vector<store::RunArchive::Analysis> rows;
    std::vector<store::RunArchive::Node> nodes;
    store::visit_run_log(parts, [&](store::RunRecord&& r) {
      if (r.kind == "analysis") {
        const json unit = json::parse(r.json);
        for (const auto& row : unit.at("trajectories"))
          rows.push_back({row.at(0).get<std::string>(), unit.at("analyst").get<std::string>(),
                          unit.at("status").get<std::string>(), "", r.key, row.at(1).get<std::string>()});
        if (rows.size() >= 4096) writer.append_analysis(rows), rows.clear();
      } else if (r.kind == "merge") {
        const json node = json::parse(r.json);
        nodes.push_back({r.key, node.at("status").get<std::string>(), node.at("patch").dump(),
                         node.at("level").get<std::int64_t>(), node.at("index").get<std::int64_t>(),
                         node.at("first_child").get<std::int64_t>(), node.at("last_child").get<std::int64_t>()});
        writer.append_merge(nodes), nodes.clear();
        ++merge_rows;
      }
    });
    writer.append_analysis(rows);
  }
  // Every trajectory analysed once, every node merged once: anything else is a broken checkpoint.
  if (writer.analysis_rows() != trajectories.size() || (job.mode == "tree" && merge_rows != summary.merge_nodes))
    throw Error(parts.string() + ": the checkpoint holds " + std::to_string(writer.analysis_rows()) + " analyses for " +
                std::to_string(trajectories.size()) + " trajectories and " + std::to_string(merge_rows) +
                " merge nodes for " + std::to_string(summary.merge_nodes) + "; remove the output directory and rerun");
  std::set<std::string> distinct_hosts(hosts.begin(), hosts.end());
  std::string host_list;
  for (const auto& h : distinct_hosts) host_list += (host_list.empty() ? "" : ",") + h;
  archive.provenance = {{"command", command_line}, {"version", version()}, {"git_revision", git_revision()},
                        {"ranks", comm.size()}, {"hosts", host_list}, {"started", started_utc},
                        {"finished", now_utc()}, {"trajectories", job.trajectories.string()},
                        {"analyst", job.analyst}, {"mode", job.mode}};
  for (const char* variable : {"SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NODELIST"})
    if (const char* value = std::getenv(variable)) {
      std::string key = variable;
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      archive.provenance[key] = std::string(value);
    }
  archive.job_text = job.job_text;
  archive.libraries = libraries;
  archive.skill_name = skill_name;
  archive.skill_valid = true;
  for (const auto& [path, file] : result.files) archive.skill_files.emplace_back(path, file.bytes);
  archive.validation = skill::problems_json(applied.problems).dump();
  metrics["apply_s"] = seconds_since(phase);
  metrics["peak_rss_mb_rank0"] = peak_rss_mb();
  metrics["total_s"] = seconds_since(started);
  metrics["corpus"] = corpus;
  metrics["units"] = {{"total", units.count}, {"resumed", summary.resumed_units}, {"computed", summary.computed_units}};
  metrics["merge"] = {{"levels", summary.merge_levels}, {"nodes", summary.merge_nodes}, {"resumed", summary.resumed_nodes},
                      {"fan_in", job.tree.fan_in}, {"mode", job.mode}};
  archive.metrics = metrics;
  writer.finish(archive);

  // --- the report
  out << "\nLessons (support out of " << population << " trajectories):\n";
  std::size_t n = 0;
  for (const auto& l : archive.lessons) {
    char share[16];
    std::snprintf(share, sizeof share, "%5.1f%%", population ? 100.0 * static_cast<double>(l.support_count) / static_cast<double>(population) : 0.0);
    out << "  " << ++n << ". " << share << " (" << l.support_count << ")  -> " << l.placement << "\n     " << l.text << "\n";
  }
  if (archive.lessons.empty()) out << "  none: no pattern recurred often enough to become a lesson\n";
  out << "\nSkill:   " << summary.skill_dir.string() << " (valid; " << summary.promoted << " lesson(s) in SKILL.md, "
      << summary.moved << " in " << policy.references_file << ", " << summary.dropped << " dropped)\n";
  out << "Archive: " << summary.archive.string() << "  (t2s inspect " << summary.archive.string() << ")\n";
  return summary;
}

}  // namespace t2s::pipeline
