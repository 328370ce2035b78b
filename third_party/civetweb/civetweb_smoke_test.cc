// Proves civetweb links under Bazel: a server on port 0 answers a real HTTP request.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "CivetServer.h"
#include "gtest/gtest.h"

namespace {

class HelloHandler : public CivetHandler {
 public:
  bool handleGet(CivetServer*, struct mg_connection* conn) override {
    mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                    "Connection: close\r\n\r\nhello");
    return true;
  }
};

std::string http_get(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(CivetwebSmokeTest, ServerOnPortZeroAnswers) {
  std::vector<std::string> options = {"listening_ports", "127.0.0.1:0", "num_threads", "2"};
  HelloHandler handler;  // civetweb does not take ownership of handlers
  CivetServer server(options);
  server.addHandler("/hello", handler);
  std::vector<int> ports = server.getListeningPorts();
  ASSERT_EQ(ports.size(), 1u);
  ASSERT_NE(ports[0], 0);
  std::string reply = http_get(ports[0], "/hello");
  EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
  EXPECT_NE(reply.find("hello"), std::string::npos) << reply;
}

}  // namespace
