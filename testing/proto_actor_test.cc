// Module actors written with ProtoActor on a real node: messages and state the modules define,
// a new message type at v2 in a host built without it, state kept across v2 -> v1 -> v2, the
// lifecycle hooks (init timer, upgraded, down), and children reloaded with their module.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "actors/message.h"
#include "actors/pack.h"
#include "actors/system_messages.h"
#include "caf/all.hpp"
#include "caf/io/all.hpp"
#include "core/module_abi.h"
#include "core/reload_error.h"
#include "core/reload_request.h"
#include "core/test_support.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "gtest/gtest.h"
#include "testing/test_node.h"
#include "testing/testdata/ledger_v1/ledger.pb.h"
#include "testing/testdata/watcher.pb.h"

namespace lemon::testing {
namespace {

using google::protobuf::internal::WireFormatLite;

// The fields of serialized message `bytes`, whatever its type: varints as numbers, length-
// delimited fields as bytes (this host has no generated code for version 2's types).
struct Fields {
  std::map<int, int64_t> numbers;
  std::map<int, std::string> strings;

  int64_t number(int field) const {
    auto it = numbers.find(field);
    return it == numbers.end() ? 0 : it->second;
  }
};

Fields decode(const std::string& bytes) {
  Fields out;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_VARINT) {
      uint64_t v = 0;
      in.ReadVarint64(&v);
      out.numbers[field] = static_cast<int64_t>(v);
    } else if (WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::string s;
      uint32_t n = 0;
      in.ReadVarint32(&n);
      in.ReadString(&s, static_cast<int>(n));
      out.strings[field] = s;
    } else {
      WireFormatLite::SkipField(&in, tag);
    }
  }
  return out;
}

class ProtoActorTest : public NodeTest {
 protected:
  ProtoActorTest()
      : NodeTest({{"ledger", runfile("testing/testdata/libledger_v1.so")},
                  {"watcher", runfile("testing/testdata/libwatcher.so")}}) {}

  // Reloads module `name` from the shared object `so` (installed as <name>.so); `force` passes
  // the schema gate.
  void reload(const std::string& name, const std::string& so, bool force = false) {
    install(name, runfile(so), /*load=*/false);
    ReloadRequest request = ReloadRequest::module(name);
    request.force = force;
    ReloadReport r = rt_->reloader().run(request);
    ASSERT_EQ(r.status, ReloadStatus::kOk)
        << (r.errors.empty() ? std::string("skipped") : r.errors[0].message);
  }

  ActorStatus status(const caf::actor& a) { return ask<ActorStatus>(a, sys_status_atom::value); }

  // The actor's state fields once `done` holds for them; fails after a minute.
  Fields state_when(const caf::actor& a, const std::function<bool(const Fields&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    Fields f;
    do {
      f = decode(status(a).state_bytes);
      if (done(f)) return f;
    } while (std::chrono::steady_clock::now() < deadline);
    ADD_FAILURE() << "state never reached the expected value";
    return f;
  }

  // `a`'s reply to `m`.
  Message ask_message(const caf::actor& a, const Message& m) { return ask<Message>(a, m); }
};

TEST_F(ProtoActorTest, NewTypeAtV2CrossesTheReloadBetweenVersions) {
  caf::actor watcher = spawn("watcher", "w");
  state_when(watcher, [](const Fields& f) { return f.strings.count(1) != 0; });  // init ran
  caf::actor ledger = rt_->registry()->whereis("w-ledger");
  ASSERT_TRUE(ledger) << "init did not start the child";
  bool listed = false;
  for (const ActorEntry& e : rt_->registry()->list()) {
    if (e.name == "w-ledger") listed = e.parent == "w";
  }
  EXPECT_TRUE(listed) << "the child's parent is not recorded";

  watchtest::Pump pump;
  pump.set_amount(5);
  caf::anon_send(watcher, pack(pump));
  state_when(watcher, [](const Fields& f) { return f.number(2) == 1; });

  reload("ledger", "testing/testdata/libledger_v2.so");
  EXPECT_EQ(status(ledger).version, "2") << "the child was not reloaded with its module";

  // Watcher (built with version 1's messages) and the ledger at version 2 still talk.
  pump.set_amount(7);
  caf::anon_send(watcher, pack(pump));
  Fields w = state_when(watcher, [](const Fields& f) { return f.number(2) == 2; });
  EXPECT_EQ(w.numbers[3], 12);

  // Audit exists only at version 2: this host carries it by name and bytes.
  caf::anon_send(ledger, Message("ledgertest.Audit", std::string("\x0a\x01x", 3)));
  Message reply = ask_message(ledger, pack(ledgertest::Get()));
  EXPECT_EQ(reply.type(), "ledgertest.Summary");
  Fields summary = decode(reply.bytes());
  EXPECT_EQ(summary.numbers[1], 12);
  EXPECT_EQ(summary.numbers[2], 1) << "the audit did not reach version 2";

  // Version 1's Summary reads version 2's reply; the field it does not know is kept, not lost.
  ledgertest::Summary typed;
  ASSERT_TRUE(unpack(reply, &typed));
  EXPECT_EQ(typed.total(), 12);
  EXPECT_EQ(decode(typed.SerializeAsString()).number(2), 1);
}

TEST_F(ProtoActorTest, RoundTripKeepsFieldsOnlyV2Knows) {
  caf::actor ledger = spawn("ledger", "l");
  ledgertest::Add add;
  add.set_amount(3);
  ask_message(ledger, pack(add));
  reload("ledger", "testing/testdata/libledger_v2.so");
  for (int i = 0; i < 3; ++i) {
    caf::anon_send(ledger, Message("ledgertest.Audit", std::string("\x0a\x01x", 3)));
  }
  state_when(ledger, [](const Fields& f) { return f.number(3) == 3; });

  // Version 1's code, which has no Audit type: the gate wants it forced.
  reload("ledger", "testing/testdata/libledger_v3.so", /*force=*/true);
  Fields v3 = decode(status(ledger).state_bytes);
  EXPECT_EQ(v3.numbers[1], 3);
  EXPECT_EQ(v3.numbers[3], 3) << "version 1 dropped a field it does not know";

  reload("ledger", "testing/testdata/libledger_v4.so");  // version 2's code
  Fields v4 = decode(status(ledger).state_bytes);
  EXPECT_EQ(v4.numbers[1], 3);
  EXPECT_EQ(v4.numbers[3], 3);
  EXPECT_EQ(v4.strings[4], "3") << "upgraded hook did not run with the version it came from";
}

TEST_F(ProtoActorTest, TimerArmedInInitFiresOnTheNewVersion) {
  caf::actor ledger = spawn("ledger", "t", "timer:1500");
  reload("ledger", "testing/testdata/libledger_v2.so");
  Fields f = state_when(ledger, [](const Fields& x) { return x.strings.count(2) != 0; });
  EXPECT_EQ(f.strings[2], "2");
  EXPECT_EQ(f.strings[4], "1");
}

TEST_F(ProtoActorTest, DownMessagesReachModuleCode) {
  caf::actor watcher = spawn("watcher", "w");
  caf::actor victim = spawn("ledger", "victim");
  watchtest::Watch watch;
  watch.set_name("victim");
  (*self_)  // monitoring once the reply is in
      ->request(watcher, std::chrono::seconds(60), pack(watch))
      .receive([] {}, [](caf::error& e) { ADD_FAILURE() << to_string(e); });
  caf::anon_send_exit(victim, caf::exit_reason::user_shutdown);
  Fields f = state_when(watcher, [](const Fields& x) { return x.number(4) == 1; });
  EXPECT_NE(f.strings[5].find("user_shutdown"), std::string::npos) << f.strings[5];
}

TEST_F(ProtoActorTest, UnknownMessageTypeIsAnErrorReply) {
  caf::actor ledger = spawn("ledger", "l");
  bool failed = false;
  (*self_)
      ->request(ledger, std::chrono::seconds(60), Message("nosuch.Type", ""))
      .receive([](const caf::message&) {},
               [&](caf::error& e) {
                 failed = true;
                 EXPECT_NE(rt_->system().render(e).find("nosuch.Type"), std::string::npos);
               });
  EXPECT_TRUE(failed);
}

TEST_F(ProtoActorTest, TheSchemaGateRefusesARetypedFieldBeforeAnyActorIsHeld) {
  install("bank", runfile("core/testdata/libbank_v1.so"));
  caf::actor account = spawn("bank", "acct", "ann");
  install("bank", runfile("core/testdata/libbank_v2.so"), /*load=*/false);
  ReloadReport refused = rt_->reloader().run(ReloadRequest::module("bank"));
  ASSERT_EQ(refused.status, ReloadStatus::kError);
  ASSERT_FALSE(refused.errors.empty());
  EXPECT_EQ(refused.errors[0].reason, ReloadError::kSchemaIncompatible);
  EXPECT_NE(refused.errors[0].message.find("bank.Account.balance"), std::string::npos)
      << refused.errors[0].message;
  ActorStatus kept = status(account);
  EXPECT_EQ(kept.version, "1");
  EXPECT_EQ(decode(kept.state_bytes).strings[1], "ann") << "the state changed";

  // The same change, declared as a migration, goes through.
  reload("bank", "core/testdata/libbank_v2_migrated.so");
  EXPECT_EQ(status(account).version, "2");
}

TEST_F(ProtoActorTest, ModuleWithItsOwnVocabularyLoads) {
  EXPECT_EQ(std::string(kHostFingerprint).find("msgs"), std::string::npos)
      << "the host's vocabulary is part of the fingerprint";
  install("own_vocabulary", runfile("testing/testdata/libown_vocabulary.so"));
  caf::actor a = spawn("own_vocabulary", "acct");
  EXPECT_EQ(ask<int64_t>(a, caf::atom("deposit"), int64_t{5}), 5);
  EXPECT_EQ(ask<int64_t>(a, caf::atom("balance")), 5);
}

TEST(ProtoActorNetworkTest, MessagesCrossNodesOverCafNetworking) {
  ScratchDir dir;
  Runtime::Options o = node_options(dir);
  o.load_middleman = true;
  auto rt = Runtime::create(o);
  ASSERT_TRUE(rt.ok()) << rt.status();
  ASSERT_TRUE(install_module(**rt, runfile("testing/testdata/libledger_v1.so"), "ledger.so").ok());
  SpawnSpec spec;
  spec.module = "ledger";
  absl::StatusOr<caf::actor> ledger = (*rt)->spawn(spec);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  caf::expected<uint16_t> port = (*rt)->system().middleman().publish(*ledger, 0, "127.0.0.1");
  ASSERT_TRUE(port) << (*rt)->system().render(port.error());

  // Another node: a plain CAF system that knows lemon.Message and ledger v1's generated code.
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.add_message_type<Message>("lemon.Message");
  caf::actor_system other(cfg);
  caf::expected<caf::actor> remote = other.middleman().remote_actor("127.0.0.1", *port);
  ASSERT_TRUE(remote) << other.render(remote.error());
  ledgertest::Add add;
  add.set_amount(40);
  caf::scoped_actor self(other);
  ledgertest::Summary summary;
  self->request(*remote, std::chrono::seconds(60), pack(add))
      .receive([&](const Message& reply) { ASSERT_TRUE(unpack(reply, &summary)); },
               [&](caf::error& e) { ADD_FAILURE() << other.render(e); });
  EXPECT_EQ(summary.total(), 40);
}

}  // namespace
}  // namespace lemon::testing
