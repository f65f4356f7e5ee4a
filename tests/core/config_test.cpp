#include <gtest/gtest.h>

#include "t2s/core/config.hpp"
#include "t2s/core/error.hpp"

namespace t2s {
namespace {

const char* kJob = R"(
[ingest]
inputs = ["a.jsonl", "b.json"]
output = "out.h5"
strict = false
compression_level = 6
max_record_mb = 1.5
)";

TEST(Config, ReadsTypedValues) {
  const Config job = Config::parse(kJob, "job.toml");
  EXPECT_EQ(job.strings("ingest.inputs"), (std::vector<std::string>{"a.jsonl", "b.json"}));
  EXPECT_EQ(job.string("ingest.output"), "out.h5");
  EXPECT_EQ(job.boolean("ingest.strict"), false);
  EXPECT_EQ(job.integer("ingest.compression_level"), 6);
  EXPECT_DOUBLE_EQ(*job.number("ingest.max_record_mb"), 1.5);
  EXPECT_DOUBLE_EQ(*job.number("ingest.compression_level"), 6.0);  // integers are numbers too
  EXPECT_FALSE(job.string("ingest.missing").has_value());
  EXPECT_FALSE(job.has("nothing.here"));
  EXPECT_EQ(job.text(), kJob);
}

TEST(Config, WrongTypesNameTheFileAndKey) {
  const Config job = Config::parse(kJob, "job.toml");
  try {
    job.integer("ingest.output");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "job.toml: ingest.output: expected an integer, got a string");
  }
  EXPECT_THROW(job.boolean("ingest.compression_level"), InputError);
  EXPECT_THROW(job.strings("ingest.strict"), InputError);
}

TEST(Config, InvalidTomlSaysWhere) {
  try {
    Config::parse("[ingest]\noutput = \n", "bad.toml");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.toml:2:"), std::string::npos) << e.what();
  }
}

TEST(Config, SetOverridesWithTomlValuesOrBareStrings) {
  Config job = Config::parse(kJob, "job.toml");
  job.set("ingest.strict=true");
  job.set("ingest.compression_level=2");
  job.set("ingest.output=elsewhere/out.h5");  // not a TOML value: a bare string
  job.set("ingest.inputs=[\"x.jsonl\"]");
  job.set("new.table.key=\"quoted\"");
  EXPECT_EQ(job.boolean("ingest.strict"), true);
  EXPECT_EQ(job.integer("ingest.compression_level"), 2);
  EXPECT_EQ(job.string("ingest.output"), "elsewhere/out.h5");
  EXPECT_EQ(job.strings("ingest.inputs"), std::vector<std::string>{"x.jsonl"});
  EXPECT_EQ(job.string("new.table.key"), "quoted");
  EXPECT_THROW(job.set("no-equals-sign"), InputError);
  EXPECT_THROW(job.set("ingest.output.deeper=1"), InputError);
}

TEST(Config, UnreadKeysAreRejected) {
  const Config job = Config::parse("[ingest]\noutput = \"o.h5\"\noutptu = \"typo.h5\"\n", "job.toml");
  job.string("ingest.output");
  try {
    job.reject_unread("ingest");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "job.toml: unknown key(s): ingest.outptu");
  }
}

TEST(Config, UnreadKeysInSubTablesAndMissingTablesAreRejected) {
  const Config nested = Config::parse("[ingest]\noutput = \"o.h5\"\n[ingest.extra]\nx = 1\n", "job.toml");
  nested.string("ingest.output");
  EXPECT_THROW(nested.reject_unread("ingest"), InputError);
  const Config typo = Config::parse("[ingst]\noutput = \"o.h5\"\n", "job.toml");
  try {
    typo.reject_unread("ingest");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "job.toml: has no [ingest] table");
  }
}

}  // namespace
}  // namespace t2s

namespace t2s {
namespace {
TEST(Config, TablesAreReadWhole) {
  Config c = Config::parse("[a]\nx = 1\n[a.b]\ny = \"z\"\n[c]\nw = 2\n", "job.toml");
  const auto a = c.table("a");
  EXPECT_EQ(a["x"], 1);
  EXPECT_EQ(a["b"]["y"], "z");
  EXPECT_TRUE(c.table("missing").is_null());
  EXPECT_NO_THROW(c.reject_unread("a"));
  EXPECT_THROW(c.reject_unread("c"), InputError);
  EXPECT_THROW(c.table("a.x"), InputError);
}
}  // namespace
}  // namespace t2s
