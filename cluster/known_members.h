// The members a cluster node has seen since it started, live or not: a member that goes down
// stays known, so that a cluster reload names it (as unreachable) instead of forgetting it.
// Plain data; the node guards it with its own mutex.
//
//   KnownMembers known;
//   known.joined("c", "127.0.0.1:4372");
//   std::vector<KnownMember> gone = known.down({"a", "b"});   // c, with its last address
#ifndef LEMON_CLUSTER_KNOWN_MEMBERS_H_
#define LEMON_CLUSTER_KNOWN_MEMBERS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

namespace lemon {

struct KnownMember {
  std::string name;
  std::string address;  // where its agent was published when it last joined; "" if nowhere
};

class KnownMembers {
 public:
  // `name` joined (again) from `address`: known from now on, at that address.
  void joined(const std::string& name, const std::string& address);
  // The known members whose names are not in `live`, by name.
  std::vector<KnownMember> down(const std::set<std::string>& live) const;
  // Every known member, by name.
  std::vector<KnownMember> all() const;

 private:
  std::map<std::string, std::string> address_;  // name -> address
};

}  // namespace lemon

#endif  // LEMON_CLUSTER_KNOWN_MEMBERS_H_
