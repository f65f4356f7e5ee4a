// Tests of trace/redact: secrets are removed from text before it reaches a prompt.

#include <gtest/gtest.h>

#include <chrono>

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

TEST(Redactor, SecretsAfterAnEscapeAreFound) {
  // Trajectories are JSON: a newline before a key is often the two characters '\' 'n'.
  EXPECT_EQ(redacted(R"(done\nsk-proj-abcdefghijklmnopqrstuvwx1234)", 1), R"(done\n[REDACTED:api-key])");
  EXPECT_EQ(redacted(R"(line\nAKIAIOSFODNN7EXAMPLE)", 1), R"(line\n[REDACTED:aws-access-key])");
  EXPECT_EQ(redacted(R"(x\tBearer abcdef0123456789ABCDEF)", 1), R"(x\tBearer [REDACTED:bearer-token])");
}

TEST(Redactor, UrlPasswordsWithAtAndSlashAreRedactedWhole) {
  EXPECT_EQ(redacted("postgres://admin:p@ss/w0rd@db:5432/app", 1), "postgres://admin:[REDACTED:url-password]@db:5432/app");
  EXPECT_EQ(redacted("mysql://admin:pa/ss@db", 1), "mysql://admin:[REDACTED:url-password]@db");
}

TEST(Redactor, AssignedSecretsAndJwts) {
  EXPECT_EQ(redacted("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1),
            "AWS_SECRET_ACCESS_KEY=[REDACTED:secret-value]");
  EXPECT_EQ(redacted(R"({"password": "hunter2hunter2", "user": "bob"})", 1),
            R"({"password": "[REDACTED:secret-value]", "user": "bob"})");
  EXPECT_EQ(redacted("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok", 1),
            "token [REDACTED:jwt] ok");
  EXPECT_EQ(redacted("set password: x", 0), "set password: x");  // too short to be a secret value
}

TEST(Redactor, ProseAboutBearersIsNotAToken) {
  EXPECT_EQ(redacted("The bearer responsibilities are listed below.", 0), "The bearer responsibilities are listed below.");
}

TEST(Redactor, OverlappingFindsAreRedactedAsTheirUnion) {
  Redactor r;
  r.add_pattern("labelled-key", "key sk-proj");  // ends inside the key the built-in detector finds
  EXPECT_EQ(redacted("the key sk-proj-abcdefghijklmnopqrstuvwx1234 end", 1, r), "the [REDACTED:labelled-key] end");
}

TEST(Redactor, HugeAndHostileInputsStayLinear) {
  std::string headers;
  for (int i = 0; i < 40000; ++i) headers += "-----BEGIN RSA PRIVATE KEY-----\n";
  const auto start = std::chrono::steady_clock::now();
  std::string text = headers;
  EXPECT_EQ(Redactor().redact(text), 1u);
  Redactor r;
  r.add_pattern("pw", "password=.*");
  std::string line = "password=" + std::string(500000, 'x');
  EXPECT_EQ(r.redact(line), 1u);
  // Generous bound: the quadratic scan took over a minute on 1.6 MB.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
}
