// pipeline/feature_reader: see the header.
#include "t2s/pipeline/feature_reader.hpp"

#include <deque>
#include <future>
#include <string>
#include <vector>

#include "t2s/core/thread_pool.hpp"

namespace t2s::pipeline::detail {
namespace {

struct Extracted {
  store::RecordBatch batch;
  std::vector<analyze::Features> features;  // features[i] of batch.rows[i]
};

}  // namespace

void for_each_features(const store::TrajectoryStore& store, std::uint64_t first_row, std::uint64_t end_row, unsigned threads,
                       const std::function<void(const store::IndexRow&, const analyze::Features&)>& f) {
  if (first_row >= end_row) return;
  const std::string where = store.path().string() + " row ";  // outlives the pool: its tasks use it
  ThreadPool pool(threads);
  std::deque<std::future<Extracted>> in_flight;  // in row order
  const auto deliver_oldest = [&] {
    const Extracted done = in_flight.front().get();  // rethrows a worker's error (a bad record)
    in_flight.pop_front();
    for (std::size_t i = 0; i < done.batch.rows.size(); ++i) f(done.batch.rows[i], done.features[i]);
  };
  // Enough batches ahead to keep every worker busy while the oldest is delivered, and no more:
  // memory stays a few batches whatever the shard's size.
  const std::size_t ahead = 2 * static_cast<std::size_t>(pool.size());
  store.for_each_batch(first_row, end_row - first_row, [&](store::RecordBatch&& batch) {
    in_flight.push_back(pool.submit([&where, batch = std::move(batch)]() mutable {
      Extracted out{std::move(batch), {}};
      out.features.reserve(out.batch.rows.size());
      for (std::size_t i = 0; i < out.batch.rows.size(); ++i)
        out.features.push_back(analyze::extract_features(analyze::run_text(out.batch.record(i), where + std::to_string(out.batch.rows[i].row))));
      return out;
    }));
    while (in_flight.size() > ahead) deliver_oldest();
  });
  while (!in_flight.empty()) deliver_oldest();
}

}  // namespace t2s::pipeline::detail
