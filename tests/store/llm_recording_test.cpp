// Tests of store/llm_recording: recorded exchanges written per rank in rolling files, read back as
// one index.

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

std::string response_of(int i) { return std::string(700, static_cast<char>('a' + i % 26)) + std::to_string(i); }

}  // namespace

TEST(RecordingStore, RanksWriteRollingFilesAndAReaderMergesThem) {
  t2s::test::TempDir temp;
  const fs::path dir = temp.path() / "llm";
  for (int rank = 0; rank < 2; ++rank) {
    RecordingStore writer({dir}, dir / ("rank" + std::to_string(rank) + ".llm.h5"));
    for (int i = rank * 1500; i < rank * 1500 + 1500; ++i)  // several files, index chunks and text chunks
      writer.store(key_of(i), "analyze", "{\"request\":" + std::to_string(i) + "}", response_of(i));
    EXPECT_EQ(writer.recorded(), 1500u);
    EXPECT_EQ(writer.find(key_of(rank * 1500 + 3)), response_of(rank * 1500 + 3));
    writer.close();
    EXPECT_EQ(writer.written_files().size(), 3u);  // 512 + 512 + 476 exchanges
  }
  for (const char* name : {"rank0.llm.h5", "rank0.1.llm.h5", "rank0.2.llm.h5", "rank1.2.llm.h5"})
    EXPECT_TRUE(fs::exists(dir / name)) << name;
  EXPECT_FALSE(fs::exists(dir / "rank0.llm.h5.partial"));
  RecordingStore reader({dir}, std::nullopt);
  EXPECT_EQ(reader.indexed(), 3000u);
  for (int i : {0, 1, 511, 512, 1023, 1024, 1499, 1500, 2999}) EXPECT_EQ(reader.find(key_of(i)), response_of(i)) << i;
  EXPECT_FALSE(reader.find(key_of(3000)));
  EXPECT_THROW(reader.store(key_of(5), "s", "x", "y"), t2s::Error);
}

TEST(RecordingStore, TheFirstAnswerToARepeatedRequestStands) {
  t2s::test::TempDir temp;
  {
    RecordingStore store({temp.path()}, temp.path() / "a.llm.h5");
    store.store(key_of(1), "s", "q", "first");
    store.store(key_of(1), "s", "q", "second");
    EXPECT_EQ(store.find(key_of(1)), "first");
  }
  // A later run that reads these recordings and writes its own keeps the first answer too.
  RecordingStore next({temp.path()}, temp.path() / "b.llm.h5");
  next.store(key_of(1), "s", "q", "third");
  EXPECT_EQ(next.find(key_of(1)), "first");
  EXPECT_EQ(next.recorded(), 0u);
}

TEST(RecordingStore, RecordingsAreNeverOverwritten) {
  t2s::test::TempDir temp;
  {
    RecordingStore store({}, temp.path() / "a.llm.h5");
    store.store(key_of(1), "s", "q", "kept");
  }
  EXPECT_THROW(RecordingStore({}, temp.path() / "a.llm.h5"), t2s::InputError);
  EXPECT_THROW(RecordingStore({}, temp.path() / "a.h5"), t2s::InputError);
  RecordingStore reader({temp.path()}, std::nullopt);
  EXPECT_EQ(reader.find(key_of(1)), "kept");
}

TEST(RecordingStore, AFileThatIsNoRecordingIsRefusedByNameAndPartialFilesAreIgnored) {
  t2s::test::TempDir temp;
  std::ofstream(temp.path() / "left-by-a-crash.llm.h5.partial") << "half a file";
  EXPECT_EQ(RecordingStore({temp.path()}, std::nullopt).indexed(), 0u);
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
  RecordingStore store({}, temp.path() / "a.llm.h5");
  store.store(key_of(1), "s", "q", "a");
  EXPECT_THROW(store.store("short", "s", "q", "a"), t2s::Error);
  store.close();
  EXPECT_TRUE(fs::exists(temp.path() / "a.llm.h5"));
  EXPECT_FALSE(fs::exists(temp.path() / "a.llm.h5.partial"));
  EXPECT_EQ(RecordingStore({temp.path()}, std::nullopt).find(key_of(1)), "a");
}
