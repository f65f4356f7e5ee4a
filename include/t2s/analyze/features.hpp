// analyze/features: what the `stats` analyst sees of a trajectory. Two kinds of feature, each a
// short string, each counted once per trajectory:
// - symptoms: templated failure signals, from the checker's feedback ("check: ...") and from the
//   last error line of tool outputs ("error: ..."). Values are replaced by placeholders (quoted
//   text <str>, cell references <cell>, numbers <num>, hex ids <hex>, paths <path>) so the same
//   failure with different values is one symptom;
// - actions: what the agent did: the tools it called ("tool:bash") and the identifiers, dotted
//   names, keyword arguments and command-line flags in the arguments of those calls ("act:...").
//   Comments are ignored, and so are one-letter names, numbers and the commonest keywords.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "t2s/trace/trajectory.hpp"

namespace t2s::analyze {

struct Features {
  std::vector<std::string> symptoms;  // sorted, distinct
  std::vector<std::string> actions;   // sorted, distinct
};

Features extract_features(const trace::Trajectory& trajectory);

// A message with its values replaced by placeholders, at most 240 characters.
std::string symptom_template(std::string_view message);

// The words of a template for grouping: punctuation dropped, placeholders kept ("cell <cell>
// expected <num>, got None" → {"cell", "<cell>", "expected", "<num>", "got", "None"}).
std::vector<std::string> template_words(std::string_view text);

}  // namespace t2s::analyze
