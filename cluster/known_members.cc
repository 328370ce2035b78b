#include "cluster/known_members.h"

namespace lemon {

void KnownMembers::joined(const std::string& name, const std::string& address) {
  address_[name] = address;
}

std::vector<KnownMember> KnownMembers::down(const std::set<std::string>& live) const {
  std::vector<KnownMember> out;
  for (const auto& [name, address] : address_) {
    if (live.count(name) == 0) out.push_back({name, address});
  }
  return out;
}

std::vector<KnownMember> KnownMembers::all() const { return down({}); }

}  // namespace lemon
