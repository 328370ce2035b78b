// lemonctl: the command-line client of a Lemon node's control plane. See docs/control-plane.md.
#include <iostream>
#include <string>
#include <vector>

#include "control_plane/lemonctl_cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return lemon::run_lemonctl(args, std::cout, std::cerr);
}
