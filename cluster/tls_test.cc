// check_tls against files made with the openssl CLI: every bad combination is refused before CAF
// would read the files (it stops the process when it cannot).
#include "cluster/tls.h"

#include <sys/stat.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/reload_error.h"
#include "core/test_support.h"
#include "gtest/gtest.h"

namespace lemon {
namespace cluster {
namespace {

class TlsCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScratchDir;
    make_ca("ca");
    make_ca("other");
    make_cert("node", "ca");
    make_cert("stranger", "other");
    ASSERT_EQ(chmod(path("node.key").c_str(), 0600), 0);
    ASSERT_EQ(chmod(path("stranger.key").c_str(), 0600), 0);
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string path(const std::string& name) { return dir_->file(name); }
  static void run(const std::string& command) {
    ASSERT_EQ(std::system((command + " 2>/dev/null").c_str()), 0) << command;
  }
  static void make_ca(const std::string& name) {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=" +
        name + " -keyout " + path(name + ".key") + " -out " + path(name + ".pem"));
  }
  static void make_cert(const std::string& name, const std::string& ca) {
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + name +
        " -keyout " + path(name + ".key") + " -out " + path(name + ".csr"));
    run("openssl x509 -req -in " + path(name + ".csr") + " -CA " + path(ca + ".pem") + " -CAkey " +
        path(ca + ".key") + " -CAcreateserial -days 1 -out " + path(name + ".pem"));
  }

  static testing::ScratchDir* dir_;
};

testing::ScratchDir* TlsCheckTest::dir_ = nullptr;

TEST_F(TlsCheckTest, NoneOrAllThreeValidFilesAreAccepted) {
  EXPECT_TRUE(check_tls(TlsOptions{}).ok());
  absl::Status s = check_tls({path("node.pem"), path("node.key"), path("ca.pem")});
  EXPECT_TRUE(s.ok()) << s;
}

TEST_F(TlsCheckTest, BadCombinationsAreRefusedNamingTheProblem) {
  ASSERT_EQ(chmod(path("ca.key").c_str(), 0644), 0);  // a key others may read
  struct Case {
    const char* what;
    TlsOptions tls;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"certificate only", {path("node.pem"), "", ""}, "all three, or none"},
      {"no CA", {path("node.pem"), path("node.key"), ""}, "all three, or none"},
      {"missing certificate",
       {path("nope.pem"), path("node.key"), path("ca.pem")},
       "TLS certificate"},
      {"key of another certificate",
       {path("node.pem"), path("stranger.key"), path("ca.pem")},
       "does not match"},
      {"certificate another CA signed",
       {path("stranger.pem"), path("stranger.key"), path("ca.pem")},
       "does not verify against the CA"},
      {"key readable by others", {path("ca.pem"), path("ca.key"), path("ca.pem")}, "chmod 600"},
      {"a key as the CA", {path("node.pem"), path("node.key"), path("node.key")}, "TLS CA"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    absl::Status s = check_tls(c.tls);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(c.says), absl::string_view::npos) << s;
    EXPECT_NE(reload_error_of(s), ReloadError::kOk);
  }
}

}  // namespace
}  // namespace cluster
}  // namespace lemon
