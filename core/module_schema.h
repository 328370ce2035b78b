// A module version's Protobuf schema as the host sees it: descriptors built from the
// FileDescriptorSet the module embeds (LemonModuleDescriptor::schema), in a pool of this version's
// own, so that two versions may define the same type differently. Module code is generated lite
// and registers nothing with Protobuf; the host gets JSON and the compatibility gate
// (core/schema_gate.h) from here.
//
//   auto schema = ModuleSchema::create(bytes).value();
//   schema->to_json("bank.Account", state_bytes);   // {"owner":"ann","balance":"12"}
//   schema->from_json("bank.Account", "{\"bogus\":1}");   // kInvalidArgument naming "bogus"
//
// Thread-safe once created.
#ifndef LEMON_CORE_MODULE_SCHEMA_H_
#define LEMON_CORE_MODULE_SCHEMA_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/module_abi.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"

namespace lemon {

class ModuleSchema {
 public:
  // The schema in `file_descriptor_set` (a serialized FileDescriptorSet, imports before their
  // importers); kInvalidArgument if it does not parse or its files do not build.
  static absl::StatusOr<std::unique_ptr<ModuleSchema>> create(
      absl::string_view file_descriptor_set);

  // The schema module `d` declares; null when it has none.
  static absl::StatusOr<std::unique_ptr<ModuleSchema>> of(const LemonModuleDescriptor& d);

  ModuleSchema(const ModuleSchema&) = delete;
  ModuleSchema& operator=(const ModuleSchema&) = delete;

  bool has_type(absl::string_view type) const;

  // `bytes` (a serialized `type`) as JSON, by Protobuf's JSON mapping.
  absl::StatusOr<std::string> to_json(absl::string_view type, absl::string_view bytes) const;

  // `json` as a serialized `type`; kInvalidArgument naming the field for an unknown field or a
  // value of the wrong kind.
  absl::StatusOr<std::string> from_json(absl::string_view type, absl::string_view json) const;

  // Every message type of the schema, nested ones included, file by file.
  std::vector<const google::protobuf::Descriptor*> message_types() const;

  const google::protobuf::DescriptorPool& pool() const { return pool_; }

 private:
  ModuleSchema() : factory_(&pool_) {}

  // A new empty message of `type`, or kNotFound.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> make(absl::string_view type) const;

  google::protobuf::DescriptorPool pool_;
  mutable google::protobuf::DynamicMessageFactory factory_;  // after pool_: uses it
  std::vector<const google::protobuf::FileDescriptor*> files_;
};

}  // namespace lemon

#endif  // LEMON_CORE_MODULE_SCHEMA_H_
