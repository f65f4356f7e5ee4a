// Tests of store/llm_recording: recorded exchanges written per rank, read back as one index.

#include <gtest/gtest.h>

#include <fstream>

#include "t2s/core/error.hpp"
#include "t2s/store/llm_recording.hpp"
#include "testutil/temp_dir.hpp"

namespace fs = std::filesystem;
using t2s::store::RecordingStore;

namespace {

std::string key_of(int i) {
  std::string key = std::to_string(i);
  return std::string(64 - key.size(), '0') + key;
}

}  // namespace

TEST(RecordingStore, RanksWriteTheirOwnFilesAndAReaderMergesThem) {
  t2s::test::TempDir temp;
  const fs::path dir = temp.path() / "llm";
  for (int rank = 0; rank < 2; ++rank) {
    RecordingStore writer({dir}, dir / ("rank" + std::to_string(rank) + ".llm.h5"));
    writer.set_stage("analyze");
    for (int i = rank * 1500; i < rank * 1500 + 1500; ++i)  // more than one index chunk and text chunk
      writer.store(key_of(i), "{\"request\":" + std::to_string(i) + "}", std::string(700, 'a' + i % 26) + std::to_string(i));
    EXPECT_EQ(writer.recorded(), 1500u);
    EXPECT_EQ(writer.find(key_of(rank * 1500 + 3)).value().substr(700), std::to_string(rank * 1500 + 3));
  }
  EXPECT_TRUE(fs::exists(dir / "rank0.llm.h5"));
  EXPECT_FALSE(fs::exists(dir / "rank0.llm.h5.partial"));
  RecordingStore reader({dir}, std::nullopt);
  EXPECT_EQ(reader.indexed(), 3000u);
  for (int i : {0, 1, 1023, 1024, 1499, 1500, 2999}) {
    const auto response = reader.find(key_of(i));
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(*response, std::string(700, 'a' + i % 26) + std::to_string(i));
  }
  EXPECT_FALSE(reader.find(key_of(3000)));
  EXPECT_THROW(reader.store(key_of(5), "x", "y"), t2s::Error);
}

TEST(RecordingStore, TheFirstAnswerToARepeatedRequestStands) {
  t2s::test::TempDir temp;
  RecordingStore store({}, temp.path() / "a.llm.h5");
  store.store(key_of(1), "q", "first");
  store.store(key_of(1), "q", "second");
  EXPECT_EQ(store.find(key_of(1)), "first");
  store.close();
  RecordingStore reader({temp.path()}, std::nullopt);
  EXPECT_EQ(reader.find(key_of(1)), "first");
  EXPECT_EQ(reader.indexed(), 1u);
}

TEST(RecordingStore, AFileThatIsNoRecordingIsRefusedByName) {
  t2s::test::TempDir temp;
  std::ofstream(temp.path() / "junk.llm.h5") << "not hdf5";
  try {
    RecordingStore reader({temp.path()}, std::nullopt);
    FAIL() << "expected an error";
  } catch (const t2s::Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk.llm.h5"), std::string::npos) << e.what();
  }
}

TEST(RecordingStore, ABadKeyIsRefusedAndTheFileStillCloses) {
  t2s::test::TempDir temp;
  try {
    RecordingStore store({}, temp.path() / "a.llm.h5");
    store.store(key_of(1), "q", "a");
    EXPECT_THROW(store.store("short", "q", "a"), t2s::Error);
    store.close();
  } catch (...) {
  }
  EXPECT_TRUE(fs::exists(temp.path() / "a.llm.h5"));
  EXPECT_FALSE(fs::exists(temp.path() / "a.llm.h5.partial"));
}
