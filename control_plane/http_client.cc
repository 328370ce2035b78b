#include "control_plane/http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "control_plane/net_address.h"
#include "core/fs.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// kIoError "<what>: <errno's text>".
absl::Status errno_status(const std::string& what) {
  return reload_status(ReloadError::kIoError, absl::StrCat(what, ": ", errno_text(errno)));
}

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status wait_for(int fd, short events, absl::Time deadline, const std::string& doing) {
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return reload_status(ReloadError::kTimeout, absl::StrCat("timed out ", doing));
    }
    pollfd p{fd, events, 0};
    int ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return absl::OkStatus();
    if (rc < 0 && errno != EINTR) return errno_status(doing);
  }
}

absl::StatusOr<int> connect_to(const std::string& host, int port, absl::Time deadline) {
  absl::StatusOr<std::vector<TcpAddress>> found = resolve_tcp(host, port);
  if (!found.ok()) return found.status();
  absl::Status last;
  for (const TcpAddress& a : *found) {
    int fd = open_tcp_socket(a, SOCK_NONBLOCK);
    if (fd < 0) {
      last = errno_status("socket");
      continue;
    }
    if (::connect(fd, a.address(), a.length) != 0 && errno != EINPROGRESS) {
      last = errno_status(absl::StrCat("cannot connect to ", host, ":", port));
      ::close(fd);
      continue;
    }
    absl::Status ready =
        wait_for(fd, POLLOUT, deadline, absl::StrCat("connecting to ", host, ":", port));
    int err = 0;
    socklen_t len = sizeof(err);
    if (ready.ok() && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
      return fd;
    }
    if (ready.ok()) {
      errno = err;
      ready = errno_status(absl::StrCat("cannot connect to ", host, ":", port));
    }
    last = ready;
    ::close(fd);
  }
  return last;
}

absl::Status send_all(int fd, const std::string& data, absl::Time deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (absl::Status s = wait_for(fd, POLLOUT, deadline, "sending the request"); !s.ok()) {
        return s;
      }
    } else if (n < 0 && errno != EINTR) {
      // The server may answer early and close (413, 401): stop sending, read its answer.
      if (errno == EPIPE || errno == ECONNRESET) return absl::OkStatus();
      return errno_status("sending the request");
    }
  }
  return absl::OkStatus();
}

// True once `raw` holds a head and all Content-Length bytes of the body: the server may keep the
// connection open a while longer (e.g. while draining a body it refused), so EOF is not awaited.
bool response_complete(const std::string& raw) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  std::string head = absl::AsciiStrToLower(absl::string_view(raw).substr(0, head_end));
  size_t at = head.find("\r\ncontent-length:");
  if (at == std::string::npos) return false;
  size_t value_start = at + std::strlen("\r\ncontent-length:");
  size_t value_end = head.find("\r\n", value_start);
  size_t length = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::string_view(head).substr(
                            value_start, value_end == std::string::npos ? std::string::npos
                                                                        : value_end - value_start)),
                        &length)) {
    return false;
  }
  return raw.size() - (head_end + 4) >= length;
}

absl::StatusOr<std::string> read_all(int fd, absl::Time deadline) {
  std::string out;
  char buf[16384];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      if (response_complete(out)) return out;
    } else if (n == 0) {
      return out;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (absl::Status s = wait_for(fd, POLLIN, deadline, "waiting for the response"); !s.ok()) {
        return s;
      }
    } else if (errno == ECONNRESET && !out.empty()) {
      return out;
    } else if (errno != EINTR) {
      return errno_status("reading the response");
    }
  }
}

absl::StatusOr<std::string> decode_chunked(absl::string_view data) {
  std::string out;
  while (true) {
    size_t eol = data.find("\r\n");
    if (eol == absl::string_view::npos) break;
    absl::string_view size_text = data.substr(0, eol);
    size_text = size_text.substr(0, size_text.find(';'));
    uint64_t size = 0;
    if (!absl::SimpleHexAtoi(absl::StripAsciiWhitespace(size_text), &size)) break;
    data.remove_prefix(eol + 2);
    if (size == 0) return out;
    if (data.size() < size) break;
    out.append(data.data(), size);
    data.remove_prefix(size);
    if (absl::StartsWith(data, "\r\n")) data.remove_prefix(2);
  }
  return reload_status(ReloadError::kIoError, "malformed chunked response body");
}

absl::StatusOr<HttpResponse> parse_response(const std::string& raw) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    return reload_status(ReloadError::kIoError,
                         raw.empty() ? "the server closed the connection without answering"
                                     : "truncated HTTP response");
  }
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(raw).substr(0, head_end), "\r\n");
  HttpResponse response;
  std::vector<absl::string_view> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/") ||
      !absl::SimpleAtoi(status_line[1], &response.status)) {
    return reload_status(ReloadError::kIoError, absl::StrCat("bad HTTP status line: ", lines[0]));
  }
  if (status_line.size() == 3) response.reason = std::string(status_line[2]);
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) continue;
    response.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  absl::string_view body = absl::string_view(raw).substr(head_end + 4);
  auto te = response.headers.find("transfer-encoding");
  if (te != response.headers.end() &&
      absl::StrContains(absl::AsciiStrToLower(te->second), "chunked")) {
    absl::StatusOr<std::string> decoded = decode_chunked(body);
    if (!decoded.ok()) return decoded.status();
    response.body = std::move(*decoded);
    return response;
  }
  auto cl = response.headers.find("content-length");
  size_t length = 0;
  if (cl != response.headers.end() && absl::SimpleAtoi(cl->second, &length)) {
    if (body.size() < length) {
      return reload_status(
          ReloadError::kIoError,
          absl::StrCat("response body truncated: ", body.size(), " of ", length, " bytes"));
    }
    body = body.substr(0, length);
  }
  response.body = std::string(body);
  return response;
}

}  // namespace

absl::StatusOr<HttpResponse> http_exchange_raw(const std::string& host, int port,
                                               const std::string& raw, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<int> fd = connect_to(host, port, deadline);
  if (!fd.ok()) return fd.status();
  Fd socket(*fd);
  if (absl::Status s = send_all(socket.get(), raw, deadline); !s.ok()) return s;
  absl::StatusOr<std::string> reply = read_all(socket.get(), deadline);
  if (!reply.ok()) return reply.status();
  return parse_response(*reply);
}

absl::StatusOr<HttpResponse> http_request(const std::string& host, int port,
                                          const std::string& method, const std::string& path,
                                          const std::string& body, const HttpHeaders& headers,
                                          absl::Duration timeout) {
  const bool ipv6 = host.find(':') != std::string::npos;
  std::string raw = absl::StrCat(method, " ", path,
                                 " HTTP/1.1\r\nHost: ", ipv6 ? absl::StrCat("[", host, "]") : host,
                                 ":", port, "\r\nConnection: close\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&raw, name, ": ", value, "\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    absl::StrAppend(&raw, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&raw, "\r\n", body);
  return http_exchange_raw(host, port, raw, timeout);
}

absl::StatusOr<HttpResponse> http_post(const std::string& host, int port, const std::string& path,
                                       const std::string& body, const HttpHeaders& headers,
                                       absl::Duration timeout) {
  HttpHeaders all = headers;
  all.emplace_back("Content-Type", "application/json");
  return http_request(host, port, "POST", path, body, all, timeout);
}

}  // namespace lemon
