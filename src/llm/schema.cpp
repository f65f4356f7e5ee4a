#include "t2s/llm/schema.hpp"

#include <cmath>
#include <re2/re2.h>

#include <map>
#include <memory>
#include <set>
#include <string_view>

#include "t2s/core/error.hpp"

namespace t2s::llm {

using nlohmann::json;

// Compiled once per schema. RE2 runs in linear time and does not recurse per character, so a
// model's answer (untrusted, possibly huge) can neither hang nor overflow the stack.
struct JsonSchema::Patterns {
  std::map<std::string, std::unique_ptr<re2::RE2>, std::less<>> compiled;

  // nullptr when `pattern` is not a regular expression RE2 accepts (with the reason in `error`).
  const re2::RE2* add(const std::string& pattern, std::string& error) {
    if (auto it = compiled.find(pattern); it != compiled.end()) return it->second.get();
    re2::RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_unique<re2::RE2>(pattern, options);
    if (!re->ok()) {
      error = re->error();
      return nullptr;
    }
    return compiled.emplace(pattern, std::move(re)).first->second.get();
  }
  bool search(const std::string& pattern, const std::string& text) const {
    return re2::RE2::PartialMatch(text, *compiled.at(pattern));
  }
};

namespace {

const std::set<std::string, std::less<>> kAnnotations = {
    "$schema", "$id", "$comment", "title", "description", "default", "examples", "format",
    "deprecated", "readOnly", "writeOnly", "strict", "name"};

std::string type_of(const json& value) {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

bool is_integral(const json& value) {
  if (value.is_number_integer()) return true;
  if (!value.is_number_float()) return false;
  const double d = value.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool has_type(const json& value, std::string_view type) {
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "string") return value.is_string();
  if (type == "number") return value.is_number();
  if (type == "integer") return is_integral(value);
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  return false;
}

std::size_t code_points(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

std::string pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string unescape_token(std::string_view token) {
  std::string out;
  for (std::size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
      out += token[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

// Resolves a local reference ("#", "#/$defs/a") against the root schema; nullptr when it does not.
const json* resolve(const json& root, std::string_view ref) {
  if (ref.empty() || ref[0] != '#') return nullptr;
  ref.remove_prefix(1);
  const json* node = &root;
  while (!ref.empty()) {
    if (ref[0] != '/') return nullptr;
    ref.remove_prefix(1);
    const std::size_t end = ref.find('/');
    const std::string token = unescape_token(ref.substr(0, end));
    ref = end == std::string_view::npos ? std::string_view() : ref.substr(end);
    if (node->is_object()) {
      auto it = node->find(token);
      if (it == node->end()) return nullptr;
      node = &*it;
    } else if (node->is_array()) {
      std::size_t index = 0;
      try {
        index = std::stoul(token);
      } catch (...) {
        return nullptr;
      }
      if (index >= node->size()) return nullptr;
      node = &(*node)[index];
    } else {
      return nullptr;
    }
  }
  return node;
}

// ------------------------------------------------------------------------------ schema checking

[[noreturn]] void bad_schema(const std::string& where, const std::string& why) {
  throw InputError("JSON schema" + (where.empty() ? std::string() : " at " + where) + ": " + why);
}

void check_schema(const json& root, const json& schema, const std::string& where, int depth,
                  JsonSchema::Patterns& patterns) {
  if (depth > 64) bad_schema(where, "nested too deeply (a $ref cycle?)");
  if (schema.is_boolean()) return;
  if (!schema.is_object()) bad_schema(where, "expected an object or a boolean, got " + type_of(schema));
  auto sub = [&](const json& s, const std::string& key) {
    check_schema(root, s, where + "/" + pointer_token(key), depth + 1, patterns);
  };
  auto compile = [&](const std::string& pattern) {
    std::string error;
    if (patterns.add(pattern, error) == nullptr)
      bad_schema(where, "pattern " + json(pattern).dump() + " is not supported: " + error);
  };
  auto non_negative = [&](const std::string& key, const json& value) {
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0)
      bad_schema(where, "\"" + key + "\" must be a non-negative integer");
  };
  for (const auto& [key, value] : schema.items()) {
    if (kAnnotations.count(key) != 0) continue;
    if (key == "type") {
      const json types = value.is_array() ? value : json::array({value});
      for (const auto& t : types)
        if (!t.is_string() || !(t == "object" || t == "array" || t == "string" || t == "number" ||
                                t == "integer" || t == "boolean" || t == "null"))
          bad_schema(where, "unknown type " + t.dump());
    } else if (key == "enum") {
      if (!value.is_array()) bad_schema(where, "\"enum\" must be an array");
    } else if (key == "const") {
    } else if (key == "properties" || key == "$defs" || key == "definitions" || key == "patternProperties") {
      if (!value.is_object()) bad_schema(where, "\"" + key + "\" must be an object");
      for (const auto& [name, s] : value.items()) {
        if (key == "patternProperties") compile(name);
        check_schema(root, s, where + "/" + key + "/" + pointer_token(name), depth + 1, patterns);
      }
    } else if (key == "required") {
      if (!value.is_array()) bad_schema(where, "\"required\" must be an array of strings");
      for (const auto& name : value)
        if (!name.is_string()) bad_schema(where, "\"required\" must be an array of strings");
    } else if (key == "additionalProperties" || key == "items" || key == "not" || key == "contains") {
      sub(value, key);
    } else if (key == "prefixItems" || key == "anyOf" || key == "oneOf" || key == "allOf") {
      if (!value.is_array() || value.empty()) bad_schema(where, "\"" + key + "\" must be a non-empty array");
      for (std::size_t i = 0; i < value.size(); ++i)
        check_schema(root, value[i], where + "/" + key + "/" + std::to_string(i), depth + 1, patterns);
    } else if (key == "minItems" || key == "maxItems" || key == "minLength" || key == "maxLength" ||
               key == "minProperties" || key == "maxProperties") {
      non_negative(key, value);
    } else if (key == "uniqueItems") {
      if (!value.is_boolean()) bad_schema(where, "\"uniqueItems\" must be a boolean");
    } else if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" || key == "exclusiveMaximum") {
      if (!value.is_number()) bad_schema(where, "\"" + key + "\" must be a number");
    } else if (key == "multipleOf") {
      if (!value.is_number() || value.get<double>() <= 0) bad_schema(where, "\"multipleOf\" must be a positive number");
    } else if (key == "pattern") {
      if (!value.is_string()) bad_schema(where, "\"pattern\" must be a string");
      compile(value.get<std::string>());
    } else if (key == "$ref") {
      if (!value.is_string() || resolve(root, value.get<std::string>()) == nullptr)
        bad_schema(where, "unresolvable $ref " + value.dump() + " (only local references are supported)");
    } else {
      bad_schema(where, "unsupported keyword \"" + key + "\"");
    }
  }
}

// ------------------------------------------------------------------------------------ validation

class Validator {
 public:
  Validator(const json& root, const JsonSchema::Patterns& patterns, std::size_t limit)
      : root_(root), patterns_(patterns), limit_(limit) {}

  // `hops`: schemas followed at this value ($ref, allOf, ...), which only a $ref cycle makes large;
  // `depth`: how deep the value is in the instance (the recursion follows it, so it is bounded).
  void check(const json& schema, const json& value, const std::string& path, int hops = 0, int depth = 0) {
    if (full()) return;
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) fail(path, "no value is allowed here");
      return;
    }
    if (hops > 64) {
      fail(path, "the schema refers to itself without end");
      return;
    }
    if (depth > kMaxDepth) {
      fail(path, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
      return;
    }
    if (auto ref = schema.find("$ref"); ref != schema.end())
      check(*resolve(root_, ref->get<std::string>()), value, path, hops + 1, depth);
    if (auto type = schema.find("type"); type != schema.end()) {
      const json types = type->is_array() ? *type : json::array({*type});
      bool any = false;
      for (const auto& t : types) any = any || has_type(value, t.get<std::string>());
      if (!any) {
        std::string expected;
        for (const auto& t : types) expected += (expected.empty() ? "" : " or ") + t.get<std::string>();
        fail(path, "expected " + expected + ", got " + type_of(value));
        return;  // the other keywords would only repeat the type error
      }
    }
    if (auto e = schema.find("enum"); e != schema.end()) {
      bool found = false;
      for (const auto& option : *e) found = found || equal(option, value);
      if (!found) fail(path, "must be one of " + abbreviated(*e));
    }
    if (auto c = schema.find("const"); c != schema.end() && !equal(*c, value))
      fail(path, "must be " + abbreviated(*c));
    if (value.is_object()) check_object(schema, value, path, depth + 1);
    if (value.is_array()) check_array(schema, value, path, depth + 1);
    if (value.is_string()) check_string(schema, value.get_ref<const std::string&>(), path);
    if (value.is_number()) check_number(schema, value, path);
    for (const char* key : {"allOf", "anyOf", "oneOf"}) {
      auto it = schema.find(key);
      if (it == schema.end()) continue;
      std::size_t passed = 0;
      for (const auto& option : *it) passed += passes(option, value, path, hops, depth);
      const std::string k = key;
      if (k == "allOf" && passed != it->size()) {
        for (const auto& option : *it) check(option, value, path, hops + 1, depth);
      } else if (k == "anyOf" && passed == 0) {
        fail(path, "matches none of the " + std::to_string(it->size()) + " alternatives of anyOf");
      } else if (k == "oneOf" && passed != 1) {
        fail(path, "matches " + std::to_string(passed) + " of the alternatives of oneOf (expected exactly 1)");
      }
    }
    if (auto n = schema.find("not"); n != schema.end() && passes(*n, value, path, hops, depth))
      fail(path, "matches a schema it must not match");
  }

  std::vector<SchemaViolation> take() { return std::move(errors_); }

 private:
  bool full() const { return errors_.size() >= limit_; }
  void fail(const std::string& path, std::string message) {
    if (!full()) errors_.push_back({path, std::move(message)});
  }

  // Numbers compare by value (1 == 1.0), as JSON Schema requires; integers exactly.
  static bool equal(const json& a, const json& b) {
    if (a.is_number_integer() && b.is_number_integer()) {
      if (a.is_number_unsigned() != b.is_number_unsigned()) {
        const json& u = a.is_number_unsigned() ? a : b;
        const json& i = a.is_number_unsigned() ? b : a;
        return i.get<std::int64_t>() >= 0 && static_cast<std::uint64_t>(i.get<std::int64_t>()) == u.get<std::uint64_t>();
      }
      return a == b;
    }
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    return a == b;
  }

  static std::string abbreviated(const json& value) {
    std::string text = value.dump();
    if (text.size() > 200) text = text.substr(0, 197) + "...";
    return text;
  }

  bool passes(const json& schema, const json& value, const std::string& path, int hops, int depth) {
    Validator probe(root_, patterns_, 1);
    probe.check(schema, value, path, hops + 1, depth);
    return probe.errors_.empty();
  }

  void check_object(const json& schema, const json& value, const std::string& path, int depth) {
    if (auto required = schema.find("required"); required != schema.end())
      for (const auto& name : *required)
        if (!value.contains(name.get<std::string>()))
          fail(path, "missing required property \"" + name.get<std::string>() + "\"");
    const auto properties = schema.find("properties");
    const auto patterns = schema.find("patternProperties");
    const auto additional = schema.find("additionalProperties");
    for (const auto& [key, member] : value.items()) {
      const std::string member_path = path + "/" + pointer_token(key);
      bool matched = false;
      if (properties != schema.end()) {
        if (auto p = properties->find(key); p != properties->end()) {
          check(*p, member, member_path, 0, depth);
          matched = true;
        }
      }
      if (patterns != schema.end()) {
        for (const auto& [pattern, sub] : patterns->items()) {
          if (patterns_.search(pattern, key)) {
            check(sub, member, member_path, 0, depth);
            matched = true;
          }
        }
      }
      if (!matched && additional != schema.end()) {
        if (additional->is_boolean() && !additional->get<bool>())
          fail(member_path, "unexpected property \"" + key + "\"");
        else
          check(*additional, member, member_path, 0, depth);
      }
    }
    if (auto min = schema.find("minProperties"); min != schema.end() && value.size() < min->get<std::size_t>())
      fail(path, "has " + std::to_string(value.size()) + " properties, fewer than " + min->dump());
    if (auto max = schema.find("maxProperties"); max != schema.end() && value.size() > max->get<std::size_t>())
      fail(path, "has " + std::to_string(value.size()) + " properties, more than " + max->dump());
  }

  void check_array(const json& schema, const json& value, const std::string& path, int depth) {
    std::size_t first_free = 0;
    if (auto prefix = schema.find("prefixItems"); prefix != schema.end()) {
      for (std::size_t i = 0; i < value.size() && i < prefix->size(); ++i)
        check((*prefix)[i], value[i], path + "/" + std::to_string(i), 0, depth);
      first_free = prefix->size();
    }
    if (auto items = schema.find("items"); items != schema.end())
      for (std::size_t i = first_free; i < value.size(); ++i)
        check(*items, value[i], path + "/" + std::to_string(i), 0, depth);
    if (auto min = schema.find("minItems"); min != schema.end() && value.size() < min->get<std::size_t>())
      fail(path, "has " + std::to_string(value.size()) + " items, fewer than " + min->dump());
    if (auto max = schema.find("maxItems"); max != schema.end() && value.size() > max->get<std::size_t>())
      fail(path, "has " + std::to_string(value.size()) + " items, more than " + max->dump());
    if (auto unique = schema.find("uniqueItems"); unique != schema.end() && unique->get<bool>()) {
      for (std::size_t i = 0; i < value.size(); ++i)
        for (std::size_t j = i + 1; j < value.size(); ++j)
          if (equal(value[i], value[j])) {
            fail(path, "items " + std::to_string(i) + " and " + std::to_string(j) + " are equal");
            return;
          }
    }
    if (auto contains = schema.find("contains"); contains != schema.end()) {
      bool any = false;
      for (const auto& item : value) any = any || passes(*contains, item, path, -1, depth);
      if (!any) fail(path, "has no item matching \"contains\"");
    }
  }

  void check_string(const json& schema, const std::string& text, const std::string& path) {
    const std::size_t length = code_points(text);
    if (auto min = schema.find("minLength"); min != schema.end() && length < min->get<std::size_t>())
      fail(path, "is " + std::to_string(length) + " characters long, shorter than " + min->dump());
    if (auto max = schema.find("maxLength"); max != schema.end() && length > max->get<std::size_t>())
      fail(path, "is " + std::to_string(length) + " characters long, longer than " + max->dump());
    if (auto pattern = schema.find("pattern"); pattern != schema.end() &&
        !patterns_.search(pattern->get<std::string>(), text))
      fail(path, "does not match the pattern " + pattern->dump());
  }

  void check_number(const json& schema, const json& value, const std::string& path) {
    const double x = value.get<double>();
    auto bound = [&](const char* key, auto violates, const char* words) {
      if (auto it = schema.find(key); it != schema.end() && violates(x, it->template get<double>()))
        fail(path, value.dump() + " is " + words + " " + it->dump());
    };
    bound("minimum", [](double a, double b) { return a < b; }, "less than");
    bound("maximum", [](double a, double b) { return a > b; }, "greater than");
    bound("exclusiveMinimum", [](double a, double b) { return a <= b; }, "not greater than");
    bound("exclusiveMaximum", [](double a, double b) { return a >= b; }, "not less than");
    if (auto m = schema.find("multipleOf"); m != schema.end()) {
      const double q = x / m->get<double>();
      if (std::fabs(q - std::round(q)) > 1e-9 * std::max(1.0, std::fabs(q)))
        fail(path, value.dump() + " is not a multiple of " + m->dump());
    }
  }

  static constexpr int kMaxDepth = 256;
  const json& root_;
  const JsonSchema::Patterns& patterns_;
  std::size_t limit_;
  std::vector<SchemaViolation> errors_;
};

}  // namespace

JsonSchema::JsonSchema(nlohmann::json schema) : schema_(std::move(schema)) {
  auto patterns = std::make_shared<Patterns>();
  check_schema(schema_, schema_, "", 0, *patterns);
  patterns_ = std::move(patterns);
}

std::vector<SchemaViolation> JsonSchema::validate(const nlohmann::json& instance, std::size_t limit) const {
  Validator validator(schema_, *patterns_, limit);
  validator.check(schema_, instance, "");
  return validator.take();
}

std::string describe(const std::vector<SchemaViolation>& violations) {
  std::string out;
  for (const auto& v : violations) {
    if (!out.empty()) out += "; ";
    out += (v.path.empty() ? std::string("(root)") : v.path) + ": " + v.message;
  }
  return out;
}

}  // namespace t2s::llm
