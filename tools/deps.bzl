"""Named groups of deps that many targets list together, one name per meaning.

    load("//tools:deps.bzl", "RELOAD_ERROR_DEPS")

    cc_library(
        name = "fs",
        ...
        deps = RELOAD_ERROR_DEPS + [":other"],
    )

A target takes a group only when its own files include every header the group provides.
tools/check_deps.sh reads the expanded lists (bazel query), so it checks grouped deps like others.
"""

# Code whose errors are absl::Status values carrying a lemon::ReloadError (core/reload_error.h),
# with messages built by absl::StrCat and friends.
RELOAD_ERROR_DEPS = [
    "//core:reload_error",
    "//third_party/absl:status",
    "//third_party/absl:strings",
]
