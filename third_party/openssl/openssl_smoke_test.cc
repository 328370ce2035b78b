// Proves OpenSSL links and works under Bazel: HMAC-SHA256 of RFC 4231's test case 2, and the
// random generator fills a buffer.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <string>

#include "gtest/gtest.h"

namespace {

TEST(OpensslSmokeTest, HmacSha256MatchesRfc4231) {
  const std::string key = "Jefe";
  const std::string data = "what do ya want for nothing?";
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ASSERT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len),
            nullptr);
  std::string hex;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 0xf]);
  }
  EXPECT_EQ(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(OpensslSmokeTest, RandomBytes) {
  unsigned char a[32] = {};
  unsigned char b[32] = {};
  ASSERT_EQ(RAND_bytes(a, sizeof(a)), 1);
  ASSERT_EQ(RAND_bytes(b, sizeof(b)), 1);
  EXPECT_NE(std::string(reinterpret_cast<char*>(a), 32),
            std::string(reinterpret_cast<char*>(b), 32));
}

}  // namespace
