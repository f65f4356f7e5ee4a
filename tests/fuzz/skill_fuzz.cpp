// libFuzzer target for everything of the skill engine that reads untrusted text: SKILL.md (frontmatter
// and Markdown), patches (a model writes them) and applying a patch to a skill. The first byte picks
// the part; the rest is its input. Each part may only throw t2s::InputError (a clear refusal); a
// crash, a hang, a sanitizer report or another exception is a bug. Parsing must also round-trip:
// the lines of a parsed file render back to the exact input bytes.
//
// Built by scripts/fuzz with Debian's clang (-fsanitize=fuzzer,address,undefined); run there briefly
// on the corpus in tests/fuzz/corpus, which CI does as part of scripts/test.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "t2s/core/error.hpp"
#include "t2s/skill/apply.hpp"
#include "t2s/skill/frontmatter.hpp"
#include "t2s/skill/markdown.hpp"
#include "t2s/skill/patch.hpp"
#include "t2s/skill/skill_dir.hpp"
#include "t2s/skill/validate.hpp"

namespace {

using namespace t2s::skill;

[[noreturn]] void bug(const std::string& what) {
  std::cerr << "skill_fuzz: " << what << "\n";
  std::abort();
}

// A small valid skill that fuzzed patches are applied to.
const SkillDir& base_skill() {
  static const SkillDir skill = [] {
    SkillDir s;
    s.files["SKILL.md"].bytes =
        "---\nname: fuzz-skill\ndescription: A small skill that fuzzed patches are applied to.\n---\n"
        "# Fuzz skill\n\n## Formulas\n\n- Recalculate before reading values back.\n\n### Details\n\nSee "
        "[notes](references/notes.md).\n\n## Rows\n\n```python\n# not a heading\n```\n";
    s.files["references/notes.md"].bytes = "# Notes\n\nOne line.\n";
    s.files["scripts/run.sh"] = { "#!/bin/sh\necho protected\n", true};
    return s;
  }();
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
  (void)find_links(doc);
  (void)reference_mentions(doc);
}

void fuzz_patch(std::string_view text) {
  Patch patch;
  try {
    patch = read_patch(text, "fuzz.json");
  } catch (const t2s::InputError&) {
    return;
  }
  for (bool partial : {false, true}) {
    ApplyOptions options;
    options.partial = partial;
    const ApplyResult result = apply_patch(base_skill(), "fuzz-skill", patch, options);
    if (result.edits.size() != patch.edits.size()) bug("an edit is missing from the apply result");
    if (result.ok) {
      if (!validate_skill(result.skill, "fuzz-skill").empty()) bug("an applied skill does not validate");
      const std::string* script = result.skill.text("scripts/run.sh");
      if (script == nullptr || *script != "#!/bin/sh\necho protected\n")
        bug("a protected file changed");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0: fuzz_skill_md(text); break;
      case 1: fuzz_markdown(text); break;
      case 2: fuzz_patch(text); break;
    }
  } catch (const t2s::InputError&) {
  } catch (const std::exception& e) {
    bug(std::string("unexpected exception: ") + e.what());
  }
  return 0;
}
