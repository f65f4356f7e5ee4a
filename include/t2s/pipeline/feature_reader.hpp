// pipeline/feature_reader: one read of a store's rows, their features extracted on worker threads.
#pragma once

#include <cstdint>
#include <functional>

#include "t2s/analyze/features.hpp"
#include "t2s/store/trajectory_store.hpp"

namespace t2s::pipeline::detail {

// Calls f(row, features) for rows [first_row, end_row) of `store`, in row order, on the calling
// thread. The calling thread reads the store (HDF5 stays on one thread: the library is not
// thread-safe) while `threads` workers (0: one per usable core) extract the features of the batches
// read before, so reading and extracting overlap. The result does not depend on `threads`.
void for_each_features(const store::TrajectoryStore& store, std::uint64_t first_row, std::uint64_t end_row, unsigned threads,
                       const std::function<void(const store::IndexRow&, const analyze::Features&)>& f);

}  // namespace t2s::pipeline::detail
