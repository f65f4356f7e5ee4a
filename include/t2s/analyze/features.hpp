// analyze/features: what the `stats` analyst sees of a trajectory: short strings, each counted once
// per trajectory, of two kinds.
//
// Actions: what an agent can do or check — procedure, never entity values:
//   tool:NAME             a tool it called (unless the task's own text names it: then it is the task's
//                         requirement, and neither it nor its arguments are features)
//   arg:TOOL.KEY          an argument name it passed to a tool
//   call:NAME, call:.M    a function or method it called in code (call:mod.f for an imported module)
//   kw:NAME=, kw:NAME=True  a keyword argument (with its value only when True, False or None)
//   import:MOD            a module it imported
//   except:E, raise:E     an exception type it caught or raised
//   cmd:WORD, flag:--x    a shell command it ran, a command-line flag it passed
//   before:A<B            conditional: it called tool A before its first call of tool B (applies to
//                         runs that call B)
//   after:A␟SYMPTOM       conditional: it called tool A after the tool error SYMPTOM (applies to
//                         runs that hit the error)
// Code is read only from arguments that look like code (a newline, brackets, operators, a flag);
// plain text arguments (a message, a summary, "go to cabinet 1") are values. Names defined by the
// run itself (def, class) and names that occur in the task's own text (its instruction and the user's
// messages: ids, function names of the task, item names, words) are entity values and never features.
//
// Symptoms: failure signals, from the checker's feedback ("check: ...") and the last error line of
// tool outputs ("error: ..."), templated: numbers, cells, long or numbered quoted values, ids and paths
// become placeholders (<num>, <cell>, <str>, <hex>, <path>; a file keeps its extension: <file>.xlsx),
// while what an agent needs to recognise the case stays literal: exception names, short quoted keys
// ('price'), regular expressions (^X-[0-9]{6}$). When a template keeps a quoted literal, the same
// message with every quoted value as <str> is a second symptom, so a failure whose key varies from
// task to task still recurs as one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "t2s/trace/trajectory.hpp"

namespace t2s::analyze {

struct Features {
  std::vector<std::string> symptoms;  // sorted, distinct
  std::vector<std::string> actions;   // sorted, distinct (conditional ones included)
};

// The text of a run that features are read from: what the task said, what was said and called, and
// the checker's feedback.
struct RunText {
  struct Call {
    std::string name, arguments;  // arguments: JSON text, as OpenAI sends them
  };
  struct Message {
    std::string role, text;
    std::vector<Call> calls;
  };
  std::string instruction;
  std::vector<Message> messages;
  std::vector<std::string> checker;  // the checker's feedback: outcome.detail, or its message/feedback/error/reason
};
RunText run_text(const trace::Trajectory& trajectory);
// From a trajectory's canonical JSON record (as a trajectory store holds it) without building the
// whole trajectory: the analysis reads every record once, and this is most of its cost. Throws
// InputError naming `where` when the record is not one.
RunText run_text(std::string_view record, const std::string& where);

Features extract_features(const RunText& run);
Features extract_features(const trace::Trajectory& trajectory);

// The feature a conditional feature applies under ("tool:B" for before:A<B, the symptom for
// after:A␟S), or "" for an unconditional one.
std::string condition_of(std::string_view feature);

// Separates the tool from the symptom in an after: feature (a control character: templates have none).
constexpr char kAfterSeparator = '\x1f';

// A message with its values replaced by placeholders, at most 240 characters. keep_literals: short
// quoted keys stay as they are (see above); false: every quoted value is <str>.
std::string symptom_template(std::string_view message, bool keep_literals = true);

// The words of a template for grouping: punctuation dropped, placeholders kept ("cell <cell>
// expected <num>, got None" → {"cell", "<cell>", "expected", "<num>", "got", "None"}).
std::vector<std::string> template_words(std::string_view text);

}  // namespace t2s::analyze
