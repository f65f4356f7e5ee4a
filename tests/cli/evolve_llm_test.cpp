// `t2s evolve` with the LLM analysts, through the real binary and the real MPI launcher, against the
// scripted OpenAI-compatible server (tests/llm_server/scripts/evolve_analysts.json plays the model):
// success analysts, error analysts whose tool loop runs real commands in the sandbox and is judged
// by the real checker, log-only fallbacks, LLM merge nodes, recordings, replay at 1, 2 and 3 ranks,
// resume after a kill, and injected faults.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "testutil/run_command.hpp"
#include "testutil/t2s_cli.hpp"
#include "testutil/scripted_server.hpp"
#include "testutil/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using Result = t2s::test::CommandResult;
using t2s::test::read_file;
const std::string& kLauncher = t2s::test::mpi_launcher();
Result run(const std::string& arguments) { return t2s::test::run_t2s(arguments); }
Result run_mpi(int ranks, const std::string& arguments) { return t2s::test::run_t2s_mpi(ranks, arguments); }
std::map<std::string, std::string> tree(const fs::path& dir) { return t2s::test::file_tree(dir); }
using nlohmann::json;
using t2s::test::ScriptedServer;

const std::string kScript = std::string(T2S_SOURCE_DIR) + "/tests/llm_server/scripts/evolve_analysts.json";

// /analysis of a run archive, read with h5py: id → {analyst, status, reason, patch}.
std::map<std::string, json> analyses(const fs::path& archive) {
  const auto result = t2s::test::run_command(
      "/usr/bin/python3 -c \"import h5py, json, sys\n"
      "f = h5py.File(sys.argv[1], 'r')\n"
      "a = f['analysis']\n"
      "col = lambda n: [x.decode() for x in a[n][:]]\n"
      "position = {x.decode(): k for k, x in enumerate(f['trajectories']['id'][:])}\n"
      "print(json.dumps({i: {'analyst': an, 'status': s, 'reason': r, 'patch': p, 'tokens': int(t), 'position': position.get(i, -1)} "
      "for i, an, s, r, p, t in zip(col('id'), col('analyst'), col('status'), col('reason'), col('patch'), a['tokens'][:])}))\" " +
      archive.string() + " 2>/dev/null");
  std::map<std::string, json> rows;
  if (result.status != 0) return rows;
  const json parsed = json::parse(result.output);
  for (const auto& [id, row] : parsed.items()) rows[id] = row;
  return rows;
}

// What the scripted analysts must come to for one trajectory of the corpus (see the script): a success
// gets a patch; a failure with a gold answer passes the checker only when its checker feedback names
// the expected answer (the scripted agent's bash command digs it out of trajectory.json), else it is
// dropped; a failure without a gold answer gets the log-only analysis.
struct Expected {
  std::string analyst, status;
};
std::map<std::string, Expected> expected_from(const fs::path& jsonl, const fs::path& store) {
  // ids in file order, from `t2s export` of the store (the same order as the JSONL)
  std::map<std::string, Expected> out;
  std::ifstream in(jsonl);
  std::vector<json> records;
  for (std::string line; std::getline(in, line);) records.push_back(json::parse(line));
  const auto ids = t2s::test::run_command("/usr/bin/python3 -c \"import h5py, sys\n"
                                          "f = h5py.File(sys.argv[1], 'r')\n"
                                          "print('\\n'.join(x.decode() for x in f['trajectories/id'][:]))\" " +
                                          store.string() + " 2>/dev/null");
  std::istringstream lines(ids.output);
  std::size_t i = 0;
  for (std::string id; std::getline(lines, id) && i < records.size(); ++i) {
    const json& r = records[i];
    const bool success = r["outcome"]["success"].get<bool>();
    const json gold = r["task"].value("gold", json::object());
    if (success) {
      out[id] = {"success", "ok"};
    } else if (!gold.contains("answer")) {
      out[id] = {"error/log-only", "ok"};
    } else {
      bool named = false;
      for (const auto& m : r["outcome"]["detail"].value("mismatches", json::array())) named = named || m.value("field", "") == "answer";
      out[id] = {"error", named ? "ok" : "dropped"};
    }
  }
  return out;
}

class EvolveLlm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    temp_ = new t2s::test::TempDir();
    const auto synth = run("synth -o " + (*temp_ / "corpus").string() + " --trajectories 120 --seed 5");
    ASSERT_EQ(synth.status, 0) << synth.output;
    const auto ingest = run("ingest " + (*temp_ / "corpus/trajectories.jsonl").string() + " -o " + store());
    ASSERT_EQ(ingest.status, 0) << ingest.output;
  }
  static void TearDownTestSuite() {
    delete temp_;
    temp_ = nullptr;
  }
  static std::string store() { return (*temp_ / "trajectories.h5").string(); }

  std::string job(const std::string& output, const std::string& base_url, const std::string& extra = "") {
    const std::string text = "[evolve]\ntrajectories = \"" + store() + "\"\noutput = \"" + (local_ / output).string() +
                             "\"\nskill_name = \"sheet-lessons\"\nanalyst = \"llm\"\ncheckpoint_seconds = 0.1\n"
                             "[analyze.llm]\nmax_turns = 4\n"
                             "[llm]\nbase_url = \"" + base_url + "\"\nmodel = \"scripted-model\"\nmax_in_flight = 6\n" + extra;
    return local_.write(output + ".toml", text).string();
  }
  fs::path out(const std::string& output, const std::string& rest = "") const { return local_ / output / rest; }

  static t2s::test::TempDir* temp_;
  t2s::test::TempDir local_;
};
t2s::test::TempDir* EvolveLlm::temp_ = nullptr;

TEST_F(EvolveLlm, EveryTrajectoryGetsTheAnalysisItsOutcomeCallsFor) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer server(kScript);
  setenv("T2S_API_KEY", "sk-secret-never-stored-4711", 1);
  const auto result = run("evolve " + job("one", server.base_url()));
  unsetenv("T2S_API_KEY");
  ASSERT_EQ(result.status, 0) << result.output;

  const auto expected = expected_from(*temp_ / "corpus/trajectories.jsonl", store());
  const auto rows = analyses(out("one", "run.h5"));
  ASSERT_EQ(rows.size(), 120u) << "h5py could not read /analysis, or rows are missing";
  std::map<std::string, int> by_status;
  std::map<int, std::string> id_at;  // /trajectories/id: every id, in id order
  for (const auto& [id, row] : rows) id_at[row["position"].get<int>()] = id;
  ASSERT_EQ(id_at.size(), rows.size());
  ASSERT_EQ(id_at.begin()->first, 0);
  ASSERT_EQ(id_at.rbegin()->first, static_cast<int>(rows.size()) - 1);
  EXPECT_TRUE(std::is_sorted(id_at.begin(), id_at.end(), [](const auto& a, const auto& b) { return a.second < b.second; }));
  for (const auto& [id, want] : expected) {
    ASSERT_TRUE(rows.count(id)) << id;
    const json& row = rows.at(id);
    EXPECT_EQ(row["analyst"], want.analyst) << id;
    EXPECT_EQ(row["status"], want.status) << id << ": " << row["reason"];
    ++by_status[want.analyst + "/" + want.status];
    if (row["status"] == "ok") {
      // the program, not the model, decides the support: exactly this trajectory (its position)
      const json patch = json::parse(row["patch"].get<std::string>());
      ASSERT_FALSE(patch["edits"].empty()) << id;
      for (const auto& edit : patch["edits"]) EXPECT_EQ(edit["support"], json::array({row["position"]})) << id;
      EXPECT_GT(row["tokens"].get<int>(), 0) << id;
    }
    if (row["status"] == "dropped") EXPECT_NE(row["reason"].get<std::string>().find("no passing fix"), std::string::npos);
  }
  // the corpus exercises every path
  EXPECT_GT(by_status["success/ok"], 0);
  EXPECT_GT(by_status["error/ok"], 0) << "no error analysis passed the checker";
  EXPECT_GT(by_status["error/dropped"], 0);
  EXPECT_GT(by_status["error/log-only/ok"], 0);

  // the lessons carry the counted support, and the skill is valid
  const std::string body = read_file(out("one", "skill/sheet-lessons/SKILL.md"));
  EXPECT_NE(body.find("Recalculate the workbook and read the values back"), std::string::npos) << body;
  EXPECT_EQ(run("skill validate " + out("one", "skill/sheet-lessons").string()).status, 0);
  const auto inspect = run("inspect " + out("one", "run.h5").string() + " --json");
  ASSERT_EQ(inspect.status, 0) << inspect.output;
  const json report = json::parse(inspect.output);
  bool found = false;
  for (const auto& lesson : report["lessons"])
    if (lesson["text"].get<std::string>().find("Recalculate the workbook") != std::string::npos) {
      found = true;
      EXPECT_EQ(lesson["support_count"].get<int>(), by_status["success/ok"]) << lesson.dump();
    }
  EXPECT_TRUE(found) << inspect.output;
  EXPECT_NE(result.output.find("analysed 120/120"), std::string::npos) << result.output;

  // the recordings are archived, and the API key is nowhere
  const auto llm = t2s::test::run_command("/usr/bin/python3 -c \"import h5py, sys\n"
                                          "f = h5py.File(sys.argv[1], 'r')\n"
                                          "print(sum(int(g.attrs['count']) for g in f['llm'].values()))\" " +
                                          out("one", "run.h5").string());
  ASSERT_EQ(llm.status, 0) << llm.output;
  EXPECT_GE(std::stoi(llm.output), 120) << llm.output;
  const auto leaked = t2s::test::run_command("/usr/bin/python3 -c \"import h5py, sys\n"
                                             "f = h5py.File(sys.argv[1], 'r')\n"
                                             "print(sum(bytes(g['text'][:]).count(b'sk-secret-never-stored') for g in f['llm'].values()))\" " +
                                             out("one", "run.h5").string());
  EXPECT_EQ(leaked.output, "0\n") << "the API key is in the recorded exchanges";
  EXPECT_EQ(t2s::test::run_command("grep -r -l sk-secret-never-stored-4711 " + out("one").string()).output, "");
}

TEST_F(EvolveLlm, ReplayGivesTheSameSkillAtOneTwoAndThreeRanksWithoutAServer) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  std::string base_url;
  {
    ScriptedServer server(kScript);
    base_url = server.base_url();
    const auto recorded = run("evolve " + job("recorded", base_url, "[consolidate]\nmerge = \"llm\"\nfan_in = 3\n"));
    ASSERT_EQ(recorded.status, 0) << recorded.output;
  }  // the server is gone: a replay that called it would fail
  const auto first = tree(out("recorded", "skill"));
  ASSERT_FALSE(first.empty());
  for (int ranks : {1, 2, 3}) {
    const std::string name = "replay" + std::to_string(ranks);
    const auto replay = run_mpi(ranks, "evolve " + job(name, base_url,
                                                       "record = \"replay\"\nreplay_from = [\"" + out("recorded", "run.h5").string() +
                                                           "\"]\n[consolidate]\nmerge = \"llm\"\nfan_in = 3\n"));
    ASSERT_EQ(replay.status, 0) << replay.output;
    EXPECT_EQ(tree(out(name, "skill")), first) << ranks << " ranks";
    EXPECT_NE(replay.output.find("0 merge node(s) fell back"), std::string::npos) << replay.output;
  }
}

TEST_F(EvolveLlm, KilledRunResumesToTheSameSkill) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  ScriptedServer::Options options;
  options.latency_ms = 60;
  ScriptedServer server(kScript, options);
  const auto whole = run_mpi(2, "evolve " + job("whole", server.base_url()));
  ASSERT_EQ(whole.status, 0) << whole.output;

  const std::string job_file = job("killed", server.base_url());
  t2s::test::BackgroundCommand killed(kLauncher + " -n 2 " + T2S_BINARY + " evolve " + job_file + " >/dev/null 2>&1");
  ASSERT_TRUE(killed.started());
  // Kill once some analyses are on disk (several checkpoint segments), whatever the machine's speed.
  const auto segments = [&] {
    int n = 0;
    if (fs::exists(out("killed", "parts")))
      for (const auto& entry : fs::directory_iterator(out("killed", "parts"))) n += entry.path().extension() == ".h5";
    return n;
  };
  for (int i = 0; i < 600 && segments() < 5; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  killed.kill_all();

  const auto resumed = run_mpi(2, "evolve " + job_file);
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("from the checkpoint)"), std::string::npos) << "nothing was resumed:\n" << resumed.output;
  EXPECT_EQ(tree(out("killed", "skill")), tree(out("whole", "skill")));
  const auto rows = analyses(out("killed", "run.h5"));
  EXPECT_EQ(rows.size(), 120u);  // none lost, none twice
}

TEST_F(EvolveLlm, InjectedFaultsLeaveEveryTrajectoryAccountedFor) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  json script = json::parse(read_file(kScript));
  script["random_faults"] = {{"rate", 0.2}, {"seed", 11}, {"kinds", json::array({"reset", json{{"kind", "status"}, {"status", 503}}, "invalid_json"})}};
  // merges whose answers cite no input edit fall back to the deterministic merge
  for (auto& rule : script["rules"])
    if (rule["name"] == "merge") rule["json"]["edits"][0]["sources"] = json::array({"p99.e9"});
  ScriptedServer server(script);
  const auto result = run_mpi(2, "evolve " + job("faults", server.base_url(), "max_attempts = 1\n[consolidate]\nmerge = \"llm\"\n"));
  ASSERT_EQ(result.status, 0) << result.output;
  const auto rows = analyses(out("faults", "run.h5"));
  ASSERT_EQ(rows.size(), 120u);
  std::map<std::string, int> by_status;
  for (const auto& [id, row] : rows) {
    ++by_status[row["status"].get<std::string>()];
    if (row["status"] == "failed") EXPECT_FALSE(row["reason"].get<std::string>().empty()) << id;
  }
  EXPECT_GT(by_status["failed"], 0) << "a 20% fault rate with one attempt failed nothing";
  EXPECT_GT(by_status["ok"], 0);
  EXPECT_EQ(by_status["ok"] + by_status["dropped"] + by_status["failed"] + by_status["empty"], 120);
  // every merge node fell back, and says why
  const auto merge = t2s::test::run_command("/usr/bin/python3 -c \"import h5py, sys\n"
                                            "m = h5py.File(sys.argv[1], 'r')['merge']\n"
                                            "print(sorted(set(x.decode() for x in m['status'][:])), "
                                            "all(len(r) > 0 for r in m['reason'][:]), any(b'no usable edit' in r for r in m['reason'][:]))\" " +
                                            out("faults", "run.h5").string());
  EXPECT_EQ(merge.output, "['fallback'] True True\n") << merge.output;
  const auto inspect = run("inspect " + out("faults", "run.h5").string());
  EXPECT_NE(inspect.output.find("fell back to the deterministic merge"), std::string::npos) << inspect.output;
  EXPECT_NE(inspect.output.find("analyses (llm, model scripted-model):"), std::string::npos) << inspect.output;
  EXPECT_EQ(run("skill validate " + out("faults", "skill/sheet-lessons").string()).status, 0);
}

// With only the success analyst and three ranks, rank 0's trajectory (the smallest id) is a failure:
// the root of the tree is computed on another rank and must reach rank 0.
// The error analyst's sandbox holds a copy of the files the agent's run produced (the directory its
// meta.outputs names under analyze.llm.agent_outputs), and nothing a record names outside it.
TEST_F(EvolveLlm, TheErrorSandboxHoldsTheAgentsOutputFiles) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  // failed runs with a gold answer: the scripted error analyst lists outputs/ with its first command
  std::ifstream in(*temp_ / "corpus/trajectories.jsonl");
  std::vector<json> picked;
  for (std::string line; std::getline(in, line) && picked.size() < 3;) {
    const json r = json::parse(line);
    if (!r["outcome"]["success"].get<bool>() && r["task"].value("gold", json::object()).contains("answer")) picked.push_back(r);
  }
  ASSERT_EQ(picked.size(), 3u);
  picked[0]["meta"]["outputs"] = "run-0";
  picked[1]["meta"]["outputs"] = "../outside";
  picked[2]["meta"]["outputs"] = "run-0/../../outside";
  std::string jsonl;
  for (const auto& r : picked) jsonl += r.dump() + "\n";
  const fs::path outputs = local_ / "agent-outputs";
  local_.write("agent-outputs/run-0/result.xlsx", "cells");
  local_.write("agent-outputs/run-0/sheets/notes.txt", "notes");
  local_.write("outside/secret.txt", "not for the analyst");
  const fs::path store = local_ / "outputs.h5";
  ASSERT_EQ(run("ingest " + local_.write("outputs.jsonl", jsonl).string() + " -o " + store.string()).status, 0);

  ScriptedServer server(kScript);
  const auto result = run("evolve " + job("outputs", server.base_url()) + " --set evolve.trajectories=" + store.string() +
                          " --set analyze.llm.agent_outputs=" + outputs.string());
  ASSERT_EQ(result.status, 0) << result.output;
  std::set<std::string> tool_results;  // what the analysts' commands printed, as the model was shown it
  for (const auto& request : server.requests())
    if (request["body"].is_object())
      for (const auto& message : request["body"].value("messages", json::array()))
        if (message["role"] == "tool") tool_results.insert(message["content"].get<std::string>());
  std::size_t listed = 0;
  for (const auto& text : tool_results) {
    listed += text.find("outputs/result.xlsx\noutputs/sheets/notes.txt\n") != std::string::npos;
    EXPECT_EQ(text.find("secret.txt"), std::string::npos) << text;
  }
  EXPECT_EQ(listed, 1u) << "one analysis should see the agent's two files; tool results:\n"
                        << json(tool_results).dump(2);
}

TEST_F(EvolveLlm, TheRootReachesRankZeroWhenRankZeroHasNoPatch) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  const auto line = [](const std::string& task, bool success) {
    return json{{"task_id", task}, {"benchmark", "tiny"}, {"source", "test"},
                {"messages", json::array({{{"role", "user"}, {"content", "Sum the column in " + task}},
                                          {{"role", "assistant"}, {"content", "Done: 42"}}})},
                {"task", {{"instruction", "Sum the column in " + task}}},
                {"outcome", {{"success", success}, {"reward", success ? 1.0 : 0.0}}}}.dump() + "\n";
  };
  std::string tiny;
  for (int k = 0; k < 50; ++k) {
    const fs::path jsonl = local_.write("tiny.jsonl", line("task-a", false) + line("task-b", false) + line("task-s" + std::to_string(k), true));
    fs::remove(local_ / "tiny.h5");
    ASSERT_EQ(run("ingest " + jsonl.string() + " -o " + (local_ / "tiny.h5").string()).status, 0);
    const auto ids = t2s::test::run_command("/usr/bin/python3 -c \"import h5py, sys\n"
                                            "i = [x.decode() for x in h5py.File(sys.argv[1], 'r')['trajectories/id'][:]]\n"
                                            "print(int(i[2] != min(i)))\" " + (local_ / "tiny.h5").string());
    if (ids.output == "1\n") {
      tiny = (local_ / "tiny.h5").string();
      break;
    }
  }
  ASSERT_FALSE(tiny.empty()) << "no variant put the success after a failure";
  ScriptedServer server(kScript);
  const auto result = run_mpi(3, "evolve " + job("tiny", server.base_url()) + " --set evolve.trajectories=" + tiny +
                                     " --set evolve.analyst=success");
  ASSERT_EQ(result.status, 0) << result.output;
  std::string all;  // one supporting trajectory: below min_support, so the lesson is in references/
  for (const auto& [path, bytes] : tree(out("tiny", "skill"))) all += bytes;
  EXPECT_NE(all.find("Recalculate the workbook"), std::string::npos) << result.output;
}

TEST_F(EvolveLlm, AnUnreachableServerWritesNothingAndARerunRetriesTheFailures) {
  T2S_SKIP_WITHOUT_SCRIPTED_SERVER();
  // Nothing listens on port 9 (discard): every analysis fails.
  const std::string job_file = job("retry", "http://127.0.0.1:9/v1", "max_attempts = 1\n");
  const auto down = run_mpi(2, "evolve " + job_file);
  EXPECT_NE(down.status, 0) << down.output;
  EXPECT_NE(down.output.find("all 120 analyses failed, so no skill was written"), std::string::npos) << down.output;
  EXPECT_FALSE(fs::exists(out("retry", "skill")));
  EXPECT_FALSE(fs::exists(out("retry", "run.h5")));
  // The server comes up elsewhere (a requeued job may find it on another node): the same job with
  // the new endpoint resumes, and every failed analysis is tried again.
  ScriptedServer server(kScript);
  const auto up = run_mpi(2, "evolve " + job_file + " --set llm.base_url=" + server.base_url());
  ASSERT_EQ(up.status, 0) << up.output;
  const auto rows = analyses(out("retry", "run.h5"));
  ASSERT_EQ(rows.size(), 120u);
  for (const auto& [id, row] : rows) EXPECT_NE(row["status"], "failed") << id << ": " << row["reason"];
}

TEST_F(EvolveLlm, ExplainsAMissingEndpointAndAnUnknownAnalyst) {
  const std::string text = "[evolve]\ntrajectories = \"" + store() + "\"\noutput = \"" + (local_ / "x").string() + "\"\n";
  const auto bad = run("evolve " + local_.write("bad.toml", text + "analyst = \"oracle\"\n").string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("evolve.analyst: \"oracle\" is not an analyst"), std::string::npos) << bad.output;
  const auto no_url = t2s::test::run_command("env -u T2S_BASE_URL " + std::string(T2S_BINARY) + " evolve " +
                                             local_.write("nourl.toml", text + "analyst = \"success\"\n").string());
  EXPECT_NE(no_url.status, 0);
  EXPECT_NE(no_url.output.find("T2S_BASE_URL"), std::string::npos) << no_url.output;
}

}  // namespace
