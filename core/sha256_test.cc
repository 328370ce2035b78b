#include "core/sha256.h"

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/strings/string_view.h"
#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(Sha256Test, MatchesStandardVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The accelerated and the plain implementation agree on every length around the block edges and
// on a long input of varied bytes (when the CPU has no SHA extensions both are the plain one).
TEST(Sha256Test, CpuExtensionsAgreeWithThePlainImplementation) {
  std::string data;
  uint32_t x = 12345;
  for (int i = 0; i < 300000; ++i) {
    x = x * 1103515245u + 12345u;
    data.push_back(static_cast<char>(x >> 24));
  }
  for (size_t n = 0; n <= 260; ++n) {
    SCOPED_TRACE(n);
    EXPECT_EQ(sha256_hex(absl::string_view(data.data(), n)),
              internal::sha256_hex_portable(absl::string_view(data.data(), n)));
  }
  EXPECT_EQ(sha256_hex(data), internal::sha256_hex_portable(data));
  EXPECT_EQ(internal::sha256_hex_portable("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::printf("sha256: CPU extensions %s\n",
              internal::sha256_uses_cpu_extensions() ? "used" : "not available");
}

TEST(Sha256Test, MissingFileIsAnIoError) {
  auto r = sha256_file("/nonexistent/lemon/file");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kIoError);
}

}  // namespace
}  // namespace lemon
