#include <gtest/gtest.h>

#include "t2s/core/error.hpp"
#include "t2s/skill/patch.hpp"

namespace {

using namespace t2s::skill;

// The message read_patch throws for `text`, or "" when it parses.
std::string error_of(const std::string& text) {
  try {
    read_patch(text, "p.json");
  } catch (const t2s::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Patch, ReadsThePublishedFormatAsIs) {
  const auto patch = read_patch(R"({
    "reasoning": "Agents forgot to recalculate.",
    "edits": [
      {"file": "SKILL.md", "op": "append_to_section", "target_section": "## Formulas", "target_text": null,
       "content": "- Recalculate.", "old_text": null, "after_section": null},
      {"file": "references/x.md", "op": "create_file", "target_section": "", "target_text": "",
       "content": "# X\n", "old_text": "", "after_section": ""},
      {"file": "references/y.md", "op": "createFile"},
      {"file": "references/z.md", "op": "deleteFile", "rationale": "unknown keys are ignored"}
    ],
    "changelog_entries": ["Added a recalculation step"]
  })", "p.json");
  EXPECT_EQ(patch.reasoning, "Agents forgot to recalculate.");
  ASSERT_EQ(patch.edits.size(), 4u);
  EXPECT_EQ(patch.edits[0].op, Op::append_to_section);
  EXPECT_EQ(patch.edits[0].target_section, "## Formulas");
  EXPECT_TRUE(patch.edits[0].target_text.empty());
  EXPECT_EQ(patch.edits[1].op, Op::create);
  EXPECT_EQ(patch.edits[2].op, Op::create);
  EXPECT_EQ(patch.edits[3].op, Op::delete_file);
  EXPECT_EQ(patch.changelog, std::vector<std::string>{"Added a recalculation step"});
  EXPECT_EQ(patch.sha256.size(), 64u);
  EXPECT_TRUE(is_empty(patch.origin));
}

TEST(Patch, SupportSetsAndOrigin) {
  const auto patch = read_patch(R"({"edits": [{"file": "SKILL.md", "op": "delete_section", "target_section": "A",
      "support": ["t3", "t1", "t3", "t2"]}], "changelog": ["c"],
      "origin": {"model": "qwen3", "prompt_hash": "ab", "merge_path": ["L1/0", "L0/2"], "population": 128}})",
                                "p.json");
  EXPECT_EQ(patch.edits[0].support, (std::vector<std::string>{"t1", "t2", "t3"}));
  EXPECT_EQ(patch.changelog, std::vector<std::string>{"c"});
  EXPECT_EQ(patch.origin.model, "qwen3");
  EXPECT_EQ(patch.origin.merge_path, (std::vector<std::string>{"L1/0", "L0/2"}));
  EXPECT_EQ(patch.origin.population, 128u);
  // Written back and read again: the same patch.
  const auto again = read_patch(patch_json(patch).dump(), "again.json");
  EXPECT_EQ(again.edits[0].support, patch.edits[0].support);
  EXPECT_EQ(again.edits[0].target_section, "A");
  EXPECT_EQ(again.origin.merge_path, patch.origin.merge_path);
  EXPECT_EQ(patch_json(again), patch_json(patch));
}

TEST(Patch, MalformedPatchesNameTheFieldAndTheReason) {
  EXPECT_NE(error_of("{").find("p.json: not valid JSON: "), std::string::npos);
  EXPECT_NE(error_of("\"\xff\"").find("not valid JSON"), std::string::npos);
  EXPECT_EQ(error_of("[]"), "p.json: a patch must be a JSON object with an \"edits\" list");
  EXPECT_EQ(error_of("{}"), "p.json.edits: missing (a patch is {\"edits\": [...]})");
  EXPECT_EQ(error_of(R"({"edits": {}})"), "p.json.edits: must be a list, not object");
  EXPECT_EQ(error_of(R"({"edits": [1]})"), "p.json: edits[0]: an edit must be an object, not number");
  EXPECT_EQ(error_of(R"({"edits": [{"op": "create"}]})"),
            "p.json: edits[0].file: missing (every edit names the file it changes)");
  EXPECT_EQ(error_of(R"({"edits": [{"file": "SKILL.md"}]})"), "p.json: edits[0].op: missing");
  EXPECT_NE(error_of(R"({"edits": [{"file": "SKILL.md", "op": "rewrite"}]})")
                .find("p.json: edits[0].op: unknown op \"rewrite\" (expected insert_after,"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"edits": [{"file": "SKILL.md", "op": "create", "content": 3}]})"),
            "p.json: edits[0].content: must be a string or null, not number");
  EXPECT_EQ(error_of(R"({"edits": [{"file": "SKILL.md", "op": "create", "support": ["a", 2]}]})"),
            "p.json: edits[0].support[1]: must be a string, not number");
  EXPECT_EQ(error_of(R"({"edits": [{"file": "SKILL.md", "op": "create", "support": [""]}]})"),
            "p.json: edits[0].support[0]: empty trajectory id");
  EXPECT_EQ(error_of(R"({"edits": [], "changelog": "x"})"), "p.json.changelog: must be a list of strings, not string");
  EXPECT_EQ(error_of(R"({"edits": [], "origin": {"population": -1}})"),
            "p.json: origin.population: must be a non-negative integer");
}

// Random damage to a valid patch: the reader either accepts it or throws InputError, nothing else.
TEST(Patch, DamagedInputOnlyEverThrowsInputError) {
  const std::string valid =
      R"({"reasoning":"r","edits":[{"file":"SKILL.md","op":"insert_after","target_text":"a\nb","content":"c",)"
      R"("support":["t1"]}],"changelog":[],"origin":{"merge_path":["L0/1"],"population":3}})";
  std::uint64_t state = 42;
  const auto next = [&] {  // xorshift: the same inputs on every machine
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int round = 0; round < 5000; ++round) {
    std::string text = valid;
    for (int edits = 1 + static_cast<int>(next() % 4); edits > 0; --edits) {
      const auto at = next() % (text.size() + 1);
      switch (next() % 3) {
        case 0: text.insert(at, 1, static_cast<char>(next() % 256)); break;
        case 1: if (at < text.size()) text.erase(at, 1 + next() % 8); break;
        default: if (at < text.size()) text[at] = "{}[]\",:0ne\\"[next() % 11]; break;
      }
    }
    try {
      read_patch(text, "fuzz");
    } catch (const t2s::InputError&) {
    } catch (const std::exception& e) {
      ADD_FAILURE() << "unexpected " << e.what() << " on " << text;
    }
  }
  EXPECT_NE(error_of(std::string(100000, '[')), "");  // deep nesting: an error, not a stack overflow
}

}  // namespace
