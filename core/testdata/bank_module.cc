// The `bank` module: one ProtoActor whose state is bank.Account. Version 1 is built from
// bank_v1.proto; version 2 from bank_v2.proto (Account.balance and Account.history of
// other types), with or without the migrations that declare those changes safe.
#include "actors/module.h"
#include "actors/proto_actor.h"

#include BANK_PROTO  // bank_v1.pb.h or bank_v2.pb.h (BUILD.bazel)

#ifdef BANK_V2
#define BANK_VERSION "2"
#else
#define BANK_VERSION "1"
#endif

namespace {

class Bank : public lemon::ProtoActor<bank::Account> {
 public:
  void receive(lemon::Handlers& on) override {
    on.handle([this](lemon::Context&, const bank::Audit& a) { state().set_owner("audited"); });
  }
  void setup(const std::string& init_arg) override { state().set_owner(init_arg); }
};

}  // namespace

#ifdef BANK_MIGRATIONS
LEMON_MIGRATIONS("bank.Account.balance", "bank.Account.history")
#endif

LEMON_MODULE("bank", BANK_VERSION, LEMON_ACTOR("bank", Bank))
