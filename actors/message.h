// lemon::Message: a Protobuf message as actors exchange it, whoever defined its type.
//
// CAF 0.17 cannot add message types from a module, so every module message travels as this one
// host type: the message's full Protobuf type name and its content. Content is either bytes or the
// object itself (no copy, no serialization) together with the schema key of its generated code
// (actors/local_schemas.h): a receiver whose own generated class has the same key (built from the
// same .proto) reads the object in place; any other receiver parses the bytes. So a module may add
// a message type, or change one, without the host or other modules knowing it.
//
// A Message is one cache line. A small object lives inside it (so inside CAF's mailbox element:
// one allocation per message, as for a host struct); a larger one on the heap. Either way it was
// made, is moved and is destroyed by the code that made it, and that code may be a module's: the
// message keeps the module's version mapped (CodeHold) for as long as the object lives, so a
// message waiting in a mailbox stays valid after the version that made it was replaced and purged.
// So does the type name, which points into the same code. Over the network only the type name and
// the bytes travel.
#ifndef LEMON_ACTORS_MESSAGE_H_
#define LEMON_ACTORS_MESSAGE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "google/protobuf/message_lite.h"

namespace lemon {

// A shared pointer of one word (std::shared_ptr takes two) to a T it owns, counted atomically.
template <class T>
class CountedPtr {
 public:
  CountedPtr() = default;
  template <class... Args>
  static CountedPtr make(Args&&... args) {
    CountedPtr p;
    p.block_ = new Block{{1}, T{std::forward<Args>(args)...}};
    return p;
  }
  CountedPtr(const CountedPtr& other) noexcept : block_(other.block_) {
    if (block_ != nullptr) block_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  CountedPtr(CountedPtr&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  CountedPtr& operator=(CountedPtr other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  ~CountedPtr() {
    if (block_ != nullptr && block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete block_;
    }
  }
  explicit operator bool() const { return block_ != nullptr; }
  const T* get() const { return block_ != nullptr ? &block_->value : nullptr; }
  const T* operator->() const { return get(); }
  // The value, while this is its only pointer (before it is shared).
  T& unshared() { return block_->value; }

 private:
  struct Block {
    std::atomic<long> refs;
    T value;
  };
  Block* block_ = nullptr;
};

// Keeps the code that made a message's object mapped while the message lives (null for code that
// is never unloaded, such as the host's).
using CodeHold = CountedPtr<std::shared_ptr<const void>>;

class Message {
 public:
  // What the code that made an object knows of its type: one per generated class there.
  struct Type {
    const std::string* name;  // the full Protobuf type name
    uint64_t schema;          // the schema key of the generated code (0: unknown)
    bool fits_inline;         // objects of this type live inside the Message
    void (*relocate)(void* from, void* to) noexcept;  // move-construct at `to`, destroy `from`
    void (*copy)(const void* from, void* to);
    void (*destroy)(void* object) noexcept;
  };

  // Objects up to this size live inside the Message.
  static constexpr std::size_t kInline = 40;
  static constexpr std::size_t kAlign = 8;

  template <class T>
  static constexpr bool fits_inline() {
    return sizeof(T) <= kInline && alignof(T) <= kAlign;
  }

  // The Type of generated class T, given its name and schema key.
  template <class T>
  static Type type_of(const std::string* name, uint64_t schema) {
    return Type{
        name,
        schema,
        fits_inline<T>(),
        [](void* from, void* to) noexcept {
          new (to) T(std::move(*static_cast<T*>(from)));
          static_cast<T*>(from)->~T();
        },
        [](const void* from, void* to) { new (to) T(*static_cast<const T*>(from)); },
        [](void* object) noexcept { static_cast<T*>(object)->~T(); },
    };
  }

  Message() = default;
  // A message received as bytes (from the network, or from code that does not know the type).
  Message(std::string type, std::string bytes)
      : cold_(ColdPtr::make(std::move(type), std::move(bytes), nullptr)) {}

  // What a Message holding `object` is made from: `type` is T's Type (lemon::message_type), `code`
  // keeps the code that made it mapped. One argument, so that CAF can make the Message in place in
  // a mailbox element (lemon::send).
  template <class T>
  struct Made {
    T&& object;
    const Type* type;
    CodeHold code;
  };

  template <class T>
  explicit Message(Made<T> made) : type_(made.type), code_(std::move(made.code)) {
    using U = std::decay_t<T>;
    static_assert(std::is_base_of_v<google::protobuf::MessageLite, U>, "a Protobuf message");
    if constexpr (fits_inline<U>()) {
      new (inline_) U(std::forward<T>(made.object));
    } else {
      cold_ = ColdPtr::make("", "", std::make_shared<const U>(std::forward<T>(made.object)));
    }
  }

  Message(const Message& other) : type_(other.type_), code_(other.code_), cold_(other.cold_) {
    if (holds_inline()) type_->copy(other.inline_, inline_);
  }

  Message(Message&& other) noexcept
      : type_(other.type_), code_(std::move(other.code_)), cold_(std::move(other.cold_)) {
    if (holds_inline()) type_->relocate(other.inline_, inline_);
    other.type_ = nullptr;
  }

  Message& operator=(Message other) noexcept {
    this->~Message();
    new (this) Message(std::move(other));
    return *this;
  }

  ~Message() {
    if (holds_inline()) type_->destroy(inline_);
    cold_ = ColdPtr();  // a large object goes before code_ lets its code go
  }

  // The full Protobuf type name, e.g. "bank.Deposit" ("" for an empty message).
  const std::string& type() const {
    static const std::string none;
    if (type_ != nullptr) return *type_->name;
    return cold_ ? cold_->type : none;
  }

  // The serialized message.
  std::string bytes() const {
    if (const auto* o = held_object()) return o->SerializeAsString();
    return cold_ ? cold_->bytes : std::string();
  }

  // The object, if it was made by generated code with schema key `schema` (0 never matches).
  const google::protobuf::MessageLite* object(uint64_t schema) const {
    return type_ != nullptr && schema != 0 && schema == type_->schema ? held_object() : nullptr;
  }

  // Whether the type is `*name` (a type name from type_name<T>(): compared by address first).
  bool is(const std::string* name) const {
    if (type_ != nullptr) return type_->name == name || *type_->name == *name;
    return cold_ && cold_->type == *name;
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
      Cold& cold = x.cold_.unshared();
      return f(cold.type, cold.bytes);
    }
  }

 private:
  // What only messages made from bytes, or holding a large object, need.
  struct Cold {
    std::string type;
    std::string bytes;
    std::shared_ptr<const google::protobuf::MessageLite> heap;  // a large object
  };
  using ColdPtr = CountedPtr<Cold>;

  bool holds_inline() const { return type_ != nullptr && type_->fits_inline; }
  const google::protobuf::MessageLite* held_object() const {
    if (type_ == nullptr) return nullptr;
    if (type_->fits_inline) return reinterpret_cast<const google::protobuf::MessageLite*>(inline_);
    return cold_->heap.get();
  }

  const Type* type_ = nullptr;  // set while the message holds an object (inline or in cold_)
  CodeHold code_;               // released after the object (see ~Message)
  CountedPtr<Cold> cold_;
  alignas(kAlign) unsigned char inline_[kInline];
};

static_assert(sizeof(Message) == 64, "a Message is one cache line");

}  // namespace lemon

#endif  // LEMON_ACTORS_MESSAGE_H_
