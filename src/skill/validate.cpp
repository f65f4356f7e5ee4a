#include "t2s/skill/validate.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include "t2s/core/text.hpp"
#include "t2s/skill/frontmatter.hpp"
#include "t2s/skill/paths.hpp"

namespace t2s::skill {

namespace {

constexpr std::string_view kAllowedKeys[] = {"name", "description", "license", "compatibility", "metadata", "allowed-tools"};
constexpr std::size_t kMaxName = 64, kMaxDescription = 1024, kMaxCompatibility = 500;

std::size_t characters(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// `<tag ...>` or `</tag>`: what Claude's rule forbids in a description.
bool has_xml_tag(std::string_view text) {
  for (auto open = text.find('<'); open != std::string_view::npos; open = text.find('<', open + 1)) {
    auto i = open + 1;
    if (i < text.size() && text[i] == '/') ++i;
    if (i >= text.size() || !((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z'))) continue;
    const auto close = text.find_first_of("<>\n", i);
    if (close != std::string_view::npos && text[close] == '>') return true;
  }
  return false;
}

class Checker {
 public:
  Checker(const SkillDir& skill, std::string_view name) : skill_(skill), name_(name) {}

  std::vector<Problem> run() {
    const auto* skill_md = skill_.text(kSkillMd);
    if (skill_md == nullptr) {
      add(std::string(kSkillMd), 0, "skill-md", "missing: a skill is a directory with a SKILL.md");
    } else {
      check_skill_md(*skill_md);
    }
    for (const auto& [path, file] : skill_.files) {
      if (path == kSkillMd || !is_markdown_file(path)) continue;
      check_text(path, file.bytes);
      const bool nested = path.find('/', kReferencesDir.size()) != std::string::npos;
      if (nested)
        add(path, 0, "reference-depth", "reference files belong directly in references/ (one level deep)");
      else if (!is_reference(path))
        add(path, 0, "reference-name",
            "reference names are letters, digits, '.', '_' and '-', starting with a letter or digit, ending in .md");
      check_links(path, parse_skill_file(path, file.bytes));
      if (!nested && !mentioned_.contains(path))
        add(path, 0, "orphan-reference", "not mentioned in SKILL.md: references are loaded from SKILL.md links");
    }
    return std::move(problems_);
  }

 private:
  void add(std::string file, std::size_t line, std::string rule, std::string message) {
    problems_.push_back({std::move(file), line, std::move(rule), std::move(message)});
  }

  // Bytes a renderer reads differently from this engine: invalid UTF-8, and a lone CR (a line break to
  // CommonMark, not to skill/markdown).
  void check_text(const std::string& path, std::string_view text) {
    const auto line_of = [&](std::size_t offset) {
      return static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n')) + 1;
    };
    if (const auto bad = find_invalid_utf8(text); bad != std::string_view::npos) add(path, line_of(bad), "utf8", "not valid UTF-8");
    if (const auto cr = find_lone_cr(text); cr != std::string_view::npos)
      add(path, line_of(cr), "line-ending",
          "a carriage return without a line feed: renderers break the line there, trace2skill does not "
          "(end lines with \\n or \\r\\n)");
  }

  void check_skill_md(const std::string& text) {
    const std::string file(kSkillMd);
    check_text(file, text);
    try {
      check_frontmatter(parse_skill_md(text).frontmatter);
    } catch (const SkillMdError& e) {
      add(file, e.line(), "frontmatter", e.reason());
    }
    const auto doc = parse_skill_file(file, text);
    for (const auto& mention : file_mentions(file, doc)) mentioned_.insert(mention.path);
    check_links(file, doc);
  }

  void check_frontmatter(const Frontmatter& frontmatter) {
    const std::string file(kSkillMd);
    for (const auto& field : frontmatter.fields)
      if (std::find(std::begin(kAllowedKeys), std::end(kAllowedKeys), field.key) == std::end(kAllowedKeys))
        add(file, field.line, "frontmatter-key",
            "unknown key '" + field.key +
                "' (allowed: name, description, license, compatibility, metadata, allowed-tools; "
                "put anything else under metadata)");
    check_name(frontmatter);
    if (const auto* description = required_string(frontmatter, "description")) {
      const auto length = characters(description->text);
      if (length == 0 || length > kMaxDescription)
        add(file, description->line, "description",
            "description has " + std::to_string(length) + " characters (1-" + std::to_string(kMaxDescription) + ")");
      if (has_xml_tag(description->text)) add(file, description->line, "description", "description contains an XML tag");
    }
    if (const auto* license = frontmatter.find("license"); license && license->kind != YamlValue::Kind::scalar)
      add(file, license->line, "license", "license must be a string, not " + std::string(kind_name(license->kind)));
    if (const auto* compatibility = frontmatter.find("compatibility")) {
      const auto length = characters(compatibility->text);
      if (compatibility->kind != YamlValue::Kind::scalar)
        add(file, compatibility->line, "compatibility",
            "compatibility must be a string, not " + std::string(kind_name(compatibility->kind)));
      else if (length == 0 || length > kMaxCompatibility)
        add(file, compatibility->line, "compatibility",
            "compatibility has " + std::to_string(length) + " characters (1-" + std::to_string(kMaxCompatibility) + ")");
    }
    if (const auto* metadata = frontmatter.find("metadata")) {
      if (metadata->kind != YamlValue::Kind::mapping)
        add(file, metadata->line, "metadata", "metadata must be a mapping of strings to strings");
      for (const auto& entry : metadata->items)
        if (entry.kind != YamlValue::Kind::scalar)
          add(file, entry.line, "metadata",
              "metadata." + entry.key + " must be a string, not " + std::string(kind_name(entry.kind)));
    }
    if (const auto* tools = frontmatter.find("allowed-tools")) {
      const bool list_of_strings = tools->kind == YamlValue::Kind::sequence &&
                                   std::all_of(tools->items.begin(), tools->items.end(), [](const auto& item) {
                                     return item.kind == YamlValue::Kind::scalar;
                                   });
      if (tools->kind != YamlValue::Kind::scalar && !list_of_strings)
        add(file, tools->line, "allowed-tools", "allowed-tools must be a string of tool names or a list of strings");
    }
  }

  const YamlValue* required_string(const Frontmatter& frontmatter, const std::string& key) {
    const auto* value = frontmatter.find(key);
    if (value == nullptr) {
      add(std::string(kSkillMd), 1, key, key + " is missing (required)");
      return nullptr;
    }
    if (value->kind != YamlValue::Kind::scalar) {
      add(std::string(kSkillMd), value->line, key, key + " must be a string, not " + std::string(kind_name(value->kind)));
      return nullptr;
    }
    return value;
  }

  void check_name(const Frontmatter& frontmatter) {
    const auto* value = required_string(frontmatter, "name");
    if (value == nullptr) return;
    const auto& name = value->text;
    const auto problem = [&](const std::string& message) { add(std::string(kSkillMd), value->line, "name", message); };
    if (name.empty() || name.size() > kMaxName)
      problem("name has " + std::to_string(characters(name)) + " characters (1-" + std::to_string(kMaxName) + ")");
    if (!std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }))
      problem("name '" + name + "' may only hold lowercase letters a-z, digits and hyphens");
    if (name.starts_with('-') || name.ends_with('-')) problem("name '" + name + "' starts or ends with a hyphen");
    if (name.find("--") != std::string::npos) problem("name '" + name + "' has consecutive hyphens");
    if (name != name_) problem("name '" + name + "' differs from the directory name '" + name_ + "'");
  }

  void check_links(const std::string& file, const Document& doc) {
    for (const auto& link : find_links(doc))
      if (auto problem = link_problem(skill_, file, link.target)) add(file, link.line + 1, "link", std::move(*problem));
  }

  const SkillDir& skill_;
  std::string name_;
  std::vector<Problem> problems_;
  std::set<std::string> mentioned_;
};

}  // namespace

std::optional<std::string> link_problem(const SkillDir& skill, std::string_view from_file, std::string_view target) {
  const auto resolved = resolve_link(from_file, target);
  const auto link = "link '" + std::string(target) + "'";
  switch (resolved.kind) {
    case LinkTarget::Kind::absolute: return link + " is absolute: links must be relative to the skill";
    case LinkTarget::Kind::escapes: return link + " leaves the skill directory";
    case LinkTarget::Kind::local:
      if (is_sidecar(resolved.path) || !skill.exists(resolved.path))
        return link + " points to " + (resolved.path.empty() ? "." : resolved.path) + ", which does not exist in the skill";
      return std::nullopt;
    case LinkTarget::Kind::external:
    case LinkTarget::Kind::anchor: return std::nullopt;
  }
  return std::nullopt;
}

std::string_view severity_name(Severity severity) { return severity == Severity::warning ? "warning" : "error"; }

Problem budget_problem(const Overrun& overrun, Severity severity) {
  return {overrun.file, overrun.line, overrun.body() ? "body-lines" : "budget", overrun.message(), severity};
}

Validation check_skill(const SkillDir& skill, std::string_view name, const Budgets& budgets) {
  Validation validation;
  validation.errors = Checker(skill, name).run();
  for (const auto& overrun : overruns(skill, budgets))
    validation.warnings.push_back(budget_problem(overrun, Severity::warning));
  for (auto* list : {&validation.errors, &validation.warnings})
    std::stable_sort(list->begin(), list->end(), [](const Problem& a, const Problem& b) {
      return std::tie(a.file, a.line) < std::tie(b.file, b.line);
    });
  return validation;
}

std::vector<Problem> validate_skill(const SkillDir& skill, std::string_view name) { return check_skill(skill, name).errors; }

namespace {

std::string located(const Problem& problem, bool with_severity) {
  std::string text = problem.file;
  if (problem.line != 0) text.append(":").append(std::to_string(problem.line));
  text.append(": ");
  if (with_severity && problem.severity == Severity::warning) text.append("warning: ");
  return text.append("[").append(problem.rule).append("] ").append(problem.message);
}

}  // namespace

std::string format_problem(const Problem& problem) { return located(problem, false); }

std::string format_problems(const std::vector<Problem>& problems, std::string_view dir) {
  std::string text;
  for (const auto& problem : problems) text.append(dir).append("/").append(located(problem, true)).append("\n");
  return text;
}

nlohmann::json problems_json(const std::vector<Problem>& problems) {
  auto list = nlohmann::json::array();
  for (const auto& problem : problems)
    list.push_back({{"file", problem.file},
                    {"line", problem.line},
                    {"rule", problem.rule},
                    {"message", problem.message},
                    {"severity", severity_name(problem.severity)}});
  return list;
}

}  // namespace t2s::skill
