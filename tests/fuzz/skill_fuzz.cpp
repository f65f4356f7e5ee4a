// libFuzzer target for everything of the skill engine that reads untrusted text: SKILL.md (frontmatter
// and Markdown), patches (a model writes them) and applying a patch to a skill. The first byte picks
// the part; the rest is its input:
//   0  SKILL.md                 1  Markdown              2  a patch, applied to a fixed skill
//   3  SKILL.md, a NUL byte, then a patch applied to a skill with that SKILL.md
// Each part may only throw t2s::InputError (a clear refusal); a crash, a hang, a sanitizer report or
// another exception is a bug. Parsing must round-trip: the lines of a parsed file render back to the
// exact input bytes. Applying must keep its promises (check_apply): in atomic mode ok means every
// edit applied; files a patch may not edit stay byte for byte; the headings of every file are the
// original ones less those the applied edits removed plus those they wrote; CRLF files stay CRLF, a
// missing final newline stays missing; an empty patch changes nothing, and the output reapplies as is.
//
// Built by scripts/fuzz with Debian's clang (-fsanitize=fuzzer,address,undefined); run there briefly
// on the corpus in tests/fuzz/corpus, which CI does as part of scripts/test.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "t2s/core/error.hpp"
#include "t2s/skill/apply.hpp"
#include "t2s/skill/frontmatter.hpp"
#include "t2s/skill/markdown.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/paths.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "t2s/skill/validate.hpp"

namespace {

using namespace t2s::skill;

[[noreturn]] void bug(const std::string& what) {
  std::cerr << "skill_fuzz: " << what << "\n";
  std::abort();
}

// A skill around `skill_md`: a reference, a script, a licence and an asset that patches may not touch.
SkillDir skill_with(std::string skill_md) {
  SkillDir s;
  s.files["SKILL.md"].bytes = std::move(skill_md);
  s.files["references/notes.md"].bytes = "# Notes\n\nOne line.\n";
  s.files["scripts/run.sh"] = {"#!/bin/sh\necho protected\n", true};
  s.files["LICENSE"].bytes = "MIT\n";
  s.files["assets/data.csv"].bytes = "a,b\n1,2\n";
  return s;
}

// The fixed skill of mode 2.
const SkillDir& base_skill() {
  static const SkillDir skill = skill_with(
      "---\nname: fuzz-skill\ndescription: A small skill that fuzzed patches are applied to.\n---\n"
      "# Fuzz skill\n\n## Formulas\n\n- Recalculate before reading values back.\n\n### Details\n\nSee "
      "[notes](references/notes.md).\n\n## Rows\n\n```python\n# not a heading\n```\n");
  return skill;
}

void fuzz_skill_md(std::string_view text) {
  const Document doc = parse_skill_file("SKILL.md", text);
  if (doc.render() != text) bug("SKILL.md does not render back to its bytes");
  try {
    const SkillMd md = parse_skill_md(text);
    if (md.doc.render() != text) bug("parse_skill_md does not render back to its bytes");
    SkillDir dir;
    dir.files["SKILL.md"].bytes = std::string(text);
    (void)validate_skill(dir, "fuzz-skill");
  } catch (const t2s::InputError&) {
  }
}

void fuzz_markdown(std::string_view text) {
  const Document doc = parse_markdown(text);
  if (doc.render() != text) bug("Markdown does not render back to its bytes");
  for (const auto& section : doc.sections)
    if (section.heading >= doc.lines.size() || section.end > doc.lines.size() || section.end <= section.heading)
      bug("a section extent is outside the document");
  for (const auto& link : find_links(doc))
    if (doc.lines[link.line].compare(link.column, link.target.size(), link.target) != 0)
      bug("a link's column does not hold its target");
  (void)file_mentions("SKILL.md", doc);
}

// A multiset of headings: (level, title) → count.
using Headings = std::map<std::pair<int, std::string>, int>;

void add_headings(Headings& into, const Document& doc) {
  for (const auto& section : doc.sections) ++into[{section.level, section.title}];
}

Headings headings_of(const std::string& path, const std::string* text) {
  Headings headings;
  if (text != nullptr) add_headings(headings, parse_skill_file(path, *text));
  return headings;
}

std::string lf_only(std::string text) {
  for (auto at = text.find("\r\n"); at != std::string::npos; at = text.find("\r\n", at)) text.erase(at, 1);
  return text;
}

// What the applied edits of `patch` may remove from and add to the headings of each file, over-
// approximated independently of the engine: a block of text is read on its own (its own fences
// respected), a replacement by every occurrence of old_text with its whole lines.
struct HeadingBudget {
  std::map<std::string, Headings> removable, declared;
};

HeadingBudget heading_budget(const SkillDir& skill, const Patch& patch, const ApplyResult& result) {
  HeadingBudget budget;
  for (std::size_t i = 0; i < patch.edits.size(); ++i) {
    if (result.edits[i].status != EditStatus::applied) continue;
    const auto& edit = patch.edits[i];
    auto& removable = budget.removable[edit.file];
    auto& declared = budget.declared[edit.file];
    const auto* text = skill.text(edit.file);
    auto content = lf_only(edit.content);
    if (content.ends_with('\n')) content.pop_back();
    switch (edit.op) {
      case Op::insert_after:
      case Op::insert_before:
      case Op::append_to_section: add_headings(declared, parse_markdown(content)); break;
      case Op::add_section: {
        const auto spec = parse_section_spec(edit.target_section);
        ++declared[{spec.level, spec.title}];
        add_headings(declared, parse_markdown(content));
        break;
      }
      case Op::replace_in_section: {
        if (text == nullptr) bug("a replace in a missing file applied");
        auto file = lf_only(*text);
        if (!file.ends_with('\n')) file += '\n';  // the engine reads every line as ending in one
        // Where the body starts: what replaces frontmatter lines is frontmatter, never a heading.
        std::size_t body = 0;
        if (edit.file == "SKILL.md") {
          const auto lines = split_lines(file);
          for (std::size_t line = 0; line < body_begin(lines); ++line) body += lines[line].size();
        }
        const auto old = lf_only(edit.old_text);
        for (auto at = file.find(old); at != std::string::npos && !old.empty(); at = file.find(old, at + 1)) {
          const auto begin = file.rfind('\n', at == 0 ? 0 : at - 1);
          const auto first = at == 0 || begin == std::string::npos ? 0 : begin + 1;
          const auto last = std::min(file.find('\n', at + old.size()), file.size());
          add_headings(removable, parse_markdown(file.substr(first, last - first)));
          if (first >= body)
            add_headings(declared, parse_markdown(file.substr(first, at - first) + content +
                                                  file.substr(at + old.size(), last - at - old.size())));
        }
        break;
      }
      case Op::delete_section: {
        if (text == nullptr) bug("a delete_section in a missing file applied");
        const auto doc = parse_skill_file(edit.file, *text);
        for (const auto s : find_sections(doc, parse_section_spec(edit.target_section)))
          for (auto inner = s; inner < doc.sections.size() && doc.sections[inner].heading < doc.sections[s].end; ++inner)
            ++removable[{doc.sections[inner].level, doc.sections[inner].title}];
        break;
      }
      case Op::create: declared = headings_of(edit.file, &edit.content); break;
      case Op::delete_file: removable = headings_of(edit.file, text); break;
    }
  }
  return budget;
}

// Whether `a` minus `b` (as multisets) fits in `allowed`.
bool difference_within(const Headings& a, const Headings& b, const Headings& allowed) {
  for (const auto& [heading, count] : a) {
    const auto found = b.find(heading);
    const int extra = count - (found == b.end() ? 0 : found->second);
    const auto budget = allowed.find(heading);
    if (extra > (budget == allowed.end() ? 0 : budget->second)) return false;
  }
  return true;
}

bool all_crlf(std::string_view text) {
  std::size_t newlines = 0;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n' && (++newlines, i == 0 || text[i - 1] != '\r')) return false;
  return newlines > 0;
}

void check_apply(const SkillDir& skill, const Patch& patch) {
  for (const bool partial : {false, true}) {
    ApplyOptions options;
    options.partial = partial;
    const ApplyResult result = apply_patch(skill, "fuzz-skill", patch, options);
    if (result.edits.size() != patch.edits.size()) bug("an edit is missing from the apply result");
    if (!result.ok) continue;
    if (!partial && result.applied() != patch.edits.size()) bug("an atomic apply is ok but not every edit applied");
    const auto& out = result.skill;

    for (const auto* files : {&skill.files, &out.files})
      for (const auto& [path, file] : *files) {
        if (is_editable(path) || is_sidecar(path)) continue;
        const auto before = skill.files.find(path), after = out.files.find(path);
        if (before == skill.files.end() || after == out.files.end() || before->second.bytes != after->second.bytes ||
            before->second.executable != after->second.executable)
          bug("a file patches may not edit changed: " + path);
      }

    auto budget = heading_budget(skill, patch, result);
    for (const auto* files : {&skill.files, &out.files})
      for (const auto& entry : *files) {
        const auto& path = entry.first;
        if (!is_markdown_file(path)) continue;
        const auto before = headings_of(path, skill.text(path)), after = headings_of(path, out.text(path));
        if (!difference_within(after, before, budget.declared[path]))
          bug("a heading appeared in " + path + " that no applied edit wrote");
        if (!difference_within(before, after, budget.removable[path]))
          bug("a heading disappeared from " + path + " that no applied edit removed");
      }

    const auto& skill_md = *skill.text("SKILL.md");
    if (const auto* written = out.text("SKILL.md"); written != nullptr && !written->empty() && !skill_md.empty()) {
      if (all_crlf(skill_md) && !all_crlf(*written)) bug("a CRLF SKILL.md got another line ending");
      if (skill_md.ends_with('\n') != written->ends_with('\n')) bug("SKILL.md's final newline changed");
    }
    if (patch.edits.empty() && out.files.size() != skill.files.size()) bug("an empty patch changed the skill");
    for (const auto& [path, file] : skill.files)
      if (patch.edits.empty() && (out.text(path) == nullptr || *out.text(path) != file.bytes))
        bug("an empty patch changed " + path);

    const auto again = apply_patch(out, "fuzz-skill", Patch{}, options);
    if (!again.ok) bug("an applied skill does not apply again");
    for (const auto& [path, file] : out.files)
      if (again.skill.text(path) == nullptr || *again.skill.text(path) != file.bytes)
        bug("an applied skill changes when applied again: " + path);
    if (again.skill.files.size() != out.files.size()) bug("an applied skill gains files when applied again");
  }
}

Patch read_fuzzed_patch(std::string_view text) { return read_patch(text, "fuzz.json"); }

void fuzz_patch(std::string_view text) { check_apply(base_skill(), read_fuzzed_patch(text)); }

void fuzz_skill_and_patch(std::string_view text) {
  const auto separator = text.find('\0');
  if (separator == std::string_view::npos) return;
  check_apply(skill_with(std::string(text.substr(0, separator))), read_fuzzed_patch(text.substr(separator + 1)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0: fuzz_skill_md(text); break;
      case 1: fuzz_markdown(text); break;
      case 2: fuzz_patch(text); break;
      case 3: fuzz_skill_and_patch(text); break;
    }
  } catch (const t2s::InputError&) {
  } catch (const std::exception& e) {
    bug(std::string("unexpected exception: ") + e.what());
  }
  return 0;
}
