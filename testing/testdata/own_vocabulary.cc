// A module with a message vocabulary of its own (atoms the host has never heard of) and none of
// the host's demo atoms (actors/messages.h): the fingerprint does not name any vocabulary, so it
// loads into any host built with the same toolchain.
#include <cstdint>
#include <string>

#include "actors/module.h"
#include "actors/testdata/number_behaviour.h"
#include "caf/atom.hpp"

namespace own_vocabulary {

using deposit_atom = caf::atom_constant<caf::atom("deposit")>;
using balance_atom = caf::atom_constant<caf::atom("balance")>;

// Its number is the balance.
class Account : public lemon::testdata::NumberBehaviour<Account> {
 public:
  caf::message_handler handlers(lemon::ActorContext&) override {
    return {
        [this](deposit_atom, int64_t n) { return number_ += n; },
        [this](balance_atom) { return number_; },
    };
  }
  std::string format_status() const override {
    return "{\"balance\":" + std::to_string(number_) + "}";
  }
};

}  // namespace own_vocabulary

LEMON_MODULE("own_vocabulary", "1", LEMON_BEHAVIOUR("own_vocabulary", own_vocabulary::Account))
