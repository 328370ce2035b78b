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
  return Message(type_name<T>(), std::make_shared<const T>(std::move(m)), schema_key<T>(),
                 std::move(code));
}

// `m`'s content as T; false if `m` is another type or does not parse.
template <class T>
bool unpack(const Message& m, T* out) {
  const T* in = m.as<T>(type_name<T>(), schema_key<T>(), out);
  if (in == nullptr) return false;
  if (in != out) *out = *in;
  return true;
}

}  // namespace lemon

#endif  // LEMON_ACTORS_PACK_H_
