// The schema compatibility gate: whether a module version's Protobuf schema may replace the
// current version's, decided before any actor is held (the Reloader's prepare phase).
//
// For every message type of the current schema, the new one must still define it, and each of its
// field numbers that the new one still uses must keep its name and its type (scalar type, enum or
// message type name, repeated or not): otherwise state and messages written by one version would
// be read as something else by the other. Adding fields or types, and removing fields, pass. A
// change passes too when the new version declares a migration for it (LEMON_MIGRATIONS,
// actors/module.h): "pkg.Message.field" for one field (its old or new name), "pkg.Message" for
// the whole type.
//
//   check_schema_change(*current, *next)   // kSchemaIncompatible:
//   // "bank.Account.balance: field 2 changed type from int64 to string"
#ifndef LEMON_CORE_SCHEMA_GATE_H_
#define LEMON_CORE_SCHEMA_GATE_H_

#include <set>
#include <string>

#include "absl/status/status.h"
#include "core/code_server.h"
#include "core/module_schema.h"

namespace lemon {

// The changes from `from` to `to` that no entry of `migrations` covers, one line each ("" when
// there are none).
std::string schema_incompatibilities(const ModuleSchema& from, const ModuleSchema& to,
                                     const std::set<std::string>& migrations);

// The migrations module `d` declares.
std::set<std::string> declared_migrations(const LemonModuleDescriptor& d);

// OK if `next` may replace `current` (either without a schema always may); else
// kSchemaIncompatible naming every change, each as "pkg.Message.field: what changed".
absl::Status check_schema_change(const LoadedModule& current, const LoadedModule& next);

}  // namespace lemon

#endif  // LEMON_CORE_SCHEMA_GATE_H_
