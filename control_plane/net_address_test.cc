#include "control_plane/net_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/reload_error.h"
#include "gtest/gtest.h"

namespace lemon {
namespace {

TEST(ResolveTcpTest, LiteralAddressesResolveToThemselvesWithThePort) {
  absl::StatusOr<std::vector<TcpAddress>> v4 = resolve_tcp("127.0.0.1", 8080);
  ASSERT_TRUE(v4.ok()) << v4.status();
  ASSERT_EQ(v4->size(), 1u);
  ASSERT_EQ(v4->front().family, AF_INET);
  const auto* in = reinterpret_cast<const sockaddr_in*>(v4->front().address());
  EXPECT_EQ(ntohs(in->sin_port), 8080);
  EXPECT_EQ(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
  EXPECT_EQ(v4->front().length, sizeof(sockaddr_in));

  absl::StatusOr<std::vector<TcpAddress>> v6 = resolve_tcp("::1", 9090);
  ASSERT_TRUE(v6.ok()) << v6.status();
  ASSERT_EQ(v6->front().family, AF_INET6);
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(v6->front().address());
  EXPECT_EQ(ntohs(in6->sin6_port), 9090);
  EXPECT_EQ(v6->front().length, sizeof(sockaddr_in6));
}

TEST(ResolveTcpTest, AnUnresolvableHostIsAnIoErrorNamingIt) {
  absl::StatusOr<std::vector<TcpAddress>> r = resolve_tcp("256.0.0.1.invalid", 80);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(reload_error_of(r.status()), ReloadError::kIoError) << r.status();
  EXPECT_NE(r.status().message().find("cannot resolve 256.0.0.1.invalid: "), std::string::npos)
      << r.status();
}

TEST(ResolveTcpTest, ASocketOpenedForAnAddressBindsToIt) {
  absl::StatusOr<std::vector<TcpAddress>> r = resolve_tcp("127.0.0.1", 0);
  ASSERT_TRUE(r.ok()) << r.status();
  const int fd = open_tcp_socket(r->front(), SOCK_NONBLOCK);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::bind(fd, r->front().address(), r->front().length), 0);
  ::close(fd);
}

}  // namespace
}  // namespace lemon
