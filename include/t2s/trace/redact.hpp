// trace/redact: removes secrets from trajectory text before it goes into a prompt.
//
// Agent trajectories carry whatever the agent saw: API keys in environment dumps, bearer tokens in
// curl commands, private keys in files, passwords in database URLs. None of it may reach a model
// server. Built-in detectors (fast literal scans, no regex) cover the common providers' key formats,
// bearer tokens, PEM private-key blocks and passwords in URLs; extra patterns (ECMAScript regex)
// can be added from the job file. Each secret becomes "[REDACTED:<kind>]" and is counted.
#pragma once

#include <regex>
#include <string>
#include <vector>

namespace t2s::trace {

class Redactor {
 public:
  Redactor() = default;  // the built-in detectors only

  // Adds a detector: every match of `regex` is replaced. InputError when the regex is invalid or
  // can match the empty string.
  void add_pattern(const std::string& kind, const std::string& regex);

  // Replaces every secret in `text`; returns how many were replaced.
  std::size_t redact(std::string& text) const;

 private:
  struct Pattern {
    std::string kind;
    std::regex regex;
  };
  std::vector<Pattern> extra_;
};

}  // namespace t2s::trace
