// Placeholder for the Lemon node until the control-plane issue lands.
#include <cstdio>

int main() {
  std::puts("lemond: the Lemon node is not built yet; `bazel test //...` runs what exists.");
  return 0;
}
