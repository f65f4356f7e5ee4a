// llm/schema: checks a model's structured output against the JSON schema the request asked for.
//
// Servers may accept `response_format` and ignore it, so every structured answer is validated here.
// The validator covers the JSON Schema subset that OpenAI-style structured output uses (draft
// 2020-12 semantics): type, enum, const, properties, patternProperties, required,
// additionalProperties, items, prefixItems, contains, min/maxItems, uniqueItems, min/maxLength,
// pattern, minimum, maximum, exclusiveMinimum/Maximum, multipleOf, min/maxProperties, anyOf, oneOf,
// allOf, not, and local $ref ("#", "#/$defs/...", "#/definitions/..."). Annotations (title,
// description, default, examples, format) are accepted and not checked. A keyword outside this
// list makes the schema itself invalid: a check we cannot perform is never silently skipped.
// Patterns are RE2 regular expressions (linear time, UTF-8 aware; no lookaround or backreferences:
// a schema using them is refused). An instance nested deeper than 256 levels is a violation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace t2s::llm {

struct SchemaViolation {
  std::string path;     // JSON pointer into the instance ("" for the root, "/edits/0/op")
  std::string message;  // what is wrong, e.g. "expected an integer, got a string"
};

class JsonSchema {
 public:
  // Throws InputError when `schema` is not a schema this validator can check (with the keyword).
  explicit JsonSchema(nlohmann::json schema);

  // Every violation (up to `limit`), in document order; empty when `instance` is valid.
  std::vector<SchemaViolation> validate(const nlohmann::json& instance, std::size_t limit = 20) const;

  const nlohmann::json& json() const { return schema_; }

  struct Patterns;  // the compiled regular expressions

 private:
  nlohmann::json schema_;
  std::shared_ptr<const Patterns> patterns_;
};

// "path: message; path: message" — what goes back to the model in the repair round.
std::string describe(const std::vector<SchemaViolation>& violations);

}  // namespace t2s::llm
