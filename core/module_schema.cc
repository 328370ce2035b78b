#include "core/module_schema.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/util/json_util.h"

namespace lemon {
namespace {

void add_with_nested(const google::protobuf::Descriptor* d,
                     std::vector<const google::protobuf::Descriptor*>& out) {
  out.push_back(d);
  for (int i = 0; i < d->nested_type_count(); ++i) add_with_nested(d->nested_type(i), out);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ModuleSchema>> ModuleSchema::create(
    absl::string_view file_descriptor_set) {
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(file_descriptor_set.data(),
                          static_cast<int>(file_descriptor_set.size()))) {
    return absl::InvalidArgumentError("the schema is not a serialized FileDescriptorSet");
  }
  std::unique_ptr<ModuleSchema> schema(new ModuleSchema());
  for (const google::protobuf::FileDescriptorProto& file : set.file()) {
    const google::protobuf::FileDescriptor* built = schema->pool_.BuildFile(file);
    if (built == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("the schema's file ", file.name(), " does not build"));
    }
    schema->files_.push_back(built);
  }
  return schema;
}

absl::StatusOr<std::unique_ptr<ModuleSchema>> ModuleSchema::of(const LemonModuleDescriptor& d) {
  const char* data = nullptr;
  size_t size = 0;
  if (d.schema != nullptr) d.schema(&data, &size);
  if (data == nullptr || size == 0) return std::unique_ptr<ModuleSchema>();
  return create(absl::string_view(data, size));
}

bool ModuleSchema::has_type(absl::string_view type) const {
  return pool_.FindMessageTypeByName(std::string(type)) != nullptr;
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> ModuleSchema::make(
    absl::string_view type) const {
  const google::protobuf::Descriptor* d = pool_.FindMessageTypeByName(std::string(type));
  if (d == nullptr) return absl::NotFoundError(absl::StrCat("no message type ", type));
  return std::unique_ptr<google::protobuf::Message>(factory_.GetPrototype(d)->New());
}

absl::StatusOr<std::string> ModuleSchema::to_json(absl::string_view type,
                                                  absl::string_view bytes) const {
  auto m = make(type);
  if (!m.ok()) return m.status();
  if (!(*m)->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat("the bytes do not parse as ", type));
  }
  std::string json;
  auto s = google::protobuf::util::MessageToJsonString(**m, &json);
  if (!s.ok())
    return absl::InternalError(absl::StrCat(type, " as JSON: ", s.message().as_string()));
  return json;
}

absl::StatusOr<std::string> ModuleSchema::from_json(absl::string_view type,
                                                    absl::string_view json) const {
  auto m = make(type);
  if (!m.ok()) return m.status();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field is refused, not dropped
  auto s = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), m->get(), options);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(type, ": ", s.message().as_string()));
  return (*m)->SerializeAsString();
}

std::vector<const google::protobuf::Descriptor*> ModuleSchema::message_types() const {
  std::vector<const google::protobuf::Descriptor*> out;
  for (const google::protobuf::FileDescriptor* f : files_) {
    for (int i = 0; i < f->message_type_count(); ++i) add_with_nested(f->message_type(i), out);
  }
  return out;
}

}  // namespace lemon
