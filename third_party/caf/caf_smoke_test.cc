// Proves CAF links and works under Bazel: an actor answers a request.
#include <string>

#include "caf/all.hpp"
#include "gtest/gtest.h"

namespace {

caf::behavior adder() {
  return {[](int a, int b) { return a + b; }};
}

TEST(CafSmokeTest, ActorAnswersRequest) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto a = sys.spawn(adder);
  caf::scoped_actor self{sys};
  int result = 0;
  self->request(a, std::chrono::seconds(30), 2, 40)
      .receive([&](int r) { result = r; },
               [&](caf::error& e) { FAIL() << sys.render(e); });
  EXPECT_EQ(result, 42);
  self->send_exit(a, caf::exit_reason::user_shutdown);
}

}  // namespace
