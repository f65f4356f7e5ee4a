#include "t2s/core/config.hpp"

#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "t2s/core/error.hpp"

namespace t2s {

namespace {

nlohmann::json to_json(const toml::node& node) {
  if (const auto* table = node.as_table()) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [key, value] : *table) object[std::string(key.str())] = to_json(value);
    return object;
  }
  if (const auto* array = node.as_array()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& value : *array) list.push_back(to_json(value));
    return list;
  }
  if (const auto* value = node.as_string()) return value->get();
  if (const auto* value = node.as_integer()) return value->get();
  if (const auto* value = node.as_floating_point()) return value->get();
  if (const auto* value = node.as_boolean()) return value->get();
  // Dates and times stay as their TOML text.
  std::ostringstream text;
  if (const auto* value = node.as_date()) text << value->get();
  else if (const auto* value = node.as_time()) text << value->get();
  else if (const auto* value = node.as_date_time()) text << value->get();
  return text.str();
}

std::vector<std::string> split_key(std::string_view key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot; (dot = key.find('.', start)) != std::string_view::npos; start = dot + 1)
    parts.emplace_back(key.substr(start, dot - start));
  parts.emplace_back(key.substr(start));
  return parts;
}

std::string type_of(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::object: return "a table";
    default: return "a value";
  }
}

}  // namespace

Config Config::parse(std::string_view toml_text, std::string name) {
  Config config;
  config.name_ = std::move(name);
  config.text_ = std::string(toml_text);
  try {
    config.tree_ = to_json(toml::parse(toml_text, config.name_));
  } catch (const toml::parse_error& e) {
    throw InputError(config.name_ + ":" + std::to_string(e.source().begin.line) + ":" +
                     std::to_string(e.source().begin.column) + ": invalid TOML: " + std::string(e.description()));
  }
  return config;
}

Config Config::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(file.string() + ": cannot open the job file");
  std::stringstream text;
  text << in.rdbuf();
  return parse(text.str(), file.string());
}

void Config::set(std::string_view assignment) {
  const auto equals = assignment.find('=');
  if (equals == std::string_view::npos || equals == 0)
    throw InputError("--set " + std::string(assignment) + ": expected key.path=value");
  const std::string key(assignment.substr(0, equals));
  const std::string value_text(assignment.substr(equals + 1));
  nlohmann::json value;
  try {
    value = to_json(*toml::parse("v = " + value_text)["v"].node());
  } catch (const toml::parse_error&) {
    value = value_text;  // not a TOML value: a bare string
  }
  nlohmann::json* node = &tree_;
  for (const auto& part : split_key(key)) {
    if (part.empty()) throw InputError("--set " + std::string(assignment) + ": empty key component");
    if (node->is_null()) *node = nlohmann::json::object();  // a new table
    if (!node->is_object()) throw InputError("--set " + key + ": " + part + " is inside a value, not a table");
    node = &(*node)[part];
  }
  *node = std::move(value);
}

const nlohmann::json* Config::find(std::string_view key) const {
  const nlohmann::json* node = &tree_;
  for (const auto& part : split_key(key)) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  read_.emplace(key);
  return node;
}

void Config::wrong_type(std::string_view key, std::string_view expected, const nlohmann::json& value) const {
  throw InputError(name_ + ": " + std::string(key) + ": expected " + std::string(expected) + ", got " + type_of(value));
}

nlohmann::json Config::table(std::string_view key) const {
  const auto* value = find(key);
  if (value == nullptr) return nullptr;
  if (!value->is_object()) wrong_type(key, "a table", *value);
  auto mark = [&](auto&& self, const nlohmann::json& object, const std::string& prefix) -> void {
    for (const auto& [k, v] : object.items()) {
      const std::string full = prefix + "." + k;
      if (v.is_object()) self(self, v, full);
      else read_.emplace(full);
    }
  };
  mark(mark, *value, std::string(key));
  return *value;
}

bool Config::has(std::string_view key) const { return find(key) != nullptr; }

std::optional<std::string> Config::string(std::string_view key) const {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) wrong_type(key, "a string", *value);
  return value->get<std::string>();
}

std::optional<std::int64_t> Config::integer(std::string_view key) const {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number_integer()) wrong_type(key, "an integer", *value);
  return value->get<std::int64_t>();
}

std::optional<double> Config::number(std::string_view key) const {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) wrong_type(key, "a number", *value);
  return value->get<double>();
}

std::optional<bool> Config::boolean(std::string_view key) const {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) wrong_type(key, "a boolean", *value);
  return value->get<bool>();
}

std::optional<std::vector<std::string>> Config::strings(std::string_view key) const {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_string()) return std::vector<std::string>{value->get<std::string>()};
  if (!value->is_array()) wrong_type(key, "an array of strings", *value);
  std::vector<std::string> out;
  for (const auto& element : *value) {
    if (!element.is_string()) wrong_type(key, "an array of strings", *value);
    out.push_back(element.get<std::string>());
  }
  return out;
}

nlohmann::json Config::list(std::string_view key) const {
  const auto* value = find(key);
  if (value == nullptr) return nullptr;
  if (!value->is_array()) wrong_type(key, "an array", *value);
  read_.emplace(key);  // whole: its reader checks the elements
  return *value;
}

std::optional<std::vector<std::int64_t>> Config::integers(std::string_view key) const {
  const auto* value = find(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_number_integer()) return std::vector<std::int64_t>{value->get<std::int64_t>()};
  if (!value->is_array()) wrong_type(key, "an array of whole numbers", *value);
  std::vector<std::int64_t> out;
  for (const auto& element : *value) {
    if (!element.is_number_integer()) wrong_type(key, "an array of whole numbers", *value);
    out.push_back(element.get<std::int64_t>());
  }
  return out;
}

void Config::reject_unread(std::string_view table) const {
  const auto* node = &tree_;
  if (!table.empty()) {
    for (const auto& part : split_key(table)) {
      auto it = node->find(part);
      if (it == node->end()) throw InputError(name_ + ": has no [" + std::string(table) + "] table");
      node = &*it;
    }
  }
  if (!node->is_object()) throw InputError(name_ + ": " + std::string(table) + " must be a table");
  std::string unknown;
  // Every key below `table`, sub-tables included, must have been read.
  auto collect = [&](auto&& self, const nlohmann::json& object, const std::string& prefix) -> void {
    for (const auto& [key, value] : object.items()) {
      const std::string full = prefix.empty() ? key : prefix + "." + key;
      if (value.is_object()) self(self, value, full);
      else if (!read_.contains(full)) unknown += (unknown.empty() ? "" : ", ") + full;
    }
  };
  collect(collect, *node, std::string(table));
  if (!unknown.empty()) throw InputError(name_ + ": unknown key(s): " + unknown);
}

}  // namespace t2s
