// A minimal blocking HTTP/1.1 client for the control plane (lemonctl, tests): one request per TCP
// connection, the whole exchange bounded by a deadline.
//
//   absl::StatusOr<lemon::HttpResponse> r = lemon::http_post(
//       "127.0.0.1", 4040, "/rpc", body, {{"Authorization", "Bearer " + token}}, absl::Seconds(5));
//   if (r.ok() && r->status == 200) use(r->body);
#ifndef LEMON_CONTROL_PLANE_HTTP_CLIENT_H_
#define LEMON_CONTROL_PLANE_HTTP_CLIENT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace lemon {

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Sends `method path` with `body` (Content-Length set, Connection: close) and reads the response.
// An error (ReloadError kIoError or kTimeout) when connecting, sending or reading fails or the
// deadline passes. Thread-safe.
absl::StatusOr<HttpResponse> http_request(const std::string& host, int port,
                                          const std::string& method, const std::string& path,
                                          const std::string& body, const HttpHeaders& headers,
                                          absl::Duration timeout);

// http_request with method POST and Content-Type application/json.
absl::StatusOr<HttpResponse> http_post(const std::string& host, int port, const std::string& path,
                                       const std::string& body, const HttpHeaders& headers,
                                       absl::Duration timeout);

// Writes `raw` (a complete request head and whatever body the caller wants, possibly lying about
// its length) and reads the response; for tests of malformed requests.
absl::StatusOr<HttpResponse> http_exchange_raw(const std::string& host, int port,
                                               const std::string& raw, absl::Duration timeout);

}  // namespace lemon

#endif  // LEMON_CONTROL_PLANE_HTTP_CLIENT_H_
