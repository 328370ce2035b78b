"""raw_module: one variant of raw_module.cc as a shared object (no -z defs: some are broken)."""

load("//tools:lemon_module.bzl", "LEMON_MODULE_COPTS")

def raw_module(name, defines = []):
    native.cc_binary(
        name = "lib" + name + ".so",
        srcs = ["raw_module.cc"],
        copts = LEMON_MODULE_COPTS,
        local_defines = defines,
        linkshared = True,
        deps = ["//core:module_abi"],
    )
