#include "t2s/skill/frontmatter.hpp"

#include <yaml-cpp/yaml.h>

namespace t2s::skill {

namespace {

constexpr std::size_t kFirstYamlLine = 2;  // line 1 is the opening `---`

bool is_delimiter(std::string_view line) {
  auto text = line_text(line);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text == "---";
}

std::size_t file_line(const YAML::Mark& mark, std::size_t fallback) {
  return mark.line >= 0 ? static_cast<std::size_t>(mark.line) + kFirstYamlLine : fallback;
}

// Two levels at most: that is all the specification has, and it keeps hostile YAML (deep nesting,
// alias cycles) from ever being walked.
YamlValue convert(const YAML::Node& node, std::size_t line, int depth) {
  YamlValue value;
  value.line = file_line(node.Mark(), line);
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      value.kind = YamlValue::Kind::scalar;
      value.text = node.Scalar();
      break;
    case YAML::NodeType::Sequence:
      value.kind = YamlValue::Kind::sequence;
      if (depth < 2)
        for (const auto& item : node) value.items.push_back(convert(item, value.line, depth + 1));
      break;
    case YAML::NodeType::Map:
      value.kind = YamlValue::Kind::mapping;
      if (depth < 2)
        for (const auto& item : node) {
          const auto key_line = file_line(item.first.Mark(), value.line);
          if (!item.first.IsScalar()) throw SkillMdError(key_line, "frontmatter keys must be plain strings");
          auto entry = convert(item.second, key_line, depth + 1);
          entry.key = item.first.Scalar();
          entry.line = key_line;  // messages about an entry point at its key
          value.items.push_back(std::move(entry));
        }
      break;
    default:
      break;
  }
  return value;
}

}  // namespace

std::string_view kind_name(YamlValue::Kind kind) {
  switch (kind) {
    case YamlValue::Kind::null: return "empty";
    case YamlValue::Kind::scalar: return "a string";
    case YamlValue::Kind::sequence: return "a list";
    case YamlValue::Kind::mapping: return "a mapping";
  }
  return "?";
}

std::size_t Frontmatter::key_line(std::string_view key) const {
  for (const auto& field : fields)
    if (field.key == key) return field.line;
  return 0;
}

const YamlValue* Frontmatter::find(std::string_view key) const {
  for (const auto& field : fields)
    if (field.key == key) return &field;
  return nullptr;
}

std::size_t body_begin(const std::vector<std::string>& lines) {
  if (lines.empty() || !is_delimiter(lines[0])) return 0;
  for (std::size_t close = 1; close < lines.size(); ++close)
    if (is_delimiter(lines[close])) return close + 1;
  return 0;
}

Document parse_skill_file(std::string_view path, std::string_view text) {
  if (path != "SKILL.md") return parse_markdown(text);
  return parse_markdown(text, body_begin(split_lines(text)));
}

SkillMd parse_skill_md(std::string_view text) {
  SkillMd skill;
  const auto lines = split_lines(text);
  if (lines.empty() || !is_delimiter(lines[0]))
    throw SkillMdError(1, "SKILL.md must start with YAML frontmatter (a line '---')");
  const auto body = body_begin(lines);
  if (body == 0) throw SkillMdError(1, "the frontmatter opened on line 1 is never closed by a line '---'");
  const auto close = body - 1;

  std::string yaml;
  for (std::size_t i = 1; i < close; ++i) yaml.append(line_text(lines[i])).push_back('\n');
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw SkillMdError(file_line(e.mark, kFirstYamlLine), "frontmatter is not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw SkillMdError(kFirstYamlLine, "frontmatter must be a mapping of keys to values");
  try {
    auto top = convert(root, kFirstYamlLine, 0);
    for (auto& field : top.items) {
      if (skill.frontmatter.find(field.key) != nullptr)
        throw SkillMdError(field.line, "duplicate frontmatter key '" + field.key + "'");
      skill.frontmatter.fields.push_back(std::move(field));
    }
  } catch (const YAML::Exception& e) {
    throw SkillMdError(file_line(e.mark, kFirstYamlLine), "frontmatter is not valid YAML: " + e.msg);
  }
  skill.doc = parse_markdown(text, body);
  return skill;
}

}  // namespace t2s::skill
