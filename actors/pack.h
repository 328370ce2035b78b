// Typed lemon::Message for any code: module actors (through lemon::Context), host code and plain
// CAF actors, which send `lemon::pack(msg)` and read replies and messages with lemon::unpack.
//
//   bank::Deposit d;
//   d.set_amount(5);
//   self->request(accounts, caf::infinite, lemon::pack(d)).receive(
//       [](const lemon::Message& reply) { bank::Balance b; lemon::unpack(reply, &b); ... }, ...);
//
// Register the type with the actor system (lemon::Runtime does) to send it to other nodes.
#ifndef LEMON_ACTORS_PACK_H_
#define LEMON_ACTORS_PACK_H_

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "actors/local_schemas.h"
#include "actors/message.h"

namespace lemon {

// `m` as a lemon::Message that holds the object itself (no serialization); `code` keeps the code
// that made it mapped (null for host code).
template <class T>
Message pack(T m, std::shared_ptr<const void> code = nullptr) {
  static_assert(std::is_base_of_v<google::protobuf::MessageLite, T>,
                "T must be a Protobuf message");
  return Message::of<T>(std::move(m), &type_name<T>(), schema_key<T>(), std::move(code));
}

// `m` as a T: the object itself when it was made by generated code with T's schema key, else
// parsed into `scratch`. nullptr if `m` is another type or its bytes do not parse.
template <class T>
const T* view(const Message& m, std::optional<T>& scratch) {
  if (!m.is(&type_name<T>())) return nullptr;
  if (const auto* o = m.object(schema_key<T>())) return static_cast<const T*>(o);
  scratch.emplace();
  return scratch->ParseFromString(m.bytes()) ? &*scratch : nullptr;
}

// `m`'s content as T; false if `m` is another type or does not parse.
template <class T>
bool unpack(const Message& m, T* out) {
  std::optional<T> scratch;
  const T* in = view(m, scratch);
  if (in == nullptr) return false;
  *out = in == &*scratch ? std::move(*scratch) : *in;
  return true;
}

}  // namespace lemon

#endif  // LEMON_ACTORS_PACK_H_
