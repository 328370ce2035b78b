// lemon::Message: a Protobuf message as actors exchange it, whoever defined its type.
//
// CAF 0.17 cannot add message types from a module, so every module message travels as this one
// host type: the message's full Protobuf type name and its content. Content is either bytes or the
// object itself (no copy, no serialization) together with the schema key of its generated code
// (actors/local_schemas.h): a receiver whose own generated class has the same key (built from the
// same .proto) reads the object in place; any other receiver parses the bytes. So a module may add
// a message type, or change one, without the host or other modules knowing it.
//
// An object made by module code has its vtable in that module: the message keeps the module's
// version mapped (`code`) for as long as the object lives, so a message waiting in a mailbox stays
// valid after the version that made it was replaced and purged. Over the network only the type
// name and the bytes travel.
#ifndef LEMON_ACTORS_MESSAGE_H_
#define LEMON_ACTORS_MESSAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "google/protobuf/message_lite.h"

namespace lemon {

class Message {
 public:
  Message() = default;
  Message(std::string type, std::string bytes) : type_(std::move(type)), bytes_(std::move(bytes)) {}

  // `object` (of Protobuf type `type`, made by code whose schema key is `schema`), kept alive by
  // `code` when that code may be unloaded (null for code that is never unloaded).
  Message(std::string type, std::shared_ptr<const google::protobuf::MessageLite> object,
          uint64_t schema, std::shared_ptr<const void> code)
      : type_(std::move(type)),
        code_(std::move(code)),
        object_(std::move(object)),
        schema_(schema) {}

  // The full Protobuf type name, e.g. "bank.Deposit".
  const std::string& type() const { return type_; }

  // The serialized message.
  std::string bytes() const { return object_ ? object_->SerializeAsString() : bytes_; }

  // The object, if it was made by generated code with schema key `schema` (0 never matches).
  const google::protobuf::MessageLite* object(uint64_t schema) const {
    return schema != 0 && schema == schema_ ? object_.get() : nullptr;
  }

  // The message as `T` (whose schema key is `schema`): in place when the keys match, else parsed
  // into `*scratch`. nullptr if the type differs or the bytes do not parse.
  template <class T>
  const T* as(const std::string& type, uint64_t schema, T* scratch) const {
    if (type != type_) return nullptr;
    if (const auto* o = object(schema)) return static_cast<const T*>(o);
    if (object_) return scratch->ParseFromString(object_->SerializeAsString()) ? scratch : nullptr;
    return scratch->ParseFromString(bytes_) ? scratch : nullptr;
  }

  // CAF serialization (the network, to_string): the type name and the bytes.
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, Message& x) {
    if constexpr (Inspector::reads_state) {
      std::string bytes = x.bytes();
      return f(x.type_, bytes);
    } else {
      x.object_.reset();
      x.code_.reset();
      x.schema_ = 0;
      return f(x.type_, x.bytes_);
    }
  }

 private:
  std::string type_;
  std::string bytes_;
  std::shared_ptr<const void> code_;  // before object_: released after it
  std::shared_ptr<const google::protobuf::MessageLite> object_;
  uint64_t schema_ = 0;
};

}  // namespace lemon

#endif  // LEMON_ACTORS_MESSAGE_H_
