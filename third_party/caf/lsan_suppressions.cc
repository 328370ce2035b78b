// LeakSanitizer suppressions for CAF 0.17.6's networking (libcaf_io), linked into every program
// that uses caf::io (through //third_party/caf:io). Only read by LeakSanitizer builds
// (--config=asan); elsewhere the function is never called.
//
// What is suppressed: at actor_system shutdown, CAF 0.17.6's BASP broker can leave a reference
// cycle behind. The broker keeps a helper actor per peer node in `spawn_servers`; that helper
// monitors the peer's config server through a proxy, and the proxy holds the broker. When the
// helper's exit message races the scheduler's shutdown, nothing breaks the cycle and the broker,
// the helper, their maps and one queued message stay allocated until the process exits (a few
// kilobytes, all allocated in libcaf_io or by objects libcaf_io created). It is CAF's code, it
// happens at most once per process, at exit, and it does not grow.
//
// A suppressed leak also hides what it alone keeps alive (LeakSanitizer counts memory reachable
// from a suppressed block as suppressed), so only allocations made inside libcaf_io are named:
// a leak whose allocation does not pass through libcaf_io, such as a handle to a CAF proxy
// leaked by our own code, is still reported.
extern "C" const char* __lsan_default_suppressions() {  // NOLINT: LeakSanitizer's interface
  return "leak:libcaf_io.so\n";
}

// A matched suppression would otherwise print a summary at exit, into the stderr of tools whose
// callers may read their output as JSON.
extern "C" const char* __lsan_default_options() {  // NOLINT: LeakSanitizer's interface
  return "print_suppressions=0";
}
