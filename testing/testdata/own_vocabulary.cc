// A module with a message vocabulary of its own (atoms the host has never heard of) and none of
// the host's demo atoms (actors/messages.h): the fingerprint does not name any vocabulary, so it
// loads into any host built with the same toolchain.
#include <cstdint>
#include <memory>
#include <string>

#include "actors/module.h"
#include "caf/atom.hpp"

namespace own_vocabulary {

using deposit_atom = caf::atom_constant<caf::atom("deposit")>;
using balance_atom = caf::atom_constant<caf::atom("balance")>;

class Account : public lemon::Behaviour {
 public:
  static std::unique_ptr<Account> create(const std::string&) { return std::make_unique<Account>(); }
  static std::unique_ptr<Account> code_change(const std::string&, const std::string& state,
                                              const std::string&) {
    auto a = std::make_unique<Account>();
    a->balance_ = std::stoll(state);
    return a;
  }
  caf::message_handler handlers(lemon::ActorContext&) override {
    return {
        [this](deposit_atom, int64_t n) { return balance_ += n; },
        [this](balance_atom) { return balance_; },
    };
  }
  std::string export_state() const override { return std::to_string(balance_); }
  std::string format_status() const override {
    return "{\"balance\":" + std::to_string(balance_) + "}";
  }

 private:
  int64_t balance_ = 0;
};

}  // namespace own_vocabulary

LEMON_MODULE("own_vocabulary", "1", LEMON_BEHAVIOUR("own_vocabulary", own_vocabulary::Account))
