#include "t2s/pipeline/loop.hpp"

#include <algorithm>
#include <fstream>
#include <ostream>

#include "t2s/benchmarks/benchmark.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/pipeline/run_summary.hpp"

namespace t2s::pipeline {

namespace fs = std::filesystem;
using json = nlohmann::json;

TaskSplit split_tasks(const std::vector<std::string>& ids, double held_out, std::uint64_t seed) {
  TaskSplit split;
  for (const auto& id : ids) {
    const auto digest = sha256(std::to_string(seed) + '\0' + id);
    std::uint64_t head = 0;
    for (int i = 0; i < 8; ++i) head = (head << 8) | digest[static_cast<std::size_t>(i)];
    const double position = static_cast<double>(head) / 18446744073709551616.0;  // 2^64
    (position < held_out ? split.held_out : split.evolving).push_back(id);
  }
  std::sort(split.evolving.begin(), split.evolving.end());
  std::sort(split.held_out.begin(), split.held_out.end());
  if (split.evolving.empty() || split.held_out.empty())
    throw InputError("loop: splitting " + std::to_string(ids.size()) + " task(s) with held_out = " + std::to_string(held_out) +
                     " leaves the " + (split.evolving.empty() ? "evolving" : "held-out") + " split empty; use more tasks or another fraction");
  return split;
}

namespace {

// A path as a TOML string value, for Config::set.
std::string toml_string(const fs::path& path) {
  std::string quoted = "\"";
  for (const char c : path.string()) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

LoopJob LoopJob::from_config(Config config) {
  const std::string& name = config.name();
  const auto output = config.string("evolve.output");
  if (!output || output->empty()) throw InputError(name + ": evolve.output is required");
  if (config.has("evolve.trajectories"))
    throw InputError(name + ": evolve.trajectories: a job with [loop] makes its own trajectories (OUTPUT/rollouts); remove it");
  const fs::path out = *output;
  LoopJob job;
  job.held_out = config.number("loop.held_out").value_or(0.5);
  if (!(job.held_out > 0 && job.held_out < 1)) throw InputError(name + ": loop.held_out: must be between 0 and 1 (a fraction of the tasks)");
  if (const auto seed = config.integer("loop.split_seed")) job.split_seed = static_cast<std::uint64_t>(*seed);
  const auto eval_attempts = config.integer("loop.eval_attempts");
  const auto eval_seeds = config.integers("loop.eval_seeds");
  const auto resamples = config.integer("loop.resamples");
  const auto confidence = config.number("loop.confidence");

  config.set("evolve.trajectories=" + toml_string(out / "rollouts" / "trajectories.h5"));
  config.set("loop.output=" + toml_string(out / "rollouts"));
  job.rollout = RolloutJob::from_config(config, "loop");
  job.rollout.source = "t2s-loop";
  job.rollout.skill = config.string("evolve.skill").value_or("");
  config.reject_unread("loop");
  job.evolve = EvolveJob::from_config(config);

  EvalJob& eval = job.eval;
  eval.rollout = job.rollout;
  eval.rollout.source = "t2s-loop-eval";
  eval.rollout.output = eval.output = out / "eval";
  eval.rollout.fail_when_all_errors = false;
  if (eval_seeds) {
    eval.rollout.seeds.clear();
    if (eval_seeds->empty() || eval_seeds->size() > 1000) throw InputError(name + ": loop.eval_seeds: 1 to 1000 seeds");
    for (const auto s : *eval_seeds) {
      if (s < 0) throw InputError(name + ": loop.eval_seeds: must be whole numbers, 0 or more");
      eval.rollout.seeds.push_back(static_cast<std::uint64_t>(s));
    }
    eval.rollout.attempts = static_cast<int>(eval_seeds->size());
  }
  if (eval_attempts) {
    if (*eval_attempts < 1 || *eval_attempts > 1000) throw InputError(name + ": loop.eval_attempts: must be between 1 and 1000");
    eval.rollout.attempts = static_cast<int>(*eval_attempts);
  }
  if (resamples) {
    if (*resamples < 100 || *resamples > 10'000'000) throw InputError(name + ": loop.resamples: must be between 100 and 10000000");
    eval.bootstrap.resamples = static_cast<int>(*resamples);
  }
  if (confidence) {
    if (!(*confidence > 0.5 && *confidence < 1)) throw InputError(name + ": loop.confidence: must be between 0.5 and 1");
    eval.bootstrap.confidence = *confidence;
  }
  eval.comparisons = {{"before", "after"}};
  return job;
}

EvolveSummary run_loop(LoopJob job, const mpi::Comm& comm, std::ostream& out, const std::string& command_line,
                       const json& libraries) {
  const auto say = [&](const std::string& line) {
    if (comm.is_main()) out << "[loop] " << line << std::endl;
  };
  // 1. The split, from the benchmark's tasks (every rank computes the same).
  std::vector<std::string> ids;
  const auto benchmark = benchmarks::open_benchmark(job.rollout.benchmark, job.rollout.job_name + ": [benchmark]");
  for (const auto& task : benchmark->tasks()) ids.push_back(task.id);
  const TaskSplit split = split_tasks(ids, job.held_out, job.split_seed);
  std::vector<std::string> both;
  std::set_intersection(split.evolving.begin(), split.evolving.end(), split.held_out.begin(), split.held_out.end(), std::back_inserter(both));
  if (!both.empty()) throw Error("loop: task \"" + both.front() + "\" is in both splits");  // cannot happen; never let it pass
  const fs::path output = job.evolve.output;
  const std::string split_digest =
      to_hex(sha256(json{{"evolving", split.evolving}, {"held_out", split.held_out}}.dump())).substr(0, 16);
  const json split_record = {{"seed", job.split_seed}, {"held_out_fraction", job.held_out}, {"evolving", split.evolving},
                             {"held_out", split.held_out}, {"sha256", split_digest}};
  if (comm.is_main()) {
    fs::create_directories(output);
    std::ofstream file(output / "split.json", std::ios::binary | std::ios::trunc);
    file << split_record.dump(1) << "\n";
    if (!file) throw Error((output / "split.json").string() + ": cannot be written");
  }
  const std::string split_text = std::to_string(split.evolving.size()) + " evolving / " + std::to_string(split.held_out.size()) +
                                 " held-out task(s), seed " + std::to_string(job.split_seed) + ", sha256 " + split_digest;
  say("split: " + split_text + " (" + (output / "split.json").string() + ")");

  // 2. Rollouts with the starting skill on the evolving split.
  job.rollout.task_ids = split.evolving;
  say("rollouts on the evolving split");
  const RolloutSummary rollouts = run_rollout(job.rollout, comm, out, command_line);
  std::uint64_t errors = rollouts.errors;
  comm.broadcast(errors);
  // A skill evolved from part of the rollouts would be replaced by the one a rerun makes from all.
  if (errors > 0)
    throw Error("loop: " + std::to_string(errors) + " rollout attempt(s) ended in an infrastructure error (see " +
                (output / "rollouts" / "results.jsonl").string() + "); fix the cause and rerun the same command: they are "
                "retried, and the loop goes on from there");

  // 3. Analyse and consolidate them.
  say("evolving the skill from the rollouts");
  job.evolve.provenance["split"] = split_text;
  job.evolve.provenance["split_evolving"] = json(split.evolving).dump();
  job.evolve.provenance["split_held_out"] = json(split.held_out).dump();
  EvolveSummary summary = run_evolve(job.evolve, comm, out, command_line, libraries);
  std::string skill_dir = summary.skill_dir.string();
  comm.broadcast(skill_dir);

  // 4. Before against after, on the held-out split.
  say("evaluating before against after on the held-out split");
  job.eval.rollout.task_ids = split.held_out;
  job.eval.conditions = {{"before", job.rollout.skill, "", ""}, {"after", skill_dir, "", ""}};
  job.eval.provenance["split"] = split_text;
  job.eval.provenance["held_out_only"] = "yes: the evolving split's tasks are not evaluated";
  run_eval(job.eval, comm, out, command_line);
  if (comm.is_main()) {  // the loop's result: the skill, and before against after
    RunSummary loop{"loop", "", {{"skill", skill_dir}, {"lessons", summary.lessons}, {"promoted", summary.promoted}}};
    const auto evolved = read_run_summary(output), evaluated = read_run_summary(job.eval.output);
    if (evolved) loop.headline = evolved->headline;
    if (evaluated) {
      loop.headline += "; held out: " + evaluated->headline;
      loop.numbers["eval"] = evaluated->numbers;
    }
    write_run_summary(output, loop);
  }
  return summary;
}

}  // namespace t2s::pipeline
