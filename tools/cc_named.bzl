"""C++ libraries named after their files, by one convention.

    cc_library_and_test(
        name = "fs",           # :fs from fs.cc and fs.h; :fs_test from fs_test.cc
        deps = [...],          # the library's
        test_deps = [...],     # the test's, besides :fs and gtest_main
        test_size = "small",   # optional, as are test_data and visibility (of the library)
    )

    cc_library_named(
        name = "methods",      # :methods from methods.cc and methods.h, with no test beside it
        deps = [...],          # optional, as is visibility
    )

    cc_header_library(
        name = "pack",         # :pack from pack.h alone
        deps = [...],          # optional, as are visibility and testonly
    )

A library with more sources, build options or run-time data than that is declared with
cc_library (and cc_test) directly.
"""

def cc_library_named(name, deps = [], visibility = None):
    """Declares :<name> (<name>.cc, <name>.h)."""
    native.cc_library(
        name = name,
        srcs = [name + ".cc"],
        hdrs = [name + ".h"],
        visibility = visibility,
        deps = deps,
    )

def cc_header_library(name, deps = [], visibility = None, testonly = None):
    """Declares :<name> (<name>.h, header-only)."""
    native.cc_library(
        name = name,
        testonly = testonly,
        hdrs = [name + ".h"],
        visibility = visibility,
        deps = deps,
    )

def cc_library_and_test(
        name,
        deps = [],
        visibility = None,
        test_deps = [],
        test_data = [],
        test_size = None):
    """Declares :<name> (<name>.cc, <name>.h) and :<name>_test (<name>_test.cc)."""
    cc_library_named(name = name, deps = deps, visibility = visibility)
    native.cc_test(
        name = name + "_test",
        size = test_size,
        srcs = [name + "_test.cc"],
        data = test_data,
        deps = [
            ":" + name,
            "//third_party/gtest:gtest_main",
        ] + test_deps,
    )
