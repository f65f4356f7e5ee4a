// `t2s evolve` through the real binary and the real MPI launcher: the stats analysts on a synthetic
// corpus, the result at 1, 2 and 3 ranks, resume after a kill, and the run archive.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "testutil/run_command.hpp"
#include "testutil/t2s_cli.hpp"
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





// Starts `mpiexec -n RANKS t2s evolve JOB` and kills all of it, ranks included, after `delay_ms`,
// wherever it is.
void kill_evolve_after(int ranks, const std::string& job_file, int delay_ms) {
  t2s::test::BackgroundCommand job(kLauncher + " -n " + std::to_string(ranks) + " " + T2S_BINARY + " evolve " + job_file + " >/dev/null 2>&1");
  ASSERT_TRUE(job.started());
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  job.kill_all();
}

// One corpus and store for the whole suite (made with the real binary).
class Evolve : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    temp_ = new t2s::test::TempDir();
    const auto synth = run("synth -o " + (*temp_ / "corpus").string() + " --trajectories 900 --seed 3");
    ASSERT_EQ(synth.status, 0) << synth.output;
    const auto ingest = run("ingest " + (*temp_ / "corpus/trajectories.jsonl").string() + " -o " + store());
    ASSERT_EQ(ingest.status, 0) << ingest.output;
  }
  static void TearDownTestSuite() {
    delete temp_;
    temp_ = nullptr;
  }
  static std::string store() { return (*temp_ / "trajectories.h5").string(); }

  // A job into OUTPUT with small units so that there are many of them and several merge levels.
  std::string job(const std::string& output, const std::string& extra = "") {
    const std::string text = "[evolve]\ntrajectories = \"" + store() + "\"\noutput = \"" + (local_ / output).string() +
                             "\"\nskill_name = \"sheet-lessons\"\nblock = 16\ncheckpoint_every = 1\n" + extra;
    return local_.write(output + ".toml", text).string();
  }
  fs::path out(const std::string& output, const std::string& rest = "") const { return local_ / output / rest; }

  static t2s::test::TempDir* temp_;
  t2s::test::TempDir local_;
};
t2s::test::TempDir* Evolve::temp_ = nullptr;

TEST_F(Evolve, FindsThePlantedLessonsAndWritesAValidSkill) {
  const auto result = run("evolve " + job("one"));
  ASSERT_EQ(result.status, 0) << result.output;
  EXPECT_NE(result.output.find("Lessons (support out of 900 trajectories)"), std::string::npos) << result.output;
  const fs::path skill = out("one", "skill/sheet-lessons");
  const std::string body = read_file(skill / "SKILL.md");
  // the planted failure modes show up by their symptoms and the habits by what the runs did, each with
  // its evidence within tasks
  for (const char* expected : {"formula cells have no value", "should have been deleted", "`reverse=True`", "Within the same",
                               "## Known failure modes", "## What successful runs do"})
    EXPECT_NE(body.find(expected), std::string::npos) << expected << "\n" << body;
  const auto validate = run("skill validate " + skill.string());
  EXPECT_EQ(validate.status, 0) << validate.output;
  // the provenance sidecar gives every lesson its support
  const json provenance = json::parse(read_file(skill / ".trace2skill/provenance.json"));
  ASSERT_FALSE(provenance["blocks"].empty());
  for (const auto& block : provenance["blocks"]) EXPECT_GE(block["support"].size(), 3u) << block.dump();
}

TEST_F(Evolve, SameSkillAtOneTwoAndThreeRanks) {
  std::map<std::string, std::string> first;
  for (int ranks : {1, 2, 3}) {
    const std::string name = "ranks" + std::to_string(ranks);
    const auto result = run_mpi(ranks, "evolve " + job(name));
    ASSERT_EQ(result.status, 0) << result.output;
    const auto files = tree(out(name, "skill"));
    ASSERT_FALSE(files.empty());
    if (ranks == 1) first = files;
    else EXPECT_EQ(files, first) << ranks << " ranks";
  }
}

// Units are row ranges in storage order; the lessons are decided for the whole corpus, so how the
// rows are cut into units (and so the shape of the merge tree) does not change the skill, nor does
// the number of threads that extract and count the features.
TEST_F(Evolve, SameSkillWhateverTheUnitSizeFanInAndThreads) {
  ASSERT_EQ(run("evolve " + job("small-units") + " --set evolve.threads=1").status, 0);
  const auto big = run_mpi(2, "evolve " + job("big-units") + " --set evolve.block=100 --set consolidate.fan_in=2 --set evolve.threads=3");
  ASSERT_EQ(big.status, 0) << big.output;
  auto big_files = tree(out("big-units", "skill")), small_files = tree(out("small-units", "skill"));
  // the provenance names the tree's nodes, which differ; the blocks and their supports do not
  const std::string sidecar = "sheet-lessons/.trace2skill/provenance.json";
  const auto supports = [&](const std::string& text) {
    std::vector<json> out;
    for (const auto& block : json::parse(text)["blocks"]) out.push_back({block["file"], block["first_line"], block["support"]});
    return out;
  };
  ASSERT_TRUE(big_files.count(sidecar) && small_files.count(sidecar));
  EXPECT_EQ(supports(big_files[sidecar]), supports(small_files[sidecar]));
  big_files.erase(sidecar);
  small_files.erase(sidecar);
  EXPECT_EQ(big_files, small_files);
}

TEST_F(Evolve, ResumesAfterAKillWithoutRedoingOrLosingWork) {
  const auto reference = run("evolve " + job("reference"));
  ASSERT_EQ(reference.status, 0) << reference.output;
  bool resumed_some = false;
  for (int delay_ms : {150, 400, 800}) {
    const std::string name = "killed" + std::to_string(delay_ms);
    const std::string job_file = job(name);
    kill_evolve_after(2, job_file, delay_ms);
    const auto again = run_mpi(2, "evolve " + job_file);
    ASSERT_EQ(again.status, 0) << again.output;
    resumed_some = resumed_some || again.output.find("from the checkpoint") != std::string::npos;
    EXPECT_EQ(tree(out(name, "skill")), tree(out("reference", "skill"))) << "after a kill at " << delay_ms << " ms";
    // every trajectory analysed exactly once in the archive
    const auto inspect = run("inspect --json " + out(name, "run.h5").string());
    ASSERT_EQ(inspect.status, 0) << inspect.output;
    const json report = json::parse(inspect.output);
    EXPECT_EQ(report["analysis"]["ok"], 900) << report["analysis"].dump();
  }
  EXPECT_TRUE(resumed_some) << "no kill landed after a checkpoint: the resume path was not exercised";
}

// SIGUSR1 (Slurm's warning before the time limit, passed on by mpirun or srun): no new unit starts,
// everything done is checkpointed, exit 75; the rerun takes those units from the checkpoint and
// ends with the skill an uninterrupted run writes.
TEST_F(Evolve, AStopRequestCheckpointsAndTheRerunEndsWithTheSameSkill) {
  const std::string small_units = " --set evolve.block=4";  // 225 units, each flushed: a few seconds
  const auto reference = run_mpi(2, "evolve " + job("uninterrupted") + small_units);
  ASSERT_EQ(reference.status, 0) << reference.output;
  const std::string job_file = job("stopped");
  const auto stopped = t2s::test::run_command(
      kLauncher + " -n 2 " + T2S_BINARY + " evolve " + job_file + small_units + " > " + (local_ / "stopped.log").string() +
      " 2>&1 & pid=$!; for i in $(seq 600); do [ $(ls " + out("stopped", "parts").string() +
      " 2>/dev/null | grep -c '[.]h5$') -ge 5 ] && break; sleep 0.02; done; kill -USR1 $pid; wait $pid; echo \"exit $?\"; cat " +
      (local_ / "stopped.log").string());
  EXPECT_NE(stopped.output.find("exit 75"), std::string::npos) << stopped.output;
  EXPECT_NE(stopped.output.find("t2s: interrupted: stopped on request during the analysis"), std::string::npos) << stopped.output;
  EXPECT_FALSE(fs::exists(out("stopped", "run.h5")));

  const auto rerun = run_mpi(2, "evolve " + job_file + small_units);
  ASSERT_EQ(rerun.status, 0) << rerun.output;
  EXPECT_NE(rerun.output.find(" from the checkpoint)"), std::string::npos) << rerun.output;
  EXPECT_EQ(tree(out("stopped", "skill")), tree(out("uninterrupted", "skill")));
  const auto inspect = run("inspect --json " + out("stopped", "run.h5").string());
  ASSERT_EQ(inspect.status, 0) << inspect.output;
  EXPECT_EQ(json::parse(inspect.output)["analysis"]["ok"], 900);
}

// One run at a time in an output directory: a second run (here while the first is held stopped) is
// refused, naming the first; once the first is gone, crashed or killed, the lock is free and the
// rerun resumes to the skill an uninterrupted run writes.
TEST_F(Evolve, ASecondRunIntoTheSameOutputIsRefusedAndACrashedRunLeavesNoLock) {
  const std::string small_units = " --set evolve.block=4";  // 225 units, each flushed: a few seconds
  const auto reference = run_mpi(2, "evolve " + job("alone") + small_units);
  ASSERT_EQ(reference.status, 0) << reference.output;
  const std::string job_file = job("shared");
  const std::string lock = out("shared", ".t2s-lock").string();
  // the first run: its ranks (mpirun's children) stopped as soon as its lock names it; prints
  // mpirun's pid, then the pid the lock names
  const auto first = t2s::test::run_command(
      kLauncher + " -n 2 " + T2S_BINARY + " evolve " + job_file + small_units + " > " + (local_ / "first.log").string() +
      " 2>&1 & pid=$!; for i in $(seq 1000); do grep -q 't2s pid' " + lock + " 2>/dev/null && break; sleep 0.01; done; " +
      "pkill -STOP -P $pid; echo $pid; sed 's/.*t2s pid \\([0-9]*\\).*/\\1/' " + lock);
  ASSERT_EQ(first.status, 0) << first.output;
  std::istringstream pids(first.output);
  std::string launcher, holder;
  pids >> launcher >> holder;
  ASSERT_FALSE(holder.empty()) << first.output;
  const auto second = run_mpi(2, "evolve " + job_file + small_units);
  EXPECT_EQ(second.status, 2) << second.output;
  EXPECT_NE(second.output.find("another run is writing into this directory (t2s pid " + holder), std::string::npos) << second.output;
  // the first run crashes while it holds the lock: its ranks are killed, then mpirun ends
  t2s::test::run_command("pkill -KILL -P " + launcher + "; for i in $(seq 1000); do kill -0 " + launcher +
                         " 2>/dev/null || break; sleep 0.01; done");
  EXPECT_FALSE(fs::exists(out("shared", "run.h5")));
  const auto rerun = run_mpi(2, "evolve " + job_file + small_units);
  ASSERT_EQ(rerun.status, 0) << rerun.output;
  EXPECT_EQ(tree(out("shared", "skill")), tree(out("alone", "skill")));
}

// A full disk (a real 192 KiB tmpfs): the run fails with exit 1 and no checkpoint segment is named
// complete unless it was written whole; with space freed, the rerun resumes and ends with the skill
// an uninterrupted run writes. Needs root to mount; skipped with a message otherwise.
TEST_F(Evolve, AFullDiskLeavesACheckpointTheRerunCanResume) {
  const fs::path disk = local_ / "disk";
  fs::create_directories(disk);
  if (t2s::test::run_command("mount -t tmpfs -o size=192k tmpfs " + disk.string()).status != 0)
    GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): the full-disk case is not exercised";
  struct Unmount {
    fs::path at;
    ~Unmount() { t2s::test::run_command("umount " + at.string()); }
  } unmount{disk};
  const auto reference = run("evolve " + job("roomy"));
  ASSERT_EQ(reference.status, 0) << reference.output;
  const std::string job_file = local_.write("full.toml", "[evolve]\ntrajectories = \"" + store() + "\"\noutput = \"" + (disk / "out").string() +
                                                             "\"\nskill_name = \"sheet-lessons\"\nblock = 16\ncheckpoint_every = 1\n").string();
  const auto full = run("evolve " + job_file);
  EXPECT_EQ(full.status, 1) << full.output;
  for (const auto& entry : fs::directory_iterator(disk / "out" / "parts"))
    EXPECT_EQ(entry.path().string().find(".partial"), std::string::npos) << entry.path();
  ASSERT_EQ(t2s::test::run_command("mount -o remount,size=64m " + disk.string()).status, 0);
  const auto rerun = run("evolve " + job_file);
  ASSERT_EQ(rerun.status, 0) << rerun.output;
  EXPECT_NE(rerun.output.find("from the checkpoint"), std::string::npos) << rerun.output;
  EXPECT_EQ(tree(disk / "out" / "skill"), tree(out("roomy", "skill")));
}

TEST_F(Evolve, ARunArchiveListsLessonsWithPrevalenceAndSources) {
  ASSERT_EQ(run("evolve " + job("archive")).status, 0);
  const fs::path archive = out("archive", "run.h5");
  const auto text = run("inspect " + archive.string());
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("lessons ("), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("sources:"), std::string::npos) << text.output;
  const json report = json::parse(run("inspect --json " + archive.string()).output);
  ASSERT_GE(report["lessons"].size(), 8u);
  std::uint64_t previous = UINT64_MAX;
  std::vector<json> promoted_supports;
  for (const auto& lesson : report["lessons"]) {
    // run.h5 holds positions into /trajectories/id; inspect turns them back into the trajectories' ids
    for (const auto& member : lesson["support"]) ASSERT_EQ(member.get<std::string>().size(), 64u) << member;
    EXPECT_TRUE(std::is_sorted(lesson["support"].begin(), lesson["support"].end()));
    if (lesson["placement"] == "SKILL.md") promoted_supports.push_back(lesson["support"]);
    EXPECT_EQ(lesson["support"].size(), lesson["support_count"].get<std::size_t>());
    EXPECT_EQ(lesson["population"], 900);
    // the feature a stats lesson rests on, stable whatever the counts in its text
    const std::string key = lesson["key"].get<std::string>();
    ASSERT_NE(key.find(':'), std::string::npos) << lesson.dump();
    std::string named = key.substr(key.find(':') + 1);  // "before:A<B" → A, "kw:reverse=True" → reverse=True
    named = named.substr(named.find_first_not_of(' '));
    named = named.substr(0, named.find_first_of("<\x1f"));
    EXPECT_NE(lesson["text"].get<std::string>().find(named), std::string::npos) << lesson.dump();
    EXPECT_EQ(lesson["id"].get<std::string>().rfind(lesson["kind"].get<std::string>() + "-", 0), 0u) << lesson.dump();
    EXPECT_LE(lesson["support_count"].get<std::uint64_t>(), previous);
    previous = lesson["support_count"].get<std::uint64_t>();
  }
  EXPECT_TRUE(report["skill"]["valid"].get<bool>());
  // the skill's sidecar names the same trajectories by id as the archive's lessons
  const json provenance = json::parse(read_file(out("archive", "skill/sheet-lessons/.trace2skill/provenance.json")));
  std::set<json> block_supports;
  for (const auto& block : provenance["blocks"]) {
    block_supports.insert(block["support"]);
    EXPECT_EQ(block["prevalence"], block["support"].size());  // 900 trajectories: every id is listed
  }
  ASSERT_FALSE(promoted_supports.empty());
  for (const auto& support : promoted_supports) EXPECT_TRUE(block_supports.count(support)) << support.dump();
  // the archive is plain HDF5: h5py reads the job text and the lesson table
  const auto h5py = t2s::test::run_command(
      "/usr/bin/python3 -c \"import h5py,sys; f=h5py.File(sys.argv[1]); "
      "assert f.attrs['format']=='trace2skill/run'; print(len(f['lessons/id']), f['provenance/job'].asstr()[0][:8])\" " +
      archive.string());
  EXPECT_EQ(h5py.status, 0) << h5py.output;
  EXPECT_NE(h5py.output.find("[evolve]"), std::string::npos) << h5py.output;
}

// A hand-written starting skill is deepened: its own text and files (a binary one too) carry through
// to the result and into the archive byte for byte.
TEST_F(Evolve, AStartingSkillIsDeepenedAndArchivedWhole) {
  const std::string binary("PNG\0\x01\xff\n\0end", 13);
  local_.write("start/sheet-start/SKILL.md",
               "---\nname: sheet-start\ndescription: Editing spreadsheets by hand-written rules.\n---\n\n# Sheets\n\n"
               "## Rules\n\nSave to outputs/.\n");
  local_.write("start/sheet-start/assets/logo.png", binary);
  const auto result = run("evolve " + job("deepen", "skill = \"" + (local_ / "start/sheet-start").string() + "\"\n"));
  ASSERT_EQ(result.status, 0) << result.output;
  const fs::path skill = out("deepen", "skill/sheet-start");
  EXPECT_EQ(read_file(skill / "assets/logo.png"), binary);
  const std::string body = read_file(skill / "SKILL.md");
  EXPECT_NE(body.find("## Rules\n\nSave to outputs/."), std::string::npos) << body;
  EXPECT_NE(body.find("## Known failure modes"), std::string::npos) << body;
  const auto h5py = t2s::test::run_command(
      "/usr/bin/python3 -c \"import h5py,sys,json; f=h5py.File(sys.argv[1]); s=f['skill']; "
      "paths=list(s['path'].asstr()[:]); i=paths.index('assets/logo.png'); o,n=int(s['offset'][i]),int(s['length'][i]); "
      "sys.stdout.write(s['bytes'][o:o+n].tobytes().hex()+' '+str(sorted(json.loads(f['provenance/libraries'].asstr()[0]))))\" " +
      out("deepen", "run.h5").string());
  ASSERT_EQ(h5py.status, 0) << h5py.output;
  std::string hex;
  for (unsigned char c : binary) {
    static const char* digits = "0123456789abcdef";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  EXPECT_EQ(h5py.output.substr(0, hex.size()), hex) << h5py.output;
  EXPECT_NE(h5py.output.find("hdf5"), std::string::npos) << h5py.output;
}

TEST_F(Evolve, AnotherJobInTheSameOutputIsRefused) {
  ASSERT_EQ(run("evolve " + job("shared")).status, 0);
  const auto other = run("evolve " + job("shared", "\n[consolidate]\nfan_in = 3\n"));
  EXPECT_EQ(other.status, 2) << other.output;
  EXPECT_NE(other.output.find("different job"), std::string::npos) << other.output;
}

TEST_F(Evolve, AnOverrideOnTheCommandLineIsAnotherJobToo) {
  ASSERT_EQ(run("evolve " + job("override")).status, 0);
  const auto other = run("evolve " + job("override") + " --set analyze.stats.min_support=5");
  EXPECT_EQ(other.status, 2) << other.output;
  EXPECT_NE(other.output.find("different job"), std::string::npos) << other.output;
}

TEST_F(Evolve, AKilledRunResumesAtAnotherRankCount) {
  const auto reference = run("evolve " + job("ref3"));
  ASSERT_EQ(reference.status, 0) << reference.output;
  const std::string job_file = job("moved");
  kill_evolve_after(2, job_file, 500);
  const auto again = run_mpi(3, "evolve " + job_file);
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(tree(out("moved", "skill")), tree(out("ref3", "skill")));
}

TEST_F(Evolve, BadJobsAreRefusedWithTheKey) {
  const auto unknown = run("evolve " + job("bad1", "\n[consolidate]\nfan_inn = 3\n"));
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.output.find("fan_inn"), std::string::npos) << unknown.output;
  const auto analyst = run("evolve " + job("bad2", "analyst = \"oracle\"\n"));
  EXPECT_EQ(analyst.status, 2);
  EXPECT_NE(analyst.output.find("evolve.analyst"), std::string::npos) << analyst.output;
  const auto fan = run("evolve " + job("bad3") + " --set consolidate.fan_in=1");
  EXPECT_EQ(fan.status, 2);
  EXPECT_NE(fan.output.find("fan_in"), std::string::npos) << fan.output;
  const auto threads = run("evolve " + job("bad4") + " --set evolve.threads=-1");
  EXPECT_EQ(threads.status, 2);
  EXPECT_NE(threads.output.find("evolve.threads"), std::string::npos) << threads.output;
}

// A store without the outcomes an analyst learns from is refused before anything runs, with the fix.
TEST_F(Evolve, AStoreWithoutBothOutcomesIsRefusedNamingTheFix) {
  const auto store_of = [&](const std::string& name, const std::string& label) {
    std::string lines;
    for (int i = 0; i < 6; ++i)
      lines += "{\"task_id\": \"t" + std::to_string(i % 3) + "\", \"messages\": [{\"role\": \"user\", \"content\": \"task " +
               std::to_string(i) + "\"}, {\"role\": \"assistant\", \"content\": \"done\"}]" + label + "}\n";
    const auto input = local_.write(name + ".jsonl", lines);
    const auto ingest = run("ingest " + input.string() + " -o " + (local_ / (name + ".h5")).string());
    EXPECT_EQ(ingest.status, 0) << ingest.output;
    return (local_ / (name + ".h5")).string();
  };
  const auto refused = [&](const std::string& store, const std::string& analyst, const std::string& words) {
    const std::string job_file = local_.write("refuse-" + analyst + ".toml", "[evolve]\ntrajectories = \"" + store + "\"\noutput = \"" +
                                                                          (local_ / ("refused-" + analyst)).string() +
                                                                          "\"\nskill_name = \"x\"\nanalyst = \"" + analyst + "\"\n").string();
    const auto result = run("evolve " + job_file);
    EXPECT_EQ(result.status, 2) << result.output;
    EXPECT_NE(result.output.find(words), std::string::npos) << result.output;
    EXPECT_FALSE(fs::exists(local_ / ("refused-" + analyst) / "skill")) << analyst;
  };
  const std::string unlabelled = store_of("unlabelled", "");
  refused(unlabelled, "stats", "has an outcome label");
  refused(unlabelled, "stats", "a top-level \"success\"");
  const std::string passing = store_of("passing", ", \"success\": true");
  refused(passing, "stats", "all 6 labelled trajectories succeeded");
  refused(passing, "error", "no labelled trajectory failed");
}

TEST_F(Evolve, SequentialBaselineGivesTheSameLessons) {
  ASSERT_EQ(run("evolve " + job("tree")).status, 0);
  const auto sequential = run("evolve " + job("sequential", "mode = \"sequential\"\n"));
  ASSERT_EQ(sequential.status, 0) << sequential.output;
  EXPECT_EQ(read_file(out("sequential", "skill/sheet-lessons/SKILL.md")), read_file(out("tree", "skill/sheet-lessons/SKILL.md")));
}

}  // namespace
