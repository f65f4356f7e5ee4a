// Tests of llm/schema: the structured-output validator, on hand-written cases and on the official
// JSON Schema test suite (Debian's json-schema-test-suite, draft 7) for every keyword it supports.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "t2s/core/error.hpp"
#include "t2s/llm/schema.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using t2s::llm::JsonSchema;

namespace {

const json kPatchSchema = json::parse(R"({
  "type": "object", "additionalProperties": false, "required": ["edits"],
  "properties": {
    "reasoning": {"type": "string"},
    "edits": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/edit"}}
  },
  "$defs": {"edit": {"type": "object", "required": ["op", "file"],
    "properties": {"op": {"enum": ["insert_after", "append_to_section"]}, "file": {"type": "string", "pattern": "^[a-z/]+\\.md$"},
                   "confidence": {"type": "number", "minimum": 0, "maximum": 1}}}}
})");

TEST(JsonSchema, AcceptsAValidPatch) {
  const JsonSchema schema(kPatchSchema);
  EXPECT_TRUE(schema.validate(json::parse(R"({"edits":[{"op":"insert_after","file":"skill.md","confidence":0.5}]})")).empty());
}

TEST(JsonSchema, ReportsEveryViolationWithItsPath) {
  const JsonSchema schema(kPatchSchema);
  const auto violations = schema.validate(json::parse(
      R"({"edits":[{"op":"rewrite","file":"../x.txt","confidence":2}, {"file":"a.md"}], "extra": 1})"));
  ASSERT_EQ(violations.size(), 5u) << t2s::llm::describe(violations);
  EXPECT_EQ(violations[0].path, "/edits/0/confidence");  // members in key order
  EXPECT_EQ(violations[1].path, "/edits/0/file");
  EXPECT_EQ(violations[2].path, "/edits/0/op");
  EXPECT_EQ(violations[3].path, "/edits/1");
  EXPECT_NE(violations[3].message.find("missing required property \"op\""), std::string::npos);
  EXPECT_EQ(violations[4].path, "/extra");
}

TEST(JsonSchema, TypeErrorsSayWhatWasExpectedAndFound) {
  const JsonSchema schema(json::parse(R"({"type": ["integer", "null"]})"));
  EXPECT_TRUE(schema.validate(3).empty());
  EXPECT_TRUE(schema.validate(3.0).empty());  // 3.0 is an integer in JSON Schema
  EXPECT_TRUE(schema.validate(nullptr).empty());
  const auto v = schema.validate("3");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].message, "expected integer or null, got a string");
}

TEST(JsonSchema, LengthCountsCharactersNotBytes) {
  const JsonSchema schema(json::parse(R"({"type": "string", "maxLength": 3})"));
  EXPECT_TRUE(schema.validate("äöü").empty());
  EXPECT_FALSE(schema.validate("äöüß").empty());
}

TEST(JsonSchema, UnsupportedKeywordsAndBadSchemasAreRefused) {
  EXPECT_THROW(JsonSchema(json::parse(R"({"type": "object", "if": {}})")), t2s::InputError);
  EXPECT_THROW(JsonSchema(json::parse(R"({"$ref": "https://example.com/s.json"})")), t2s::InputError);
  EXPECT_THROW(JsonSchema(json::parse(R"({"$ref": "#/$defs/missing"})")), t2s::InputError);
  EXPECT_THROW(JsonSchema(json::parse(R"({"type": "float"})")), t2s::InputError);
  EXPECT_THROW(JsonSchema(json::parse(R"({"pattern": "("})")), t2s::InputError);
  EXPECT_THROW(JsonSchema(json::parse(R"({"minItems": -1})")), t2s::InputError);
  EXPECT_THROW(JsonSchema(json(3)), t2s::InputError);
}

TEST(JsonSchema, ARecursiveSelfReferenceTerminates) {
  const JsonSchema schema(json::parse(R"({"$ref": "#"})"));
  EXPECT_FALSE(schema.validate(1).empty());
}

TEST(JsonSchema, RecursiveTreesValidate) {
  const JsonSchema schema(json::parse(
      R"({"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}},"required":["name"]})"));
  EXPECT_TRUE(schema.validate(json::parse(R"({"name":"a","children":[{"name":"b","children":[{"name":"c"}]}]})")).empty());
  const auto v = schema.validate(json::parse(R"({"name":"a","children":[{"name":"b","children":[{}]}]})"));
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].path, "/children/0/children/0");
}

// The official test suite, for the keywords the validator supports. Cases whose schema uses a
// keyword outside the subset are refused by the constructor and counted as skipped.
TEST(JsonSchema, OfficialTestSuiteDraft7) {
  const fs::path dir = "/usr/share/json-schema-test-suite/tests/draft7";
  if (!fs::is_directory(dir)) GTEST_SKIP() << dir << " is missing (Debian package json-schema-test-suite)";
  const std::vector<std::string> files = {
      "additionalProperties", "allOf", "anyOf", "boolean_schema", "const", "contains", "enum", "exclusiveMaximum",
      "exclusiveMinimum", "items", "maxItems", "maxLength", "maxProperties", "maximum", "minItems", "minLength",
      "minProperties", "minimum", "multipleOf", "not", "oneOf", "pattern", "patternProperties", "properties",
      "required", "type", "uniqueItems", "ref", "definitions"};
  // Draft 7 ignores keywords beside $ref; the validator follows draft 2020-12, where they apply.
  const std::set<std::string> other_semantics = {"ref overrides any sibling keywords"};
  std::size_t checked = 0, skipped = 0;
  for (const auto& name : files) {
    std::ifstream in(dir / (name + ".json"));
    ASSERT_TRUE(in) << name;
    for (const auto& group : json::parse(in)) {
      if (other_semantics.count(group["description"].get<std::string>()) != 0) continue;
      std::optional<JsonSchema> schema;
      try {
        schema.emplace(group["schema"]);
      } catch (const t2s::InputError&) {
        skipped += group["tests"].size();
        continue;
      }
      for (const auto& test : group["tests"]) {
        const bool valid = schema->validate(test["data"]).empty();
        EXPECT_EQ(valid, test["valid"].get<bool>())
            << name << ": " << group["description"] << " / " << test["description"];
        ++checked;
      }
    }
  }
  std::cout << "official suite: " << checked << " cases checked, " << skipped << " skipped (unsupported keywords)\n";
  EXPECT_GE(checked, 300u);
}

}  // namespace

// A model's answer is untrusted: a huge string under a pattern must neither crash nor hang.
TEST(JsonSchema, PatternsAreSafeOnHugeStringsAndCountCharacters) {
  const JsonSchema schema(json::parse(R"({"type": "object", "properties": {"s": {"type": "string", "pattern": "^[a-z]*$"}}})"));
  EXPECT_TRUE(schema.validate({{"s", std::string(200000, 'a')}}).empty());
  EXPECT_FALSE(schema.validate({{"s", std::string(200000, 'a') + "!"}}).empty());
  const JsonSchema three(json::parse(R"({"type": "string", "pattern": "^.{3}$"})"));
  EXPECT_TRUE(three.validate("héé").empty());
  EXPECT_THROW(JsonSchema(json::parse(R"j({"pattern": "(?=lookahead)"})j")), t2s::InputError);
}

TEST(JsonSchema, LargeIntegersCompareExactly) {
  const JsonSchema schema(json::parse(R"({"enum": [9007199254740993]})"));
  EXPECT_TRUE(schema.validate(json::parse("9007199254740993")).empty());
  EXPECT_FALSE(schema.validate(json::parse("9007199254740992")).empty());
}

TEST(JsonSchema, DeepInstancesAreBoundedNotCrashing) {
  const JsonSchema schema(json::parse(R"({"items": {"$ref": "#"}})"));
  json shallow = json::array(), deep = json::array();
  for (int i = 0; i < 100; ++i) shallow = json::array({shallow});
  for (int i = 0; i < 5000; ++i) deep = json::array({deep});
  EXPECT_TRUE(schema.validate(shallow).empty());
  const auto v = schema.validate(deep);
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v[0].message.find("nested deeper than"), std::string::npos);
}
