// The host's message-type table: every message a module may receive or send is listed here.
//
// In CAF 0.17 message types belong to the host (a module cannot add types, CAF issue #1292), so a
// module is only compatible with hosts whose table it was built against: the table is part of the
// module fingerprint (core/module_abi.h). Change this text whenever actors/messages.h changes.
#ifndef LEMON_CORE_MESSAGE_TABLE_H_
#define LEMON_CORE_MESSAGE_TABLE_H_

// Format: `<atom>(<arg types>)` separated by `|` (never `;` or `=`: the table is one field of the
// `key=value;...` fingerprint). Standard CAF types and atoms only.
#define LEMON_MESSAGE_TABLE                                                          \
  "lemon-msgs-1{tick(u64 sender,u64 seq)|get()|add(i64)|put(str key,str value)|" \
  "lookup(str key)|ping(u64)|stats()}"

#endif  // LEMON_CORE_MESSAGE_TABLE_H_
