// core/config: job files. A job is a TOML file (see jobs/) plus `--set key.path=value` overrides
// from the command line; values are read through typed getters whose errors name the file and the
// key. Keys nobody read are reported, so a typo never passes silently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace t2s {

class Config {
 public:
  // Parses TOML text; `name` (usually the file path) appears in every error message.
  static Config parse(std::string_view toml_text, std::string name);
  static Config load(const std::filesystem::path& file);

  // Applies "a.b.c=value": the value is read as a TOML value (number, boolean, array, quoted
  // string) and taken as a plain string when it is none of those.
  void set(std::string_view assignment);

  bool has(std::string_view key) const;
  std::optional<std::string> string(std::string_view key) const;
  std::optional<std::int64_t> integer(std::string_view key) const;
  std::optional<double> number(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<std::vector<std::string>> strings(std::string_view key) const;
  std::optional<std::vector<std::int64_t>> integers(std::string_view key) const;

  // The table at `key` as JSON (null when absent); every key in it counts as read, so the reader
  // must check them itself (and reject unknown ones).
  nlohmann::json table(std::string_view key) const;

  // The array at `key` (an array of tables too) as JSON, null when absent; its reader checks the elements.
  nlohmann::json list(std::string_view key) const;

  // Throws InputError listing every key under `table` that no getter asked for.
  void reject_unread(std::string_view table) const;

  const std::string& name() const { return name_; }
  const std::string& text() const { return text_; }  // the job file as written, for provenance
  // Every value in force (the file with its --set overrides) as canonical JSON: what a run is.
  std::string effective() const { return tree_.dump(); }

 private:
  const nlohmann::json* find(std::string_view key) const;
  [[noreturn]] void wrong_type(std::string_view key, std::string_view expected, const nlohmann::json& value) const;

  std::string name_, text_;
  nlohmann::json tree_ = nlohmann::json::object();
  mutable std::set<std::string, std::less<>> read_;
};

}  // namespace t2s
