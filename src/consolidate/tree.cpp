#include "t2s/consolidate/tree.hpp"

#include "t2s/core/error.hpp"

namespace t2s::consolidate {

MergeTree::MergeTree(std::uint64_t leaves, TreeShape shape) : shape_(shape) {
  if (shape.fan_in < 2) throw InputError("consolidate.fan_in: must be at least 2, not " + std::to_string(shape.fan_in));
  sizes_.push_back(leaves);
  if (leaves == 0) return;
  do {
    const bool last_allowed = shape.max_levels != 0 && sizes_.size() == shape.max_levels;
    sizes_.push_back(last_allowed ? 1 : (sizes_.back() + shape.fan_in - 1) / shape.fan_in);
  } while (sizes_.back() > 1);
}

std::pair<std::uint64_t, std::uint64_t> MergeTree::children(std::size_t level, std::uint64_t index) const {
  if (level == 0 || level > levels() || index >= sizes_[level]) throw Error("merge tree: no node " + node_name(level, index));
  const bool capped = sizes_[level] == 1 && shape_.max_levels != 0 && level == shape_.max_levels;
  if (capped) return {0, sizes_[level - 1]};
  const std::uint64_t first = index * shape_.fan_in;
  return {first, std::min(first + shape_.fan_in, sizes_[level - 1])};
}

std::uint64_t MergeTree::first_leaf(std::size_t level, std::uint64_t index) const {
  for (; level > 0; --level) index = children(level, index).first;
  return index;
}

std::string MergeTree::node_name(std::size_t level, std::uint64_t index) {
  return "L" + std::to_string(level) + "/" + std::to_string(index);
}

std::vector<std::string> MergeTree::path_to_root(std::size_t level, std::uint64_t index) const {
  std::vector<std::string> path;
  for (std::size_t l = level; l <= levels(); ++l) {
    path.insert(path.begin(), node_name(l, index));
    if (l == levels()) break;
    // the parent is the node whose children range holds index
    const auto parent_size = sizes_[l + 1];
    std::uint64_t parent = parent_size == 1 ? 0 : index / shape_.fan_in;
    index = parent;
  }
  return path;
}

}  // namespace t2s::consolidate
