"""cc_proto_library built with the system protoc (Bazel 4's proto_library would build protoc)."""

def repository_root(repo):
    """The directory of repository `repo` ("@name", or "@"/"" for the main one) in the execroot."""
    return "." if repo in ("", "@") else "external/" + repo.lstrip("@")

def lemon_cc_proto(name, srcs, deps = [], visibility = None):
    """Generates C++ for `srcs` (.proto files in this package) and wraps it in a cc_library.

    Args:
      name: the cc_library's name.
      srcs: .proto files of this package.
      deps: other lemon_cc_proto targets whose .proto files these import.
      visibility: of the cc_library.
    """
    hdrs = [s[:-len(".proto")] + ".pb.h" for s in srcs]
    ccs = [s[:-len(".proto")] + ".pb.cc" for s in srcs]

    # .proto files are named from their repository's root, also when Lemon is an external one.
    root = repository_root(native.repository_name())
    native.genrule(
        name = name + "_protoc",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = hdrs + ccs,
        cmd = "protoc -I%s -I/usr/include --cpp_out=$(GENDIR)/%s " % (root, root) +
              " ".join(["$(location %s)" % s for s in srcs]),
        message = "protoc " + " ".join(srcs),
    )
    native.filegroup(
        name = name + "_srcs",
        srcs = srcs,
        visibility = visibility,
    )
    native.cc_library(
        name = name,
        srcs = ccs,
        hdrs = hdrs,
        deps = deps + [Label("//third_party/protobuf")],
        visibility = visibility,
    )
