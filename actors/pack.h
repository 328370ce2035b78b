// Typed lemon::Message for any code: module actors (through lemon::Context), host code and plain
// CAF actors, which send `lemon::pack(msg)` and read replies and messages with lemon::unpack.
//
//   bank::Deposit d;
//   d.set_amount(5);
//   lemon::send(accounts, d);  // a tell, made in place in the receiver's mailbox
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
#include "caf/actor.hpp"
#include "caf/mailbox_element.hpp"
#include "caf/message_id.hpp"

namespace lemon {

// Generated class T's Message::Type in this binary (made once per type).
template <class T>
const Message::Type* message_type() {
  static const Message::Type type = Message::type_of<T>(&type_name<T>(), schema_key<T>());
  return &type;
}

// `m` as a lemon::Message that holds the object itself (no serialization); `code` keeps the code
// that made it mapped (empty for host code).
template <class T>
Message pack(T&& m, CodeHold code = {}) {
  using U = std::decay_t<T>;
  static_assert(std::is_base_of_v<google::protobuf::MessageLite, U>,
                "T must be a Protobuf message");
  return Message(Message::Made<T>{std::forward<T>(m), message_type<U>(), std::move(code)});
}

// Sends `m` to `to` from `sender` (none: an anonymous message), made in place in the receiver's
// mailbox element: the object is moved once, as a host struct would be.
template <class T>
void send(const caf::actor& to, T&& m, caf::strong_actor_ptr sender = nullptr) {
  using U = std::decay_t<T>;
  static_assert(std::is_base_of_v<google::protobuf::MessageLite, U>,
                "T must be a Protobuf message");
  to->enqueue(
      caf::mailbox_element_ptr{new caf::mailbox_element_vals<Message>(
          std::move(sender), caf::make_message_id(), caf::mailbox_element::forwarding_stack{},
          Message::Made<T>{std::forward<T>(m), message_type<U>(), CodeHold()})},
      nullptr);
}

// `m`, known to be of type T, as a T: the object itself when it was made by generated code with
// T's schema key, else parsed into `scratch`. nullptr if its bytes do not parse.
template <class T>
const T* content_of(const Message& m, std::optional<T>& scratch) {
  if (const auto* o = m.object(schema_key<T>())) return static_cast<const T*>(o);
  scratch.emplace();
  return scratch->ParseFromString(m.bytes()) ? &*scratch : nullptr;
}

// `m` as a T (see content_of); nullptr if `m` is another type or its bytes do not parse.
template <class T>
const T* view(const Message& m, std::optional<T>& scratch) {
  return m.is(&type_name<T>()) ? content_of(m, scratch) : nullptr;
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
