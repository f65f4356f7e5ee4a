// The one read of the stats analyst: features extracted on worker threads while the store is read,
// delivered in row order and the same as a plain sequential extraction, whatever the threads.
#include <gtest/gtest.h>

#include "t2s/core/error.hpp"
#include "t2s/pipeline/feature_reader.hpp"
#include "t2s/synth/synth.hpp"
#include "testutil/temp_dir.hpp"

namespace t2s::pipeline::detail {
namespace {

using test::TempDir;

TEST(FeatureReader, RowsInOrderWithTheFeaturesOfASequentialReadWhateverTheThreads) {
  TempDir dir;
  std::vector<analyze::Features> expected;
  {
    store::TrajectoryStoreWriter writer(dir / "s.h5");
    synth::Options options;
    options.trajectories = 3500;  // several batches of 1,024 records in flight at once
    options.seed = 4;
    synth::generate(options, [&](const trace::Trajectory& t, const std::vector<std::string>&) {
      ASSERT_TRUE(writer.add(t));
      expected.push_back(analyze::extract_features(t));
    });
    writer.commit();
  }
  const store::TrajectoryStore store(dir / "s.h5");
  ASSERT_EQ(store.size(), expected.size());
  for (const unsigned threads : {1u, 2u, 5u}) {
    for (const auto& [first, end] : {std::pair<std::uint64_t, std::uint64_t>{0, store.size()}, {1000, 3001}, {7, 7}}) {
      std::uint64_t next = first;
      for_each_features(store, first, end, threads, [&](const store::IndexRow& row, const analyze::Features& features) {
        ASSERT_EQ(row.row, next) << threads << " threads";
        EXPECT_EQ(features.actions, expected[row.row].actions) << "row " << row.row;
        EXPECT_EQ(features.symptoms, expected[row.row].symptoms) << "row " << row.row;
        ++next;
      });
      EXPECT_EQ(next, end) << threads << " threads";
    }
  }
}

// An error on the calling thread ends the read; the workers still running are joined first.
TEST(FeatureReader, AnErrorOfTheConsumerEndsTheRead) {
  TempDir dir;
  {
    store::TrajectoryStoreWriter writer(dir / "s.h5");
    synth::Options options;
    options.trajectories = 2500;
    synth::generate(options, [&](const trace::Trajectory& t, const std::vector<std::string>&) { ASSERT_TRUE(writer.add(t)); });
    writer.commit();
  }
  const store::TrajectoryStore store(dir / "s.h5");
  std::uint64_t seen = 0;
  EXPECT_THROW(for_each_features(store, 0, store.size(), 3,
                                 [&](const store::IndexRow&, const analyze::Features&) {
                                   if (++seen == 1100) throw InputError("stop here");
                                 }),
               InputError);
  EXPECT_EQ(seen, 1100u);
}

}  // namespace
}  // namespace t2s::pipeline::detail
