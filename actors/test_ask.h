// A test's blocking ask of one actor: the typed reply (an error reply is a test failure), or the
// error it answers with.
//
//   auto n = lemon::ask_reply<int64_t>(self, std::chrono::seconds(60), counter, get_atom::value);
//   EXPECT_EQ(lemon::error_reply(self, std::chrono::seconds(60), gate, bad), refused_error());
#ifndef LEMON_ACTORS_TEST_ASK_H_
#define LEMON_ACTORS_TEST_ASK_H_

#include <utility>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"
#include "caf/scoped_actor.hpp"
#include "gtest/gtest.h"

namespace lemon {

// `a`'s reply of type T to the message `xs...`, asked from `self` and waited for at most
// `timeout`; an error reply is a test failure, and T{} is returned then.
template <class T, class Timeout, class... Ts>
T ask_reply(caf::scoped_actor& self, const Timeout& timeout, const caf::actor& a, Ts... xs) {
  T out{};
  self->request(a, timeout, xs...)
      .receive([&](T& x) { out = std::move(x); },
               [&](caf::error& e) { ADD_FAILURE() << self->system().render(e); });
  return out;
}

// The error `a` answers the message `xs...` with, asked from `self` and waited for at most
// `timeout` (caf::sec::request_timeout when none came); no error when it answers otherwise.
template <class Timeout, class... Ts>
caf::error error_reply(caf::scoped_actor& self, const Timeout& timeout, const caf::actor& a,
                       Ts&&... xs) {
  caf::error out;
  self->request(a, timeout, std::forward<Ts>(xs)...)
      .receive([](const caf::message&) {}, [&](caf::error& e) { out = std::move(e); });
  return out;
}

}  // namespace lemon

#endif  // LEMON_ACTORS_TEST_ASK_H_
