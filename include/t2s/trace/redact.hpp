// trace/redact: removes secrets from trajectory text before it goes into a prompt.
//
// Agent trajectories carry whatever the agent saw: API keys in environment dumps, bearer tokens in
// curl commands, private keys in files, passwords in database URLs. None of it may reach a model
// server. Built-in detectors (linear literal scans) cover the common providers' key formats, bearer
// tokens, JSON Web Tokens, values assigned to secret-sounding names (password=, "api_key": ...,
// AWS_SECRET_ACCESS_KEY=), PEM private-key blocks and passwords in URLs; extra patterns (RE2 regular
// expressions, linear time) can be added from the job file. Each secret becomes
// "[REDACTED:<kind>]" and is counted; overlapping finds are redacted as one.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace t2s::trace {

class Redactor {
 public:
  Redactor();  // the built-in detectors only
  ~Redactor();
  Redactor(Redactor&&) noexcept;
  Redactor& operator=(Redactor&&) noexcept;

  // Adds a detector: every match of `regex` (RE2 syntax) is replaced. InputError when the regex is
  // invalid or matches the empty string.
  void add_pattern(const std::string& kind, const std::string& regex);

  // Replaces every secret in `text`; returns how many were replaced.
  std::size_t redact(std::string& text) const;

 private:
  struct Pattern;
  std::vector<Pattern> extra_;
};

}  // namespace t2s::trace
