// LEMON_GLIBC_HEAP: 1 when glibc's malloc owns this process's heap, 0 under a sanitizer (whose
// allocator replaces it) or without glibc. What tunes or trims glibc's heap does nothing else.
#ifndef LEMON_CORE_GLIBC_HEAP_H_
#define LEMON_CORE_GLIBC_HEAP_H_

#include <cstdlib>  // defines __GLIBC__ with glibc

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LEMON_GLIBC_HEAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define LEMON_GLIBC_HEAP 0
#endif
#endif
#if !defined(LEMON_GLIBC_HEAP) && defined(__GLIBC__)
#define LEMON_GLIBC_HEAP 1
#endif
#if !defined(LEMON_GLIBC_HEAP)
#define LEMON_GLIBC_HEAP 0
#endif

#endif  // LEMON_CORE_GLIBC_HEAP_H_
