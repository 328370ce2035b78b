// lemon::Message: a Protobuf message as actors exchange it, whoever defined its type.
//
// CAF 0.17 cannot add message types from a module, so every module message travels as this one
// host type: the message's full Protobuf type name and its content. Content is either bytes or the
// object itself (no copy, no serialization) together with the schema key of its generated code
// (actors/local_schemas.h): a receiver whose own generated class has the same key (built from the
// same .proto) reads the object in place; any other receiver parses the bytes. So a module may add
// a message type, or change one, without the host or other modules knowing it.
//
// A small object lives inside the Message (so inside CAF's message: one allocation per message,
// as for a host struct); a larger one on the heap. Either way it was made, is moved and is
// destroyed by the code that made it, and that code may be a module's: the message keeps the
// module's version mapped (`code`) for as long as the object lives, so a message waiting in a
// mailbox stays valid after the version that made it was replaced and purged. So does the type
// name, which points into the same code. Over the network only the type name and the bytes travel.
#ifndef LEMON_ACTORS_MESSAGE_H_
#define LEMON_ACTORS_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "google/protobuf/message_lite.h"

namespace lemon {

class Message {
 public:
  // How the code that made an object moves, copies and destroys it (generated per type there).
  struct ObjectOps {
    void (*relocate)(void* from, void* to) noexcept;  // move-construct at `to`, destroy `from`
    void (*copy)(const void* from, void* to);
    void (*destroy)(void* object) noexcept;
  };

  template <class T>
  static const ObjectOps* ops_of() {
    static constexpr ObjectOps ops = {
        [](void* from, void* to) noexcept {
          new (to) T(std::move(*static_cast<T*>(from)));
          static_cast<T*>(from)->~T();
        },
        [](const void* from, void* to) { new (to) T(*static_cast<const T*>(from)); },
        [](void* object) noexcept { static_cast<T*>(object)->~T(); },
    };
    return &ops;
  }

  // Objects up to this size live inside the Message.
  static constexpr std::size_t kInline = 64;

  Message() = default;
  Message(std::string type, std::string bytes)
      : cold_(std::make_shared<const Cold>(Cold{std::move(type), std::move(bytes), nullptr})) {
    type_ = &cold_->type;
  }

  // `object` of Protobuf type `*type`, made by generated code whose schema key is `schema`.
  // `*type` must live as long as that code; `code` keeps the code mapped when it may be unloaded
  // (null for code that never is).
  template <class T>
  static Message of(T&& object, const std::string* type, uint64_t schema,
                    std::shared_ptr<const void> code) {
    using U = std::decay_t<T>;
    static_assert(std::is_base_of_v<google::protobuf::MessageLite, U>, "a Protobuf message");
    Message m;
    m.type_ = type;
    m.code_ = std::move(code);
    m.schema_ = schema;
    if constexpr (sizeof(U) <= kInline && alignof(U) <= kAlign) {
      new (m.inline_) U(std::forward<T>(object));
      m.ops_ = ops_of<U>();
      m.object_ = reinterpret_cast<const google::protobuf::MessageLite*>(m.inline_);
    } else {
      auto heap = std::make_shared<const U>(std::forward<T>(object));
      m.object_ = heap.get();
      m.cold_ = std::make_shared<const Cold>(Cold{"", "", std::move(heap)});
    }
    return m;
  }

  Message(const Message& other)
      : type_(other.type_), schema_(other.schema_), code_(other.code_), cold_(other.cold_) {
    if (other.ops_ != nullptr) {
      other.ops_->copy(other.inline_, inline_);
      ops_ = other.ops_;
      object_ = reinterpret_cast<const google::protobuf::MessageLite*>(inline_);
    } else {
      object_ = other.object_;
    }
  }

  Message(Message&& other) noexcept
      : type_(other.type_),
        schema_(other.schema_),
        code_(std::move(other.code_)),
        cold_(std::move(other.cold_)) {
    if (other.ops_ != nullptr) {
      other.ops_->relocate(other.inline_, inline_);
      ops_ = other.ops_;
      other.ops_ = nullptr;
      object_ = reinterpret_cast<const google::protobuf::MessageLite*>(inline_);
    } else {
      object_ = other.object_;
    }
    other.object_ = nullptr;
    other.type_ = nullptr;
  }

  Message& operator=(Message other) noexcept {
    this->~Message();
    new (this) Message(std::move(other));
    return *this;
  }

  ~Message() {
    if (ops_ != nullptr) ops_->destroy(inline_);  // before code_ lets the code go
  }

  // The full Protobuf type name, e.g. "bank.Deposit" ("" for an empty message).
  const std::string& type() const {
    static const std::string none;
    return type_ != nullptr ? *type_ : none;
  }

  // The serialized message.
  std::string bytes() const {
    if (object_ != nullptr) return object_->SerializeAsString();
    return cold_ != nullptr ? cold_->bytes : std::string();
  }

  // The object, if it was made by generated code with schema key `schema` (0 never matches).
  const google::protobuf::MessageLite* object(uint64_t schema) const {
    return schema != 0 && schema == schema_ ? object_ : nullptr;
  }

  // Whether the type is `*name` (a type name from type_name<T>(): compared by address first).
  bool is(const std::string* name) const {
    return type_ == name || (type_ != nullptr && *type_ == *name);
  }

  // CAF serialization (the network, to_string): the type name and the bytes.
  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, Message& x) {
    if constexpr (Inspector::reads_state) {
      std::string type = x.type();
      std::string bytes = x.bytes();
      return f(type, bytes);
    } else {
      x = Message("", "");
      auto& cold = const_cast<Cold&>(*x.cold_);  // not shared yet: written in place
      return f(cold.type, cold.bytes);
    }
  }

 private:
  static constexpr std::size_t kAlign = 16;

  // What only messages made from bytes, or holding a large object, need.
  struct Cold {
    std::string type;
    std::string bytes;
    std::shared_ptr<const google::protobuf::MessageLite> heap;  // a large object
  };

  // What a receiver reads comes first; an object made by generated code fits in the first
  // two cache lines with it.
  const std::string* type_ = nullptr;
  const ObjectOps* ops_ = nullptr;  // set while an object lives in inline_
  const google::protobuf::MessageLite* object_ = nullptr;
  uint64_t schema_ = 0;
  std::shared_ptr<const void> code_;  // released after the object (see ~Message and Cold)
  std::shared_ptr<const Cold> cold_;
  alignas(kAlign) unsigned char inline_[kInline];
};

}  // namespace lemon

#endif  // LEMON_ACTORS_MESSAGE_H_
