#include "core/schema_gate.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/reload_error.h"

namespace lemon {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// A field's type as the gate compares it: "int64", "repeated string", "bank.Money".
std::string type_of(const FieldDescriptor& f) {
  std::string type;
  if (f.message_type() != nullptr) {
    type = f.message_type()->full_name();
  } else if (f.enum_type() != nullptr) {
    type = f.enum_type()->full_name();
  } else {
    type = f.type_name();
  }
  return f.is_repeated() ? "repeated " + type : type;
}

bool covered(const std::set<std::string>& migrations, const std::string& name) {
  return migrations.count(name) > 0;
}

// The changes of one message type's fields (`old` in the current schema, `now` in the next).
void field_changes(const Descriptor& old, const Descriptor& now,
                   const std::set<std::string>& migrations, std::vector<std::string>& out) {
  for (int i = 0; i < old.field_count(); ++i) {
    const FieldDescriptor& f = *old.field(i);
    const FieldDescriptor* g = now.FindFieldByNumber(f.number());
    if (g == nullptr) continue;  // removed: its number is free, old data is kept as unknown
    const std::string name = absl::StrCat(old.full_name(), ".", f.name());
    if (covered(migrations, name) ||
        covered(migrations, absl::StrCat(now.full_name(), ".", g->name()))) {
      continue;
    }
    if (g->name() != f.name()) {
      out.push_back(absl::StrCat(name, ": field ", f.number(), " reused as ", g->name()));
    } else if (type_of(*g) != type_of(f)) {
      out.push_back(absl::StrCat(name, ": field ", f.number(), " changed type from ", type_of(f),
                                 " to ", type_of(*g)));
    }
  }
}

}  // namespace

std::string schema_incompatibilities(const ModuleSchema& from, const ModuleSchema& to,
                                     const std::set<std::string>& migrations) {
  std::vector<std::string> out;
  for (const Descriptor* old : from.message_types()) {
    if (covered(migrations, old->full_name())) continue;
    const Descriptor* now = to.pool().FindMessageTypeByName(old->full_name());
    if (now == nullptr) {
      out.push_back(absl::StrCat(old->full_name(), ": message removed"));
    } else {
      field_changes(*old, *now, migrations, out);
    }
  }
  return absl::StrJoin(out, "; ");
}

std::set<std::string> declared_migrations(const LemonModuleDescriptor& d) {
  std::set<std::string> out;
  for (uint32_t i = 0; d.migrations != nullptr && i < d.migration_count; ++i) {
    if (d.migrations[i] != nullptr) out.insert(d.migrations[i]);
  }
  return out;
}

absl::Status check_schema_change(const LoadedModule& current, const LoadedModule& next) {
  if (current.schema() == nullptr || next.schema() == nullptr) return absl::OkStatus();
  const std::string problems = schema_incompatibilities(*current.schema(), *next.schema(),
                                                        declared_migrations(next.descriptor()));
  if (problems.empty()) return absl::OkStatus();
  return reload_status(
      ReloadError::kSchemaIncompatible,
      absl::StrCat(next.name(), " ", next.version(), " is incompatible with ", current.version(),
                   ": ", problems, " (declare a migration with LEMON_MIGRATIONS, or force)"));
}

}  // namespace lemon
