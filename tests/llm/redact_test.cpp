// Tests of trace/redact: secrets are removed from text before it reaches a prompt.

#include <gtest/gtest.h>

#include "t2s/core/error.hpp"
#include "t2s/trace/redact.hpp"

using t2s::trace::Redactor;

namespace {

std::string redacted(const std::string& text, std::size_t expected_count, const Redactor& r = Redactor()) {
  std::string out = text;
  EXPECT_EQ(r.redact(out), expected_count) << text;
  return out;
}

}  // namespace

TEST(Redactor, ProviderKeys) {
  EXPECT_EQ(redacted("export OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz012345 && run", 1),
            "export OPENAI_API_KEY=[REDACTED:api-key] && run");
  EXPECT_EQ(redacted("key: sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 1), "key: [REDACTED:api-key]");
  EXPECT_EQ(redacted("AKIAIOSFODNN7EXAMPLE is the id", 1), "[REDACTED:aws-access-key] is the id");
  EXPECT_EQ(redacted("token ghp_0123456789abcdefghijABCDEFGHIJ0123 used", 1), "token [REDACTED:github-token] used");
  EXPECT_EQ(redacted("hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", 1), "[REDACTED:huggingface-token]");
  EXPECT_EQ(redacted("AIzaSyA-0123456789abcdefghijklmnopqrstu", 1), "[REDACTED:google-api-key]");
  EXPECT_EQ(redacted("xoxb-1234567890-abcdef", 1), "[REDACTED:slack-token]");
}

TEST(Redactor, OrdinaryTextIsLeftAlone) {
  for (const char* text : {"the task-management sk-tool", "ask-me-anything-about-it-please-now-ok",
                           "sk-short", "AKIA is not enough", "Bearer of bad news", "see http://example.com/a:b@",
                           "mailto:someone@example.com", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}) {
    std::string text_copy = text;
    EXPECT_EQ(Redactor().redact(text_copy), 0u) << text;
    EXPECT_EQ(text_copy, text);
  }
}

TEST(Redactor, BearerTokensInAnyCase) {
  EXPECT_EQ(redacted("curl -H 'Authorization: Bearer abcdef0123456789ABCDEF.xyz' https://api", 1),
            "curl -H 'Authorization: Bearer [REDACTED:bearer-token]' https://api");
  EXPECT_EQ(redacted("authorization: bearer   abcdef0123456789abcdef", 1), "authorization: bearer   [REDACTED:bearer-token]");
}

TEST(Redactor, PrivateKeyBlocksWholeEvenWhenCut) {
  EXPECT_EQ(redacted("a\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nsk-abcdefghijklmnopqrstuvwxyz\n-----END RSA PRIVATE KEY-----\nb", 1),
            "a\n[REDACTED:private-key]\nb");
  EXPECT_EQ(redacted("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA", 1), "[REDACTED:private-key]");
}

TEST(Redactor, PasswordsInUrls) {
  EXPECT_EQ(redacted("postgres://admin:s3cr3t@db:5432/app and https://user:pw@host/x", 2),
            "postgres://admin:[REDACTED:url-password]@db:5432/app and https://user:[REDACTED:url-password]@host/x");
  EXPECT_EQ(redacted("https://user@host/x", 0), "https://user@host/x");
}

TEST(Redactor, ExtraPatternsFromTheJobFile) {
  Redactor r;
  r.add_pattern("employee-id", "EMP-[0-9]{6}");
  EXPECT_EQ(redacted("ids EMP-123456 and EMP-654321, not EMP-12", 2, r),
            "ids [REDACTED:employee-id] and [REDACTED:employee-id], not EMP-12");
  EXPECT_THROW(r.add_pattern("bad", "(["), t2s::InputError);
  EXPECT_THROW(r.add_pattern("empty", "x*"), t2s::InputError);
}

TEST(Redactor, EverySecretOfAMixedTextIsCountedOnce) {
  const std::string text =
      "env: OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwx1234\nDB=mysql://root:hunter2@localhost/db\n"
      "Authorization: Bearer sk-abcdefghijklmnopqrstuvwx1234\n";
  const std::string out = redacted(text, 3);
  EXPECT_EQ(out.find("hunter2"), std::string::npos);
  EXPECT_EQ(out.find("sk-abc"), std::string::npos);
}
