#include "t2s/skill/provenance.hpp"

#include <algorithm>
#include <tuple>

#include "json_fields.hpp"
#include "t2s/core/sha256.hpp"
#include "t2s/skill/frontmatter.hpp"

namespace t2s::skill {

namespace {

using nlohmann::json;

constexpr std::string_view kFormat = "trace2skill/provenance";

Block read_block(const json& value, const std::string& path) {
  if (!value.is_object()) throw InputError(path + ": a block must be an object");
  const JsonFields fields(value, path);
  Block block;
  block.file = fields.string("file");
  if (block.file.empty()) fields.fail("file", "missing");
  block.first_line = fields.unsigned_integer("first_line");
  block.last_line = fields.unsigned_integer("last_line");
  if (block.first_line == 0 || block.last_line < block.first_line)
    fields.fail("first_line", "lines must satisfy 1 <= first_line <= last_line");
  block.sha256 = fields.string("sha256");
  block.section = fields.string("section");
  block.op = fields.string("op");
  block.edit = fields.unsigned_integer("edit");
  block.patch_sha256 = fields.string("patch_sha256");
  if (const auto* support = fields.find("support")) block.support = Support::from_json(*support, path + ".support");
  block.unlisted = fields.unsigned_integer("unlisted");
  if (const auto* origin = fields.find("origin")) block.origin = read_origin(*origin, path + ".origin");
  return block;
}

std::string abbreviated(const std::string& id) { return id.size() > 12 ? id.substr(0, 12) + "…" : id; }

}  // namespace

nlohmann::json block_json(const Block& block) {
  json out = {{"file", block.file},
          {"first_line", block.first_line},
          {"last_line", block.last_line},
          {"sha256", block.sha256},
          {"section", block.section},
          {"op", block.op},
          {"edit", block.edit},
          {"patch_sha256", block.patch_sha256},
          {"support", block.support.to_json()},
          {"prevalence", block.prevalence()},
          {"origin", origin_json(block.origin)}};
  if (block.unlisted != 0) out["unlisted"] = block.unlisted;
  return out;
}

Provenance read_provenance(const SkillDir& skill) {
  const auto* text = skill.text(kProvenancePath);
  if (text == nullptr) return {};
  const std::string where(kProvenancePath);
  json root;
  try {
    root = json::parse(*text);
  } catch (const json::exception&) {
    throw InputError(where + ": not valid JSON");
  }
  if (!root.is_object()) throw InputError(where + ": must be a JSON object");
  const JsonFields fields(root, where);
  if (fields.string("format") != kFormat) fields.fail("format", "must be \"" + std::string(kFormat) + "\"");
  if (fields.unsigned_integer("format_version") != 1) fields.fail("format_version", "unsupported (expected 1)");
  const auto* blocks = fields.find("blocks");
  if (blocks == nullptr || !blocks->is_array()) fields.fail("blocks", "must be a list");
  Provenance provenance;
  for (std::size_t i = 0; i < blocks->size(); ++i)
    provenance.blocks.push_back(read_block((*blocks)[i], where + ": blocks[" + std::to_string(i) + "]"));
  return provenance;
}

void write_provenance(SkillDir& skill, Provenance provenance) {
  std::vector<Block> kept;
  for (auto& block : provenance.blocks) {
    const auto* text = skill.text(block.file);
    if (text == nullptr) continue;
    const auto doc = parse_skill_file(block.file, *text);
    if (block.last_line > doc.lines.size()) continue;
    // Blank lines at either end are spacing, not content: a block starts and ends on text.
    while (block.first_line <= block.last_line && is_blank(doc.lines[block.first_line - 1])) ++block.first_line;
    while (block.last_line >= block.first_line && is_blank(doc.lines[block.last_line - 1])) --block.last_line;
    if (block.first_line > block.last_line) continue;
    std::string bytes;
    for (auto line = block.first_line - 1; line < block.last_line; ++line) bytes += doc.lines[line];
    block.sha256 = to_hex(sha256(bytes));
    const auto section = doc.section_at(block.first_line - 1);
    block.section = section == npos ? "" : doc.heading_text(section);
    kept.push_back(std::move(block));
  }
  std::sort(kept.begin(), kept.end(), [](const Block& a, const Block& b) {
    return std::tie(a.file, a.first_line, a.last_line, a.edit) < std::tie(b.file, b.first_line, b.last_line, b.edit);
  });
  const std::string path(kProvenancePath);
  if (kept.empty()) {
    skill.files.erase(path);
    return;
  }
  json blocks = json::array();
  for (const auto& block : kept) blocks.push_back(block_json(block));
  const json root = {{"format", kFormat}, {"format_version", 1}, {"blocks", blocks}};
  skill.files[path] = {root.dump(2, ' ', false, json::error_handler_t::replace) + "\n", false};
}

Provenance follow_lines(const Provenance& provenance, const LineOrigins& origins, const SkillDir& skill) {
  Provenance result;
  for (const auto& block : provenance.blocks) {
    std::map<std::string, std::pair<std::size_t, std::size_t>> ranges;  // output file → first, last (0-based)
    for (const auto& [file, lines] : origins)
      for (std::size_t i = 0; i < lines.size(); ++i) {
        const auto& origin = lines[i];
        if (origin.edit != npos || origin.file != block.file || origin.line + 1 < block.first_line ||
            origin.line + 1 > block.last_line)
          continue;
        auto [range, fresh] = ranges.try_emplace(file, i, i);
        if (!fresh) range->second = {std::min(range->second.first, i), std::max(range->second.second, i)};
      }
    for (const auto& [file, range] : ranges) {
      Block moved = block;
      moved.file = file;
      moved.first_line = range.first + 1;
      moved.last_line = range.second + 1;
      result.blocks.push_back(std::move(moved));
    }
    if (ranges.empty() && !origins.contains(block.file) && skill.files.contains(block.file))
      result.blocks.push_back(block);
  }
  return result;
}

void add_edit_blocks(Provenance& provenance, const LineOrigins& origins, const Patch& patch) {
  for (const auto& [file, lines] : origins)
    for (std::size_t i = 0; i < lines.size();) {
      const auto edit = lines[i].edit;
      std::size_t end = i + 1;
      while (end < lines.size() && lines[end].edit == edit) ++end;
      if (edit != npos && edit < patch.edits.size()) {
        Block block;
        block.file = file;
        block.first_line = i + 1;
        block.last_line = end;
        block.op = op_name(patch.edits[edit].op);
        block.edit = edit;
        block.patch_sha256 = patch.sha256;
        block.support = patch.edits[edit].support;
        block.origin = patch.origin;
        provenance.blocks.push_back(std::move(block));
      }
      i = end;
    }
}

void name_positions(Provenance& provenance, const std::function<std::string(std::uint32_t)>& id_of, std::size_t limit) {
  for (auto& block : provenance.blocks) {
    if (!block.support.by_position()) continue;
    const auto& positions = block.support.positions();
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < positions.size() && i < limit; ++i) ids.push_back(id_of(positions[i]));
    block.unlisted += positions.size() - ids.size();
    block.support = Support(std::move(ids));
  }
}

std::string describe(const Block& block) {
  std::string text = block.file + ":" + std::to_string(block.first_line);
  if (block.last_line != block.first_line) text += "-" + std::to_string(block.last_line);
  text += " " + block.op + " (edits[" + std::to_string(block.edit) + "])";
  if (!block.section.empty()) text += " in " + block.section;
  text += ": support " + std::to_string(block.prevalence());
  if (block.origin.population != 0) text += "/" + std::to_string(block.origin.population);
  if (!block.support.empty()) {
    text += " [";
    for (std::size_t i = 0; i < block.support.size() && i < 3; ++i) text += (i ? ", " : "") + abbreviated(block.support.member_text(i));
    text += block.prevalence() > 3 ? ", …]" : "]";
  }
  const auto& origin = block.origin;
  if (!origin.merge_path.empty()) {
    text += "; merge ";
    for (std::size_t i = 0; i < origin.merge_path.size(); ++i) text += (i ? " > " : "") + origin.merge_path[i];
  }
  if (!origin.model.empty()) text += "; model " + origin.model;
  if (!origin.model_hash.empty()) text += " (" + abbreviated(origin.model_hash) + ")";
  if (!origin.prompt_hash.empty()) text += "; prompt " + abbreviated(origin.prompt_hash);
  return text;
}

}  // namespace t2s::skill
