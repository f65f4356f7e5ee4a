// WikiTableQuestions checking: the evaluator's normalisation rules one by one, value typing and
// matching, TSV escapes, and the real sample data (../shared/data/wikitablequestions-sample) scored
// through the library and the `t2s score` command.
#include "t2s/benchmarks/wikitq.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "t2s/core/error.hpp"
#include "testutil/run_command.hpp"
#include "testutil/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace t2s::benchmarks::wikitq;
using nlohmann::json;

TEST(WikitqNormalize, FollowsEachRuleOfTheEvaluator) {
  EXPECT_EQ(normalize("Café Müller"), "cafe muller");                 // diacritics
  EXPECT_EQ(normalize("it’s"), "it's");                               // smart quotes
  EXPECT_EQ(normalize("1990–1991"), "1990-1991");                     // dashes
  EXPECT_EQ(normalize("“Thriller”"), "thriller");                     // outer quotes, once made ASCII
  EXPECT_EQ(normalize("Paris [1]"), "paris");                         // citation
  EXPECT_EQ(normalize("Gold*†"), "gold");                             // citation marks
  EXPECT_EQ(normalize("[12]"), "");                                   // a numeric note even at the start
  EXPECT_EQ(normalize("[note]"), "[note]");                           // any other only after some text
  EXPECT_EQ(normalize("a [b [c]"), "a");                              // the longest run of notes
  EXPECT_EQ(normalize("John Smith (politician)"), "john smith");      // details in parentheses
  EXPECT_EQ(normalize("(a)"), "(a)");                                 // ... not the whole text
  EXPECT_EQ(normalize("\"Foo\" (band) [3]"), "foo");                  // repeated until nothing changes
  EXPECT_EQ(normalize("\"a\" and \"b\""), "\"a\" and \"b\"");         // quotes inside stay
  EXPECT_EQ(normalize("Bangkok, Thailand."), "bangkok, thailand");    // final period
  EXPECT_EQ(normalize("  Two \t spaces\u00a0here "), "two spaces here");  // whitespace
  EXPECT_EQ(normalize("ǅungla"), "dzungla");                          // compatibility decomposition, lower case
  EXPECT_EQ(normalize(std::string("ab\xff") + "c"), "abc");           // invalid UTF-8 bytes dropped
}

TEST(WikitqValue, TypesNumbersDatesAndStringsAsPythonWould) {
  EXPECT_EQ(to_value("2004").kind, Value::Kind::number);
  EXPECT_EQ(to_value(" -3.5e1 ").amount, -35);
  EXPECT_EQ(to_value("1,000").kind, Value::Kind::string);  // int() and float() refuse the comma
  EXPECT_EQ(to_value("nan").kind, Value::Kind::string);    // nan and inf are not numbers here
  EXPECT_EQ(to_value("1e999").kind, Value::Kind::string);
  const Value date = to_value("2001-05-xx");
  EXPECT_EQ(date.kind, Value::Kind::date);
  EXPECT_EQ(date.year, 2001);
  EXPECT_EQ(date.month, 5);
  EXPECT_EQ(date.day, -1);
  EXPECT_EQ(to_value("2004-xx-xx").kind, Value::Kind::number);  // a year alone is a number
  EXPECT_EQ(to_value("2004-13-01").kind, Value::Kind::string);  // no 13th month
  // CoreNLP's canonical form decides the kind; the text matched stays the original's
  const Value thousand = to_value("1,000", std::string_view("1000.0"));
  EXPECT_EQ(thousand.kind, Value::Kind::number);
  EXPECT_EQ(thousand.normalized, "1,000");
  EXPECT_TRUE(thousand.matches(to_value("1000")));
  EXPECT_TRUE(thousand.matches(to_value("1,000")));   // by text
  EXPECT_TRUE(thousand.matches(to_value("999.9999999")));  // within 1e-6
  EXPECT_FALSE(thousand.matches(to_value("1001")));
  EXPECT_FALSE(to_value("xx-01-12").matches(to_value("1990-01-12")));  // every date field must agree
  EXPECT_TRUE(to_value("January 12, 1990", std::string_view("1990-01-12")).matches(to_value("1990-01-12")));
  EXPECT_FALSE(to_value("2").matches(to_value("two")));
}

TEST(WikitqDenotation, IsASetCheckedBySizeAndByMatches) {
  const auto targets = to_value_list({"Italy", "France"});
  EXPECT_TRUE(check_denotation(targets, to_value_list({"france", "ITALY"})));
  EXPECT_FALSE(check_denotation(targets, to_value_list({"Italy"})));
  EXPECT_FALSE(check_denotation(targets, to_value_list({"Italy", "France", "Spain"})));
  EXPECT_FALSE(check_denotation(targets, to_value_list({"Italy", "Spain"})));
  // equal values collapse: "2" and "2.0" are one number, "Italy" and "italy." one string
  EXPECT_EQ(to_value_list({"2", "2.0"}).size(), 1u);
  EXPECT_EQ(to_value_list({"Italy", "italy."}).size(), 1u);
  EXPECT_TRUE(check_denotation(to_value_list({"2"}), to_value_list({"2.0", "2"})));
  EXPECT_FALSE(check_denotation(to_value_list({"2"}), {}));
  const std::vector<std::string> two = {"1", "2"}, one_canonical = {"1"};
  EXPECT_THROW(to_value_list(two, &one_canonical), t2s::InputError);
}

TEST(WikitqTsv, UnescapesInTheEvaluatorsOrder) {
  EXPECT_EQ(tsv_unescape("a\\pb"), "a|b");
  EXPECT_EQ(tsv_unescape("line\\nbreak"), "line\nbreak");
  EXPECT_EQ(tsv_unescape("back\\\\slash"), "back\\slash");
  EXPECT_EQ(tsv_unescape("x\\\\n"), "x\\\n");  // \n is replaced before \\, as the evaluator does
  EXPECT_EQ(tsv_unescape_list("a|b\\pc|"), (std::vector<std::string>{"a", "b|c", ""}));
}

// ------------------------------------------------------------------------------ the sample data

fs::path sample() { return fs::path(T2S_SOURCE_DIR) / ".." / "shared" / "data" / "wikitablequestions-sample"; }

// The dataset's questions with their target values as written (unescaped), in file order.
std::vector<std::pair<std::string, std::vector<std::string>>> gold_answers() {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const char* file : {"data/training-before300.tsv", "data/pristine-unseen-tables.tsv"}) {
    std::ifstream in(sample() / file);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::vector<std::string> fields(1);
      for (char c : line) {
        if (c == '\t') fields.emplace_back();
        else fields.back().push_back(c);
      }
      out.emplace_back(fields[0], tsv_unescape_list(fields[3]));
    }
  }
  return out;
}

std::string prediction_line(const std::string& id, const std::vector<std::string>& answers) {
  std::string line = id;
  for (const auto& a : answers) line += "\t" + a;
  return line + "\n";
}

TEST(WikitqSample, GoldAnswersScoreFullMarksAndPerturbedOnesDoNot) {
  if (!fs::exists(sample())) GTEST_SKIP() << "shared data not present: " << sample().string();
  const auto questions = read_questions(sample());
  ASSERT_EQ(questions.size(), 500u);  // 300 training + 200 test questions
  EXPECT_TRUE(questions.at("nu-0").canonical);   // test questions are typed by CoreNLP (tagged/)
  EXPECT_FALSE(questions.at("nt-0").canonical);  // training ones by their text alone
  const auto gold = gold_answers();
  ASSERT_EQ(gold.size(), 500u);

  t2s::test::TempDir temp;
  std::mt19937 random(7);
  std::string exact, shuffled, missing_one, wrong, reformatted;
  std::size_t lists = 0, numeric = 0;
  for (auto [id, answers] : gold) {
    exact += prediction_line(id, answers);
    auto mixed = answers;
    std::shuffle(mixed.begin(), mixed.end(), random);
    shuffled += prediction_line(id, mixed);
    if (answers.size() > 1) {
      ++lists;
      missing_one += prediction_line(id, {answers.begin() + 1, answers.end()});
    }
    wrong += prediction_line(id, {answers.front() + " zz"});
    if (questions.at(id).targets.size() == 1 && questions.at(id).targets[0].kind == Value::Kind::number &&
        answers[0].find_first_not_of("0123456789") == std::string::npos) {
      ++numeric;
      reformatted += prediction_line(id, {answers[0] + ".0"});  // the same number, written otherwise
    }
  }
  const auto scored = [&](const std::string& name, const std::string& lines) {
    return score_predictions(questions, temp.write(name, lines));
  };
  const Score all = scored("exact.tsv", exact);
  EXPECT_EQ(all.examples, 500u);
  EXPECT_EQ(all.correct, 500u);
  EXPECT_EQ(scored("shuffled.tsv", shuffled).correct, 500u);
  ASSERT_GT(lists, 5u);
  EXPECT_EQ(scored("missing.tsv", missing_one).correct, 0u);
  EXPECT_EQ(scored("wrong.tsv", wrong).correct, 0u);
  ASSERT_GT(numeric, 50u);
  EXPECT_EQ(scored("reformatted.tsv", reformatted).correct, numeric);

  const Score unknown = scored("unknown.tsv", prediction_line("nu-0", gold[300].second) + prediction_line("no-such-id", {"x"}));
  EXPECT_EQ(unknown.examples, 1u);
  EXPECT_EQ(unknown.unknown, 1u);
  EXPECT_FALSE(unknown.verdicts[1].known);
}

TEST(WikitqSample, TheScoreCommandReportsAccuracyAndVerdicts) {
  if (!fs::exists(sample())) GTEST_SKIP() << "shared data not present: " << sample().string();
  t2s::test::TempDir temp;
  const auto gold = gold_answers();
  std::string lines;
  for (std::size_t i = 0; i < 10; ++i) lines += prediction_line(gold[i].first, i < 7 ? gold[i].second : std::vector<std::string>{"nope"});
  const fs::path predictions = temp.write("pred.tsv", lines);
  const std::string binary = T2S_BINARY;
  const auto result = t2s::test::run_command(binary + " score wikitq " + sample().string() + " " + predictions.string() + " --json");
  ASSERT_EQ(result.status, 0) << result.output;
  const json report = json::parse(result.output);
  EXPECT_EQ(report["examples"], 10);
  EXPECT_EQ(report["correct"], 7);
  EXPECT_DOUBLE_EQ(report["accuracy"].get<double>(), 0.7);
  EXPECT_EQ(report["verdicts"][7]["correct"], false);
  EXPECT_EQ(report["verdicts"][0]["id"], gold[0].first);

  const auto text = t2s::test::run_command(binary + " score wikitq " + sample().string() + " " + predictions.string());
  EXPECT_NE(text.output.find("accuracy: 0.7000"), std::string::npos) << text.output;
  const auto unknown = t2s::test::run_command(binary + " score nosuchbench " + sample().string() + " " + predictions.string());
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.output.find("unknown benchmark \"nosuchbench\""), std::string::npos) << unknown.output;
  const auto not_a_dataset = t2s::test::run_command(binary + " score wikitq " + temp.path().string() + " " + predictions.string());
  EXPECT_EQ(not_a_dataset.status, 2);
  EXPECT_NE(not_a_dataset.output.find("not a WikiTableQuestions directory"), std::string::npos) << not_a_dataset.output;
}

}  // namespace
