#include "t2s/pipeline/rollout.hpp"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <chrono>
#include <fstream>
#include <map>
#include <ostream>
#include <optional>
#include <set>

#include "t2s/agent/limits_config.hpp"
#include "t2s/agent/tool_loop.hpp"
#include "t2s/agent/tools.hpp"
#include "t2s/benchmarks/benchmark.hpp"
#include "t2s/core/error.hpp"
#include "t2s/core/files.hpp"
#include "t2s/core/interrupt.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/core/text.hpp"
#include "t2s/core/version.hpp"
#include "t2s/pipeline/output_lock.hpp"
#include "t2s/pipeline/run_summary.hpp"
#include "t2s/skill/frontmatter.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "t2s/store/run_log.hpp"
#include "t2s/store/trajectory_store.hpp"
#include "t2s/trace/readers.hpp"

namespace t2s::pipeline {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------------------------------- settings

AgentSettings AgentSettings::from_json(const json& table, const std::string& where) {
  AgentSettings a;
  if (table.is_null()) return a;
  if (!table.is_object()) throw InputError(where + ": must be a table");
  for (const auto& [key, value] : table.items()) {
    const std::string name = where + "." + key;
    const auto number = [&](double lo, double hi) {
      if (!value.is_number()) throw InputError(name + ": must be a number");
      const double v = value.get<double>();
      if (!(v >= lo && v <= hi)) throw InputError(name + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      return v;
    };
    if (key == "max_turns") a.max_turns = static_cast<int>(number(1, 1000));
    else if (key == "temperature") a.temperature = number(0, 2);
    else if (key == "max_tokens") a.max_tokens = static_cast<int>(number(16, 1e6));
    else if (agent::read_sandbox_limit(key, value, name, a.limits, a.disk_bytes)) continue;
    else if (key == "output_kb") a.limits.output_bytes = static_cast<std::size_t>(number(1, 1e6) * 1024);
    else if (key == "sandbox_root" && value.is_string()) a.sandbox_root = value.get<std::string>();
    else throw InputError(name + ": unknown key or wrong type");
  }
  return a;
}

RolloutJob RolloutJob::from_config(const Config& config, const std::string& table) {
  RolloutJob job;
  job.job_text = config.text();
  job.job_name = config.name();
  const std::string& name = config.name();
  const auto key = [&](const char* k) { return table + "." + k; };
  const auto output = config.string(key("output"));
  if (!output || output->empty()) throw InputError(name + ": " + key("output") + " is required");
  job.output = *output;
  job.skill = config.string(key("skill")).value_or("");
  job.model = config.string(key("model")).value_or("");
  job.source = config.string(key("source")).value_or(table == "eval" ? "t2s-eval" : job.source);
  if (const auto seeds = config.integers(key("seeds")))
    for (const auto s : *seeds) {
      if (s < 0) throw InputError(name + ": " + key("seeds") + ": must be whole numbers, 0 or more");
      job.seeds.push_back(static_cast<std::uint64_t>(s));
    }
  job.attempts = static_cast<int>(config.integer(key("attempts")).value_or(job.seeds.empty() ? 1 : static_cast<std::int64_t>(job.seeds.size())));
  if (job.attempts < 1 || job.attempts > 1000) throw InputError(name + ": " + key("attempts") + ": must be between 1 and 1000");
  if (const auto threads = config.integer(key("tool_threads"))) {
    if (*threads < 1 || *threads > 256) throw InputError(name + ": " + key("tool_threads") + ": must be between 1 and 256");
    job.tool_threads = static_cast<unsigned>(*threads);
  }
  if (const auto seconds = config.number(key("checkpoint_seconds"))) {
    if (!(*seconds >= 0)) throw InputError(name + ": " + key("checkpoint_seconds") + ": must be 0 or more");
    job.checkpoint_seconds = *seconds;
  }
  job.benchmark = config.table("benchmark");
  if (job.benchmark.is_null()) throw InputError(name + ": a [benchmark] table is required (kind, data)");
  job.agent = AgentSettings::from_json(config.table("agent"), name + ": [agent]");
  job.llm = LlmSettings::from_config(config);
  if (config.has("llm")) config.reject_unread("llm");
  if (table == "rollout" && config.has(table)) config.reject_unread(table);
  // What a checkpoint is for: the work (benchmark, agent, attempts, seeds), not where the output,
  // the model server or the sandboxes are, nor how fast we go. The model, the skill and the tasks'
  // content join it when the run starts.
  json agent = config.table("agent");
  if (agent.is_object()) agent.erase("sandbox_root");
  const json effective = {{"benchmark", job.benchmark}, {"agent", agent}, {"attempts", job.attempts}, {"seeds", job.seeds},
                          {"source", job.source}};
  job.effective = effective.dump();
  return job;
}

json AttemptResult::to_json() const {
  return {{"task_id", task_id}, {"attempt", attempt}, {"seed", seed}, {"status", status}, {"reason", reason},
          {"score", score}, {"loop_status", loop_status}, {"turns", turns}, {"tool_calls", tool_calls},
          {"usage", {{"prompt_tokens", usage.prompt_tokens}, {"completion_tokens", usage.completion_tokens},
                     {"total_tokens", usage.total_tokens}}},
          {"wall_s", wall_s}, {"trajectory_id", trajectory_id}};
}

AttemptResult AttemptResult::from_json(const json& j) {
  AttemptResult r;
  r.task_id = j.at("task_id").get<std::string>();
  r.attempt = j.at("attempt").get<int>();
  r.seed = j.at("seed").get<std::uint64_t>();
  r.status = j.at("status").get<std::string>();
  r.reason = j.at("reason").get<std::string>();
  r.score = j.at("score").get<double>();
  r.loop_status = j.at("loop_status").get<std::string>();
  r.turns = j.at("turns").get<int>();
  r.tool_calls = j.at("tool_calls").get<int>();
  r.usage.prompt_tokens = j.at("usage").at("prompt_tokens").get<std::int64_t>();
  r.usage.completion_tokens = j.at("usage").at("completion_tokens").get<std::int64_t>();
  r.usage.total_tokens = j.at("usage").at("total_tokens").get<std::int64_t>();
  r.wall_s = j.at("wall_s").get<double>();
  r.trajectory_id = j.at("trajectory_id").get<std::string>();
  return r;
}

// ------------------------------------------------------------------------------------------ run

namespace {

constexpr const char* kSystemPrompt =
    "You are an autonomous agent solving one task in a Linux working directory (your current directory). "
    "Tools: `bash` runs a shell command there (Python 3 is available; there is no network), `read_file` and "
    "`write_file` read and write files there. Work step by step: look at the files, compute the answer with "
    "code rather than by eye, and check it. When you are done, reply without calling a tool.";

std::string key_of(const std::string& task_id, int attempt) { return task_id + "#" + std::to_string(attempt); }

class Rollout {
 public:
  Rollout(const RolloutJob& job, const mpi::Comm& comm, std::ostream& out, std::string command_line)
      : job_(job), comm_(comm), out_(out), command_line_(std::move(command_line)), parts_(job.output / "parts"),
        benchmark_(benchmarks::open_benchmark(job.benchmark, job.job_name + ": [benchmark]")) {}

  RolloutSummary run();

 private:
  void say(const std::string& line) const {
    if (comm_.is_main()) out_ << "[rollout] " << line << std::endl;
  }
  void load_skill();
  void select_tasks();
  void read_checkpoint();
  void run_attempts();
  void finish();
  std::string system_prompt() const;
  void start(std::size_t task, int attempt, std::function<void(AttemptResult&&, std::string&&)> done);
  agent::Verdict judge(const benchmarks::Task& task, const agent::LoopOutcome& outcome, const agent::Sandbox& sandbox,
                       AttemptResult& result, std::string& record) const;

  const RolloutJob& job_;
  const mpi::Comm& comm_;
  std::ostream& out_;
  std::string command_line_;
  fs::path parts_;
  DirectoryLock output_lock_;  // rank 0: held for the whole run
  std::unique_ptr<benchmarks::Benchmark> benchmark_;
  std::vector<std::size_t> tasks_;  // indices into benchmark_->tasks(), in id order
  skill::SkillDir skill_;
  std::string skill_name_, skill_body_;
  std::string model_;               // the model the attempts ask for (the job's, else the endpoint's)
  std::set<std::string> done_;      // keys of attempts with a verdict (from the checkpoint)
  std::unique_ptr<LlmRuntime> llm_;
  std::unique_ptr<store::RunLogWriter> log_;
  RolloutSummary summary_;
  std::uint64_t attempts_done_ = 0;  // by this rank in this run
};

void Rollout::load_skill() {
  if (job_.skill.empty()) return;
  skill_ = skill::load_skill_dir(job_.skill);
  const std::string* md = skill_.text("SKILL.md");
  if (md == nullptr) throw InputError(job_.skill.string() + ": has no SKILL.md");
  skill_name_ = skill::directory_name(job_.skill);
  std::vector<std::string> lines;
  std::size_t at = 0;
  for (std::size_t nl; (nl = md->find('\n', at)) != std::string::npos; at = nl + 1) lines.push_back(md->substr(at, nl - at));
  if (at < md->size()) lines.push_back(md->substr(at));
  for (std::size_t i = skill::body_begin(lines); i < lines.size(); ++i) skill_body_ += lines[i] + "\n";
}

void Rollout::select_tasks() {
  const auto& all = benchmark_->tasks();
  std::set<std::string> wanted(job_.task_ids.begin(), job_.task_ids.end());
  for (std::size_t i = 0; i < all.size(); ++i)
    if (job_.task_ids.empty() || wanted.erase(all[i].id)) tasks_.push_back(i);
  if (!wanted.empty())
    throw InputError(job_.job_name + ": task \"" + *wanted.begin() + "\" is not a task of " + benchmark_->name());
}

// The checkpoint is for one job: the effective settings, the skill's bytes, the tasks and t2s's prompt.
void Rollout::read_checkpoint() {
  std::string identity = job_.effective + '\0' + model_ + '\0' + kSystemPrompt + '\0' + benchmarks::kAnswerInstruction + '\0';
  for (const auto& [path, file] : skill_.files) identity += path + '\0' + file.bytes + '\0';
  for (const auto i : tasks_) {
    const benchmarks::Task& task = benchmark_->tasks()[i];
    identity += json{{"id", task.id}, {"instruction", task.instruction}, {"gold", task.gold}, {"files", task.files_listed}}.dump() + '\0';
  }
  const std::string digest = to_hex(sha256(identity));
  std::string saved;
  store::visit_run_log(parts_, [&](store::RunRecord&& record) {
    if (record.kind == "job") saved = json::parse(record.json).at("sha256").get<std::string>();
    else if (record.kind == "attempt" && json::parse(record.json).at("result").at("status") != "error") done_.insert(record.key);
  });
  if (!saved.empty() && saved != digest)
    throw InputError(job_.output.string() + ": holds a rollout of a different job (the job file, a --set value, the skill or "
                     "the tasks changed); use another output directory, or remove this one to start over");
  // Every rank agrees on what the checkpoint holds (a shared file system, the same job).
  const auto seen = comm_.all_gather(std::to_string(done_.size()) + "/" + saved);
  if (std::adjacent_find(seen.begin(), seen.end(), std::not_equal_to<>()) != seen.end())
    throw Error(job_.output.string() + ": the ranks see different checkpoint files (is the output on a file system every node shares?)");
  log_ = std::make_unique<store::RunLogWriter>(parts_, "rollout-rank-" + std::to_string(comm_.rank()) + "-of-" + std::to_string(comm_.size()));
  if (comm_.is_main() && saved.empty()) {
    log_->add("job", "job", json{{"sha256", digest}, {"job", job_.job_text}}.dump());
    log_->flush();
  }
  comm_.barrier();  // the job record is on disk before any attempt is
}

std::string Rollout::system_prompt() const {
  std::string prompt = kSystemPrompt;
  if (!skill_body_.empty())
    prompt += "\n\n# Skill: " + skill_name_ + "\n\nFollow this skill. Its other files are under skill/ in your working "
              "directory: read them when it points to them.\n\n" + skill_body_;
  return prompt;
}

// One attempt: a sandbox with the task's files (and the skill's), the loop, then the checker on a
// pool thread (a checker may take seconds: LibreOffice, an external command).
void Rollout::start(std::size_t task_index, int attempt, std::function<void(AttemptResult&&, std::string&&)> done) {
  const benchmarks::Task& task = benchmark_->tasks()[task_index];
  auto result = std::make_shared<AttemptResult>();
  result->task_id = task.id;
  result->attempt = attempt;
  result->seed = job_.seed_of(attempt);
  const auto started = Clock::now();
  const auto error = [&](const std::string& reason) {
    result->status = "error";
    result->reason = reason;
    result->wall_s = std::chrono::duration<double>(Clock::now() - started).count();
    done(std::move(*result), "");
  };
  std::shared_ptr<agent::Sandbox> sandbox;
  try {
    agent::SandboxContents contents = task.files;
    for (const auto& [path, file] : skill_.files) contents.files["skill/" + path] = file.bytes;
    agent::SandboxOptions options;
    options.disk_bytes = job_.agent.disk_bytes;
    // A path that is the same on every run (commands print it), so a replay sends the same requests.
    options.prefix = "t2s-rollout-" + to_hex(sha256(benchmark_->name() + '\0' + key_of(task.id, attempt))).substr(0, 20);
    options.unique_suffix = false;
    const fs::path root = job_.agent.sandbox_root.empty() ? fs::path("/tmp/t2s-sandboxes") : job_.agent.sandbox_root;
    sandbox = std::make_shared<agent::Sandbox>(root, contents, options);
  } catch (const std::exception& e) {
    return error(std::string("the sandbox could not be set up: ") + e.what());
  }
  agent::LoopConfig loop;
  loop.system_prompt = system_prompt();
  loop.user_message = task.instruction;
  loop.tools = {agent::bash_tool(sandbox, job_.agent.limits), agent::read_file_tool(sandbox), agent::write_file_tool(sandbox)};
  loop.max_turns = job_.agent.max_turns;
  loop.request = {{"temperature", job_.agent.temperature}, {"max_tokens", job_.agent.max_tokens}, {"seed", result->seed}};
  if (!job_.model.empty()) loop.request["model"] = job_.model;
  loop.stage = "rollout";
  agent::start_tool_loop(*llm_->client, *llm_->pool, std::move(loop),
                         [this, &task, result, sandbox, started, done](agent::LoopOutcome outcome) mutable {
    result->loop_status = agent::to_string(outcome.status);
    result->turns = outcome.turns;
    result->tool_calls = outcome.tool_calls;
    result->usage = outcome.usage;
    if (outcome.status == agent::LoopStatus::failed) {
      result->status = "error";
      result->reason = "the agent loop failed: " + outcome.reason;
      result->wall_s = std::chrono::duration<double>(Clock::now() - started).count();
      done(std::move(*result), "");
      return;
    }
    // Out of turns: judged all the same, on what it left (usually a failure, and a lesson).
    auto hold = std::make_shared<llm::Client::Hold>(llm_->client->hold());
    llm_->pool->submit([this, &task, result, sandbox, started, done, hold, outcome = std::move(outcome)]() mutable {
      std::string record;
      try {
        const agent::Verdict verdict = judge(task, outcome, *sandbox, *result, record);
        (void)verdict;
      } catch (const std::exception& e) {
        result->status = "error";
        result->reason = e.what();
        record.clear();
      } catch (...) {
        result->status = "error";
        result->reason = "an unknown error while judging the attempt";
        record.clear();
      }
      sandbox.reset();  // the working directory goes as soon as the attempt is judged
      result->wall_s = std::chrono::duration<double>(Clock::now() - started).count();
      // Posted before the hold goes: the loop cannot end with this attempt unrecorded.
      llm_->client->post([result, done, record = std::move(record)]() mutable { done(std::move(*result), std::move(record)); });
      hold->release();
    });
  });
}

// The checker's verdict on an attempt and its trajectory record (canonical JSON). Throws with the
// reason when the checker cannot run or the record cannot be made.
agent::Verdict Rollout::judge(const benchmarks::Task& task, const agent::LoopOutcome& outcome, const agent::Sandbox& sandbox,
                              AttemptResult& result, std::string& record) const {
  agent::Verdict verdict;
  try {
    verdict = benchmark_->check(task, outcome.answer, sandbox);
  } catch (const std::exception& e) {
    throw Error(std::string("the checker could not run: ") + e.what());
  }
  result.status = verdict.passed ? "passed" : "failed";
  result.score = verdict.score;
  result.reason = repair_utf8(verdict.feedback);  // feedback may quote the agent's own bytes
  json r = {{"source", job_.source}, {"benchmark", benchmark_->name()}, {"task_id", task.id}, {"model", model_},
            {"attempt", result.attempt},
            {"outcome", {{"success", verdict.passed}, {"reward", verdict.score},
                         {"detail", {{"feedback", result.reason}, {"loop", result.loop_status}}}}},
            {"messages", outcome.transcript},
            {"task", {{"instruction", task.instruction}, {"files", task.files_listed}, {"gold", task.gold}}},
            {"meta", {{"seed", result.seed}, {"turns", result.turns}, {"skill", skill_name_}}}};
  try {
    const auto canonical = trace::canonical_record(
        trace::parse_openai_record(r.dump(-1, ' ', false, json::error_handler_t::replace), "attempt " + key_of(task.id, result.attempt)));
    result.trajectory_id = canonical.id;
    record = canonical.json;
  } catch (const std::exception& e) {
    throw Error(std::string("the trajectory could not be recorded: ") + e.what());
  }
  return verdict;
}

void Rollout::run_attempts() {
  const std::uint64_t attempts_per_task = static_cast<std::uint64_t>(job_.attempts);
  const std::uint64_t total = tasks_.size() * attempts_per_task;
  const auto [first, count] = mpi::shard_range(total, comm_.rank(), comm_.size());
  const std::uint64_t end = first + count;
  std::uint64_t next = first, mine_done = 0, mine_errors = 0;
  std::size_t in_flight = 0;
  auto last_flush = Clock::now();
  std::function<void()> fill = [&] {
    while (in_flight < job_.llm.max_in_flight && next < end && !stop_requested()) {  // on a stop: no new attempt
      const std::uint64_t unit = next++;
      const std::size_t task = tasks_[unit / attempts_per_task];
      const int attempt = static_cast<int>(unit % attempts_per_task);
      if (done_.count(key_of(benchmark_->tasks()[task].id, attempt))) continue;
      ++in_flight;
      start(task, attempt, [&](AttemptResult&& result, std::string&& record) {
        --in_flight;
        ++mine_done;
        mine_errors += result.status == "error";
        log_->add("attempt", key_of(result.task_id, result.attempt), json{{"result", result.to_json()}, {"record", record}}.dump(-1, ' ', false, json::error_handler_t::replace));
        if (std::chrono::duration<double>(Clock::now() - last_flush).count() >= job_.checkpoint_seconds) {
          log_->flush();
          last_flush = Clock::now();
        }
        llm_->client->post(fill);
      });
    }
  };
  fill();
  llm_->client->run();
  log_->flush();
  attempts_done_ = mine_done;
  const std::uint64_t ran = comm_.all_sum(mine_done), errors = comm_.all_sum(mine_errors);
  if (ran > 0 && errors == ran) {
    say("every one of the " + std::to_string(ran) + " attempt(s) ended in an infrastructure error");
  }
}

// Rank 0 reads every rank's checkpoint: the latest record of each attempt, the trajectories into
// the store, the results into results.jsonl.
void Rollout::finish() {
  comm_.barrier();  // every rank has flushed
  if (!comm_.is_main()) return;
  std::map<std::pair<std::string, int>, std::pair<AttemptResult, std::string>> latest;
  store::visit_run_log(parts_, [&](store::RunRecord&& record) {
    if (record.kind != "attempt") return;
    json j = json::parse(record.json);
    AttemptResult r = AttemptResult::from_json(j.at("result"));
    auto& slot = latest[{r.task_id, r.attempt}];
    // A verdict wins over an error; between two of a kind, the later one.
    if (slot.first.status.empty() || r.status != "error" || slot.first.status == "error")
      slot = {std::move(r), j.at("record").get<std::string>()};
  });
  // Every attempt of the run is accounted for: one whose record no segment holds is reported.
  for (const auto i : tasks_)
    for (int attempt = 0; attempt < job_.attempts; ++attempt) {
      const std::string& id = benchmark_->tasks()[i].id;
      auto& slot = latest[{id, attempt}];
      if (!slot.first.status.empty()) continue;
      slot.first.task_id = id;
      slot.first.attempt = attempt;
      slot.first.seed = job_.seed_of(attempt);
      slot.first.status = "error";
      slot.first.reason = "no checkpoint record of this attempt (is the output on a file system every rank shares?)";
    }
  const fs::path store_path = job_.output / "trajectories.h5";
  store::TrajectoryStoreWriter writer(store_path);
  std::ofstream results(job_.output / "results.jsonl.partial", std::ios::binary | std::ios::trunc);
  for (auto& [key, value] : latest) {
    auto& [result, record] = value;
    if (!record.empty()) {
      const auto t = trace::parse_openai_record(record, "checkpoint record " + key.first);
      summary_.stored += writer.add(t) ? 1 : 0;
    }
    results << result.to_json().dump() << "\n";
    if (result.status == "passed") ++summary_.passed;
    else if (result.status == "failed") ++summary_.failed;
    else ++summary_.errors;
    summary_.tokens += result.usage.total_tokens;
    summary_.results.push_back(std::move(result));
  }
  writer.commit({{"benchmark", benchmark_->name()}, {"command", command_line_}});
  results.close();
  if (!results) throw Error((job_.output / "results.jsonl").string() + ": cannot be written");
  commit_output(job_.output / "results.jsonl.partial", job_.output / "results.jsonl");
  summary_.trajectories = store_path;
}

RolloutSummary Rollout::run() {
  summary_.benchmark = benchmark_->name();
  load_skill();
  select_tasks();
  output_lock_ = lock_output(job_.output, comm_);  // one run at a time in the output directory
  if (comm_.is_main()) fs::create_directories(parts_);
  comm_.barrier();
  model_ = !job_.model.empty() ? job_.model : !job_.llm.model.empty() ? job_.llm.model
           : std::getenv("T2S_MODEL") ? std::string(std::getenv("T2S_MODEL")) : std::string();
  read_checkpoint();
  summary_.tasks = tasks_.size();
  summary_.attempts = tasks_.size() * static_cast<std::uint64_t>(job_.attempts);
  summary_.resumed = comm_.is_main() ? done_.size() : 0;
  llm_ = std::make_unique<LlmRuntime>(job_.llm, parts_, comm_, job_.tool_threads);
  model_ = summary_.model = job_.model.empty() ? llm_->endpoint.model : job_.model;
  say(std::to_string(summary_.tasks) + " task(s) of " + summary_.benchmark + " x " + std::to_string(job_.attempts) +
      " attempt(s) on " + std::to_string(comm_.size()) + " rank(s), model " + summary_.model + " at " +
      llm_->endpoint.display_url() + (skill_name_.empty() ? ", no skill" : ", skill " + skill_name_) +
      (done_.empty() ? "" : "; " + std::to_string(done_.size()) + " attempt(s) already done"));
  run_attempts();
  llm_->release();
  if (comm_.any(stop_requested()))
    throw Interrupted("stopped on request after " + std::to_string(comm_.all_sum(attempts_done_)) +
                      " more attempt(s), all checkpointed in " + parts_.string() + "; rerun the same command to resume");
  finish();
  if (comm_.is_main()) {
    say("passed " + std::to_string(summary_.passed) + ", failed " + std::to_string(summary_.failed) + ", errors " +
        std::to_string(summary_.errors) + " of " + std::to_string(summary_.attempts) + " attempt(s); " +
        std::to_string(summary_.stored) + " trajectories in " + summary_.trajectories.string() + "; " +
        std::to_string(summary_.tokens) + " tokens");
    if (summary_.errors > 0)
      say("attempts with an infrastructure error have no verdict (see results.jsonl); rerun the same command to retry them");
    write_run_summary(job_.output, {"rollout",
                                    summary_.benchmark + ", model " + summary_.model + ": passed " +
                                        count_and_share(summary_.passed, summary_.passed + summary_.failed) + " of the attempts with a verdict" +
                                        (summary_.errors ? "; " + std::to_string(summary_.errors) + " infrastructure error(s)" : ""),
                                    {{"benchmark", summary_.benchmark}, {"model", summary_.model}, {"tasks", summary_.tasks},
                                     {"attempts", summary_.attempts}, {"passed", summary_.passed}, {"failed", summary_.failed},
                                     {"errors", summary_.errors}, {"tokens", summary_.tokens}}});
  }
  std::uint64_t errors = summary_.errors, attempts = summary_.attempts;
  comm_.broadcast(errors);
  if (job_.fail_when_all_errors && attempts > 0 && errors == attempts) {
    std::string reason = summary_.results.empty() ? "" : summary_.results.front().reason;
    comm_.broadcast(reason);
    throw Error("every attempt ended in an infrastructure error; the first: " + reason +
                "\nFix the cause (`t2s llm ping` checks the endpoint) and rerun the same command.");
  }
  return summary_;
}

}  // namespace

RolloutSummary run_rollout(const RolloutJob& job, const mpi::Comm& comm, std::ostream& out, const std::string& command_line) {
  return Rollout(job, comm, out, command_line).run();
}

}  // namespace t2s::pipeline
