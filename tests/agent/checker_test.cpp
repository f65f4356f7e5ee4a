// Tests of agent/checker: each kind passes what it should and fails what it should, with feedback
// that never quotes the gold; configuration errors name the key.

#include "t2s/agent/checker.hpp"

#include <gtest/gtest.h>

#include "t2s/core/error.hpp"
#include "testutil/temp_dir.hpp"

using namespace t2s::agent;
using nlohmann::json;

namespace {

Checker make(const json& config) { return Checker::from_json(config); }

std::string input_error(const json& config) {
  try {
    make(config);
  } catch (const t2s::InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Checker, ExactComparesBytesAfterTrimming) {
  const Checker c = make({{"kind", "exact"}, {"gold", "Paris"}});
  EXPECT_TRUE(c.check("  Paris\n").passed);
  EXPECT_EQ(c.check("Paris").score, 1.0);
  const Verdict wrong = c.check("paris");
  EXPECT_FALSE(wrong.passed);
  EXPECT_EQ(wrong.score, 0.0);
  EXPECT_EQ(wrong.feedback.find("Paris"), std::string::npos) << wrong.feedback;
  EXPECT_FALSE(c.check("Paris.").passed);
}

TEST(Checker, NormalisedIgnoresCaseSpacingAndPunctuationAndReadsNumbers) {
  const Checker c = make({{"kind", "normalised"}, {"gold", "The total is 1000 units"}});
  EXPECT_TRUE(c.check("the TOTAL is: 1,000.0 units!").passed);
  EXPECT_TRUE(c.check("  The total is 1e3 units ").passed);
  EXPECT_FALSE(c.check("The total is 1001 units").passed);
  const Verdict shorter = c.check("The total is 1000");
  EXPECT_FALSE(shorter.passed);
  EXPECT_NE(shorter.feedback.find("has 4 words and numbers, the expected one 5"), std::string::npos) << shorter.feedback;
  const Verdict different = c.check("The sum is 1000 units");
  EXPECT_NE(different.feedback.find("at word or number 2"), std::string::npos) << different.feedback;
  EXPECT_EQ(different.feedback.find("total"), std::string::npos);

  const Checker numbers = make({{"kind", "normalised"}, {"gold", "0.3, -2 and 2-3"}, {"rel_tol", 1e-9}});
  EXPECT_TRUE(numbers.check("0.30000000000000004 -2 AND 2 3").passed);
  EXPECT_FALSE(numbers.check("0.3 2 and 2-3").passed);  // the sign of a number counts
  EXPECT_TRUE(make({{"kind", "normalised"}, {"gold", "H2O, 3rd"}}).check("h2o 3 RD").passed);
  EXPECT_TRUE(make({{"kind", "normalised"}, {"gold", "Café"}}).check("CAFé").passed);  // ASCII case only
}

TEST(Checker, NumericComparesNumbersAndListsWithinTheTolerance) {
  const Checker one = make({{"kind", "numeric"}, {"gold", 42}});
  EXPECT_TRUE(one.check("42.00000001").passed);
  EXPECT_TRUE(one.check(" 4.2e1\n").passed);
  const Verdict wrong = one.check("41");
  EXPECT_FALSE(wrong.passed);
  EXPECT_EQ(wrong.score, 0.0);
  EXPECT_NE(wrong.feedback.find("#1 (41)"), std::string::npos) << wrong.feedback;
  EXPECT_EQ(wrong.feedback.find("42"), std::string::npos) << wrong.feedback;
  EXPECT_NE(one.check("forty-two").feedback.find("\"forty-two\" is not a number"), std::string::npos);
  EXPECT_FALSE(one.check("").passed);

  const Checker list = make({{"kind", "numeric"}, {"gold", json::array({1, 2.5, 3})}, {"rel_tol", 0.0}, {"abs_tol", 0.01}});
  EXPECT_TRUE(list.check("[1, 2.505; 3]").passed);
  const Verdict two_of_three = list.check("(1 2.5 4)");
  EXPECT_FALSE(two_of_three.passed);
  EXPECT_NEAR(two_of_three.score, 2.0 / 3.0, 1e-12);
  EXPECT_NE(list.check("1, 2.5").feedback.find("expected 3 numbers, got 2"), std::string::npos);

  const Checker zero = make({{"kind", "numeric"}, {"gold", "0"}, {"abs_tol", 1e-6}});
  EXPECT_TRUE(zero.check("-0.0000001").passed);
  EXPECT_FALSE(zero.check("nan").passed);
}

TEST(Checker, CommandRunsTheCheckerInItsOwnSandbox) {
  t2s::test::TempDir temp;
  CheckerConfig config;
  config.kind = CheckKind::command;
  config.files.files["check.sh"] =
      "read -r got < \"$1\"\n"
      "gold=$(cat gold.txt)\n"
      "if [ \"$got\" = \"$gold\" ]; then echo 'all rows match'; exit 0; fi\n"
      "echo \"row 3 differs (got $got)\"; exit 1\n";
  config.files.files["gold.txt"] = "7";
  config.command = "bash check.sh {candidate}";
  config.candidate_name = "answer file.txt";  // quoted for the shell
  config.sandbox_root = temp.path();
  const Checker c(config);
  const Verdict pass = c.check("7\n");
  EXPECT_TRUE(pass.passed) << pass.feedback;
  EXPECT_EQ(pass.feedback, "all rows match");
  const Verdict fail = c.check("8\n");
  EXPECT_FALSE(fail.passed);
  EXPECT_NE(fail.feedback.find("exit code 1"), std::string::npos) << fail.feedback;
  EXPECT_NE(fail.feedback.find("row 3 differs (got 8)"), std::string::npos) << fail.feedback;
  EXPECT_TRUE(std::filesystem::is_empty(temp.path()));  // each check's sandbox is gone

  // A checker that hangs fails at its wall-time limit.
  config.command = "sleep 30";
  config.limits.wall_s = 0.5;
  config.limits.kill_grace_s = 0.1;
  const Verdict hung = Checker(config).check("7");
  EXPECT_FALSE(hung.passed);
  EXPECT_NE(hung.feedback.find("wall-time limit"), std::string::npos) << hung.feedback;
}

TEST(Checker, OutputFilesAreCheckedThroughTheSandbox) {
  t2s::test::TempDir temp;
  Sandbox sandbox(temp.path(), {{{"out/result.txt", "3.14159\n"}}, {}});
  const Checker c = make({{"kind", "numeric"}, {"gold", "3.14159"}});
  EXPECT_TRUE(c.check_file(sandbox, "out/result.txt").passed);
  const Verdict missing = c.check_file(sandbox, "out/none.txt");
  EXPECT_FALSE(missing.passed);
  EXPECT_NE(missing.feedback.find("no such file"), std::string::npos) << missing.feedback;
  EXPECT_FALSE(c.check_file(sandbox, "../../etc/hostname").passed);
}

TEST(Checker, BadConfigurationIsAnInputErrorNamingTheKey) {
  EXPECT_NE(input_error({{"kind", "exact"}, {"gold", "x"}, {"golds", "y"}}).find("checker.golds: unknown key"), std::string::npos);
  EXPECT_NE(input_error({{"gold", "x"}}).find("checker.kind: missing"), std::string::npos);
  EXPECT_NE(input_error({{"kind", "fuzzy"}, {"gold", "x"}}).find("checker.kind: \"fuzzy\" is not one of"), std::string::npos);
  EXPECT_NE(input_error({{"kind", "numeric"}, {"gold", "x"}, {"rel_tol", "small"}}).find("checker.rel_tol: expected a number"),
            std::string::npos);
  EXPECT_NE(input_error({{"kind", "numeric"}, {"gold", "4 two"}}).find("not a number or a list of numbers (\"two\")"), std::string::npos);
  EXPECT_NE(input_error({{"kind", "exact"}}).find("checker.gold: missing"), std::string::npos);
  EXPECT_NE(input_error({{"kind", "command"}}).find("needs a command"), std::string::npos);
  EXPECT_NE(input_error({{"kind", "command"}, {"command", "x"}, {"limits", {{"walltime", 3}}}}).find("checker.limits.walltime: unknown key"),
            std::string::npos);
  EXPECT_NE(input_error({{"kind", "command"}, {"command", "x"}, {"candidate_name", "../c"}}).find("not allowed"), std::string::npos);
  EXPECT_NE(input_error({{"kind", "exact"}, {"gold", json::object()}}).find("checker.gold: expected a string"), std::string::npos);
  EXPECT_NE(input_error(json::array()).find("checker: expected a table"), std::string::npos);
  // A whole configuration, as a TOML table would give it.
  const CheckerConfig full = CheckerConfig::from_json(
      {{"kind", "command"}, {"command", "python3 check.py {candidate}"}, {"files", {{"check.py", "print(1)"}}},
       {"limits", {{"wall_s", 5}, {"memory_bytes", 1 << 28}}}, {"disk_bytes", 1 << 20}, {"feedback_bytes", 100}});
  EXPECT_EQ(full.kind, CheckKind::command);
  EXPECT_EQ(full.limits.wall_s, 5.0);
  EXPECT_EQ(full.limits.memory_bytes, 1u << 28);
  EXPECT_EQ(full.sandbox.disk_bytes, 1u << 20);
  EXPECT_EQ(full.files.files.at("check.py"), "print(1)");
}
