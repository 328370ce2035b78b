"""lemon_module: builds a Lemon module (a shared object loaded by the code server)."""

# The flags every module is built with; core/extension_compiler uses the same list at run time
# (recorded by //core:build_flags). -fvisibility=hidden and -fno-gnu-unique let dlclose unmap it.
LEMON_MODULE_COPTS = [
    "-fPIC",
    "-fvisibility=hidden",
    "-fvisibility-inlines-hidden",
    "-fno-gnu-unique",
]

def lemon_module(name, srcs, deps = [], copts = [], defines = [], visibility = None, **kwargs):
    """A shared object `lib<name>.so` exporting one Lemon module descriptor.

    The module links CAF's shared library itself and never resolves symbols against the host.
    """
    native.cc_binary(
        name = "lib" + name + ".so",
        srcs = srcs,
        copts = LEMON_MODULE_COPTS + copts,
        local_defines = defines,
        linkshared = True,
        linkopts = [
            "-Wl,-z,defs",
            "-Wl,--version-script=$(location //tools:lemon_module.lds)",
        ],
        additional_linker_inputs = ["//tools:lemon_module.lds"],
        deps = deps + ["//actors:messages", "//actors:module", "//third_party/caf:core"],
        visibility = visibility,
        **kwargs
    )
