// The Protobuf schemas built into this binary: a module, or the host. One registry per shared
// object (modules are built with hidden visibility, so each has its own), filled before main or
// dlopen returns by the code that lemon_proto_library generates (tools/lemon_module.bzl).
//
// It gives each message type its schema key: a hash of the .proto file that defines it and of
// every file that file imports. Generated code is the same wherever the key is the same, so a
// lemon::Message object made in one binary may be read in place by another (actors/message.h).
// And it gives the host the module's schema (LemonModuleDescriptor::schema).
#ifndef LEMON_ACTORS_LOCAL_SCHEMAS_H_
#define LEMON_ACTORS_LOCAL_SCHEMAS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.pb.h"

namespace lemon {

class LocalSchemas {
 public:
  // This binary's registry.
  static LocalSchemas& get() {
    static LocalSchemas schemas;  // a module's goes with its dlclose
    return schemas;
  }

  // Adds a serialized FileDescriptorSet (with imports). Returns false if it does not parse.
  bool add(const char* data, size_t size) {
    google::protobuf::FileDescriptorSet set;
    if (!set.ParseFromArray(data, static_cast<int>(size))) return false;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& file : set.file()) {
      if (files_.count(file.name()) != 0) continue;
      files_[file.name()] = file.SerializeAsString();
      order_.push_back(file.name());
      std::vector<std::string> deps(file.dependency().begin(), file.dependency().end());
      deps_[file.name()] = std::move(deps);
      const std::string prefix = file.package().empty() ? "" : file.package() + ".";
      for (const auto& m : file.message_type()) add_type(prefix, m, file.name());
    }
    keys_.clear();
    return true;
  }

  // The schema key of message type `type` ("pkg.Name"), or 0 if it is not built in.
  uint64_t key(const std::string& type) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = type_files_.find(type);
    if (it == type_files_.end()) return 0;
    std::set<std::string> seen;
    return file_key(it->second, seen);
  }

  // Every registered file as one serialized FileDescriptorSet, imports before their importers.
  const std::string& schema() {
    std::lock_guard<std::mutex> lock(mu_);
    if (merged_size_ != order_.size()) {
      google::protobuf::FileDescriptorSet set;
      for (const auto& name : order_) set.add_file()->ParseFromString(files_[name]);
      merged_ = set.SerializeAsString();
      merged_size_ = order_.size();
    }
    return merged_;
  }

  bool empty() {
    std::lock_guard<std::mutex> lock(mu_);
    return order_.empty();
  }

 private:
  LocalSchemas() = default;

  void add_type(const std::string& prefix, const google::protobuf::DescriptorProto& m,
                const std::string& file) {
    type_files_[prefix + m.name()] = file;
    for (const auto& nested : m.nested_type()) add_type(prefix + m.name() + ".", nested, file);
  }

  // FNV-1a over the file and, recursively, the keys of its imports.
  uint64_t file_key(const std::string& name, std::set<std::string>& seen) {
    auto cached = keys_.find(name);
    if (cached != keys_.end()) return cached->second;
    uint64_t h = 14695981039346656037ull;
    auto mix = [&h](const void* p, size_t n) {
      const auto* b = static_cast<const unsigned char*>(p);
      for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    };
    const std::string& bytes = files_[name];
    mix(bytes.data(), bytes.size());
    if (seen.insert(name).second) {
      for (const auto& dep : deps_[name]) {
        const uint64_t k = files_.count(dep) != 0 ? file_key(dep, seen) : 0;
        mix(&k, sizeof k);
      }
    }
    if (h == 0) h = 1;  // 0 means "unknown"
    keys_[name] = h;
    return h;
  }

  std::mutex mu_;
  std::map<std::string, std::string> files_;  // file name -> serialized FileDescriptorProto
  std::vector<std::string> order_;            // registration order (imports come first)
  std::map<std::string, std::vector<std::string>> deps_;
  std::map<std::string, std::string> type_files_;  // message type -> its file
  std::map<std::string, uint64_t> keys_;
  std::string merged_;
  size_t merged_size_ = static_cast<size_t>(-1);
};

// Registers one FileDescriptorSet at static initialization (generated code declares one).
struct SchemaRegistration {
  SchemaRegistration(const char* data, size_t size) { LocalSchemas::get().add(data, size); }
};

// The schema key of generated class `T` in this binary (cached: asked once per type).
template <class T>
uint64_t schema_key() {
  static const uint64_t key = LocalSchemas::get().key(T::default_instance().GetTypeName());
  return key;
}

// The full type name of generated class `T`.
template <class T>
const std::string& type_name() {
  static const std::string name = T::default_instance().GetTypeName();
  return name;
}

}  // namespace lemon

#endif  // LEMON_ACTORS_LOCAL_SCHEMAS_H_
