// consolidate/tree: the shape of the merge tree (DESIGN §2). A level-synchronous k-ary tree over the
// ordered list of accepted patches: level 0 holds the leaves, and node i of level l merges nodes
// [i*k, (i+1)*k) of level l-1, until one node is left. With a level limit L, level L merges
// everything left at once. At least one merge level always runs (a single patch is merged alone,
// which deduplicates it). The shape depends only on the leaf count, k and L: never on ranks.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace t2s::consolidate {

struct TreeShape {
  std::uint64_t fan_in = 5;      // k ≥ 2
  std::uint64_t max_levels = 0;  // 0: unlimited
};

class MergeTree {
 public:
  MergeTree(std::uint64_t leaves, TreeShape shape);

  std::uint64_t leaves() const { return sizes_.front(); }
  std::size_t levels() const { return sizes_.size() - 1; }  // merge levels (root at levels())
  std::uint64_t nodes(std::size_t level) const { return sizes_.at(level); }
  // Children of node `index` of `level` ≥ 1: the range [first, last) of level-1 nodes.
  std::pair<std::uint64_t, std::uint64_t> children(std::size_t level, std::uint64_t index) const;
  // The first leaf below a node (a node is computed by the rank owning that leaf).
  std::uint64_t first_leaf(std::size_t level, std::uint64_t index) const;

  // "L2/0": how nodes are named in the run archive and in provenance.
  static std::string node_name(std::size_t level, std::uint64_t index);
  // Names from `level`/`index` up to the root, root first (provenance's merge_path).
  std::vector<std::string> path_to_root(std::size_t level, std::uint64_t index) const;

 private:
  TreeShape shape_;
  std::vector<std::uint64_t> sizes_;  // nodes per level, level 0 = leaves
};

}  // namespace t2s::consolidate
