// Reads the fields of one untrusted JSON object, naming each by its path in every message.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "t2s/core/error.hpp"

namespace t2s::skill {

class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string path) : object_(object), path_(std::move(path)) {}

  [[noreturn]] void fail(std::string_view key, const std::string& reason) const {
    throw InputError(path_ + (key.empty() ? "" : "." + std::string(key)) + ": " + reason);
  }

  // The value of `key`, or nullptr when it is absent or null.
  const nlohmann::json* find(std::string_view key) const {
    const auto found = object_.find(key);
    return found == object_.end() || found->is_null() ? nullptr : &*found;
  }

  std::string string(std::string_view key) const {
    const auto* value = find(key);
    if (value == nullptr) return {};
    if (!value->is_string()) fail(key, "must be a string or null, not " + std::string(value->type_name()));
    return value->get<std::string>();
  }

  std::vector<std::string> strings(std::string_view key) const {
    const auto* value = find(key);
    if (value == nullptr) return {};
    if (!value->is_array()) fail(key, "must be a list of strings, not " + std::string(value->type_name()));
    std::vector<std::string> out;
    for (std::size_t i = 0; i < value->size(); ++i) {
      if (!(*value)[i].is_string())
        fail(std::string(key) + "[" + std::to_string(i) + "]",
             "must be a string, not " + std::string((*value)[i].type_name()));
      out.push_back((*value)[i].get<std::string>());
    }
    return out;
  }

  std::uint64_t unsigned_integer(std::string_view key) const {
    const auto* value = find(key);
    if (value == nullptr) return 0;
    if (!value->is_number_unsigned()) fail(key, "must be a non-negative integer");
    return value->get<std::uint64_t>();
  }

 private:
  const nlohmann::json& object_;
  std::string path_;
};

}  // namespace t2s::skill
