#include <gtest/gtest.h>

#include "skill_test_util.hpp"
#include "t2s/skill/frontmatter.hpp"
#include "t2s/skill/markdown.hpp"

namespace {

using namespace t2s::skill;

const std::vector<std::string> kTrickyTexts = {
    "",
    "no newline at all",
    "one line\n",
    "crlf\r\nlines\r\n",
    "mixed\r\nendings\nand no final newline",
    "\n\n\n",
    "lone \r carriage return\n",
    "# Title\n\nText.\n\n```\n# not a heading\n```\n\n## Section\r\n",
    "Setext\n======\n\nAnother\n-------\n",
    "~~~\nunclosed fence\n# hidden\n",
    "\xff\xfe invalid UTF-8 \x80\n# still fine\n",
};

TEST(Markdown, ParseThenRenderIsTheIdentity) {
  for (const auto& text : kTrickyTexts) {
    EXPECT_EQ(join_lines(split_lines(text)), text);
    EXPECT_EQ(parse_markdown(text).render(), text);
    EXPECT_EQ(parse_skill_file("SKILL.md", text).render(), text);
  }
  for (const char* name : {"spreadsheet-edit", "table-qa"})
    for (const auto& [path, file] : t2s::test::test_skill(name).files) {
      EXPECT_EQ(parse_skill_file(path, file.bytes).render(), file.bytes) << path;
      if (path == "SKILL.md") EXPECT_EQ(parse_skill_md(file.bytes).doc.render(), file.bytes);
    }
}

TEST(Markdown, LinesKeepTheirTerminators) {
  const auto lines = split_lines("a\r\nb\nc");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "a\r\n");
  EXPECT_EQ(line_text(lines[0]), "a");
  EXPECT_EQ(lines[2], "c");
  EXPECT_EQ(line_ending(lines), "\r\n");
  EXPECT_EQ(line_ending(split_lines("x")), "\n");
  EXPECT_TRUE(is_blank(" \t\r\n"));
  EXPECT_FALSE(is_blank(" x\n"));
}

TEST(Markdown, AtxHeadingsFollowCommonMark) {
  struct Case {
    const char* line;
    int level;  // 0: not a heading
    const char* title;
  };
  for (const auto& c : std::vector<Case>{{"# A", 1, "A"},
                                          {"## A ##", 2, "A"},
                                          {"###   A   ", 3, "A"},
                                          {"   # Indented 3", 1, "Indented 3"},
                                          {"# C#", 1, "C#"},
                                          {"# A #b", 1, "A #b"},
                                          {"#\tTab", 1, "Tab"},
                                          {"## Title\r\n", 2, "Title"},
                                          {"#", 1, ""},
                                          {"# #", 1, ""},
                                          {"###### Six", 6, "Six"},
                                          {"####### Seven", 0, ""},
                                          {"#hashtag", 0, ""},
                                          {"    # code", 0, ""},
                                          {"\t# code", 0, ""},
                                          {"text # not", 0, ""}}) {
    const auto heading = parse_heading(c.line);
    ASSERT_EQ(heading.has_value(), c.level != 0) << c.line;
    if (heading) {
      EXPECT_EQ(heading->level, c.level) << c.line;
      EXPECT_EQ(heading->title, c.title) << c.line;
    }
  }
}

TEST(Markdown, FencedCodeHidesHeadings) {
  const auto doc = parse_markdown(
      "# A\n"
      "```python\n"
      "# comment, not a heading\n"
      "```not a close\n"
      "## still code\n"
      "````\n"          // longer run of the same marker closes
      "## B\n"
      "~~~\n"
      "```\n"           // another marker does not close
      "# hidden\n"
      "~~~\n"
      "### C\n");
  ASSERT_EQ(doc.sections.size(), 3u);
  EXPECT_EQ(doc.sections[0].title, "A");
  EXPECT_EQ(doc.sections[1].title, "B");
  EXPECT_EQ(doc.sections[2].title, "C");
  EXPECT_TRUE(doc.fenced[1]);
  EXPECT_TRUE(doc.fenced[4]);
  EXPECT_FALSE(doc.fenced[6]);
  bool open = false;
  fenced_lines(split_lines("```\nx\n"), 0, &open);
  EXPECT_TRUE(open);
  EXPECT_FALSE(parse_fence("``code``").has_value());  // a code span
}

TEST(Markdown, SectionsNestByLevelAndExtendToTheNextSameOrHigherHeading) {
  const auto doc = parse_markdown(
      "intro\n"        // 0
      "# Top\n"        // 1
      "text\n"         // 2
      "## A\n"         // 3
      "### A1\n"       // 4
      "a1\n"           // 5
      "## B\n"         // 6
      "Setext\n"       // 7 (setext headings are plain text)
      "------\n"       // 8
      "#### Deep\n"    // 9
      "# Next\n");     // 10
  ASSERT_EQ(doc.sections.size(), 6u);
  const auto& top = doc.sections[0];
  EXPECT_EQ(top.heading, 1u);
  EXPECT_EQ(top.end, 10u);
  EXPECT_EQ(top.children, (std::vector<std::size_t>{1, 3}));
  EXPECT_EQ(doc.sections[1].end, 6u);    // ## A runs up to ## B, subsection included
  EXPECT_EQ(doc.sections[2].parent, 1u);
  EXPECT_EQ(doc.sections[2].end, 6u);
  EXPECT_EQ(doc.sections[3].end, 10u);   // ## B up to # Next
  EXPECT_EQ(doc.sections[4].parent, 3u); // #### Deep under ## B (levels may skip)
  EXPECT_EQ(doc.sections[5].parent, npos);
  EXPECT_EQ(doc.section_at(0), npos);
  EXPECT_EQ(doc.section_at(5), 2u);
  EXPECT_EQ(doc.section_at(8), 3u);
  EXPECT_EQ(doc.heading_text(2), "### A1");
}

TEST(Markdown, SectionSpecsMatchExactTitlesWithOrWithoutALevel) {
  const auto doc = parse_markdown("# Formulas\n## Formulas\n### Ranges\n```\n## Ranges\n```\n");
  EXPECT_EQ(find_sections(doc, parse_section_spec("## Formulas")), (std::vector<std::size_t>{1}));
  EXPECT_EQ(find_sections(doc, parse_section_spec("##Formulas")), (std::vector<std::size_t>{1}));
  EXPECT_EQ(find_sections(doc, parse_section_spec("  Formulas  ")), (std::vector<std::size_t>{0, 1}));
  EXPECT_EQ(find_sections(doc, parse_section_spec("Ranges")), (std::vector<std::size_t>{2}));
  EXPECT_TRUE(find_sections(doc, parse_section_spec("formulas")).empty());  // case matters
  EXPECT_TRUE(find_sections(doc, parse_section_spec("#### Ranges")).empty());
  const auto spec = parse_section_spec("## Formulas ##");
  EXPECT_EQ(spec.level, 2);
  EXPECT_EQ(spec.title, "Formulas");
}

TEST(Markdown, LinksOutsideCode) {
  const auto doc = parse_markdown(
      "See [a](references/a.md) and ![img](assets/x.png \"title\").\n"
      "Angle [b](<references/with space.md>) and [c](https://example.com/(x)).\n"
      "Code `[d](references/d.md)` is not a link, ``[e](e.md) ` `` neither.\n"
      "```\n[f](f.md)\n```\n"
      "[ref]: references/ref.md \"Ref\"\n"
      "[^note]: a footnote, not a link\n"
      "Nested [g](scripts/run(1).py) parens.\n");
  std::vector<std::string> targets;
  for (const auto& link : find_links(doc)) {
    targets.push_back(link.target);
    EXPECT_EQ(doc.lines[link.line].substr(link.column, link.target.size()), link.target);  // where to rewrite it
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"references/a.md", "assets/x.png", "references/with space.md",
                                               "https://example.com/(x)", "references/ref.md", "scripts/run(1).py"}));
}

TEST(Markdown, FileMentionsAreLinksAndPlainReferencePaths) {
  const auto doc = parse_markdown(
      "Read [x](references/x.md) first.\n"
      "Then `references/y.md`, or see references/z.md.\n"
      "Not my-references/no.md nor references/.md nor references/dir/deep.md.\n"
      "Links resolve: [n](references/my%20notes.md), [c](<references/caf\xC3\xA9.md>), [s](scripts/run.sh#top).\n"
      "Again references/x.md, [web](https://example.com), [up](../x.md).\n");
  std::vector<std::string> mentions;
  for (const auto& [path, line] : file_mentions("SKILL.md", doc)) mentions.push_back(std::to_string(line) + " " + path);
  EXPECT_EQ(mentions, (std::vector<std::string>{"0 references/x.md", "0 references/x.md", "1 references/y.md",
                                                "1 references/z.md", "3 references/my notes.md",
                                                "3 references/caf\xC3\xA9.md", "3 scripts/run.sh", "4 references/x.md"}));
  // Links resolve against the file they are written in; plain paths are read from the skill root.
  const auto reference = parse_markdown("See [y](y.md), [top](../SKILL.md) and references/z.md.\n");
  mentions.clear();
  for (const auto& [path, line] : file_mentions("references/x.md", reference)) mentions.push_back(path);
  EXPECT_EQ(mentions, (std::vector<std::string>{"references/y.md", "SKILL.md", "references/z.md"}));
}

TEST(Markdown, LoneCarriageReturns) {
  EXPECT_EQ(find_lone_cr("a\r\nb\n"), npos);
  EXPECT_EQ(find_lone_cr("a\rb"), 1u);
  EXPECT_EQ(find_lone_cr("a\r\n\r"), 3u);
  EXPECT_EQ(split_lines("a\rb\n").size(), 1u);  // a lone CR does not end a line here
}

TEST(Markdown, LineKinds) {
  EXPECT_EQ(line_kind("- item\n"), LineKind::list_item);
  EXPECT_EQ(line_kind("  * nested\n"), LineKind::list_item);
  EXPECT_EQ(line_kind("12. twelfth\n"), LineKind::list_item);
  EXPECT_EQ(line_kind("3) third"), LineKind::list_item);
  EXPECT_EQ(line_kind("| a | b |\n"), LineKind::table_row);
  EXPECT_EQ(line_kind("*emphasis*\n"), LineKind::text);
  EXPECT_EQ(line_kind("---\n"), LineKind::text);
  EXPECT_EQ(line_kind("## H\n"), LineKind::heading);
  EXPECT_EQ(line_kind("   \n"), LineKind::blank);
}

}  // namespace
