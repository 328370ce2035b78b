"""cc_test_and_full_fences_test: a C++ test, run as is and with full fences on both sides.

LEMON_FULL_FENCES=1 makes actors/asymmetric_fence.h use full fences on both sides, as a kernel
without membarrier gets; the tests of code that relies on those fences run both ways.

    cc_test_and_full_fences_test(
        name = "reload_manager_test",   # and :reload_manager_full_fences_test, with the variable
        srcs = [...],                   # and any other cc_test attribute but env
        deps = [...],
    )
"""

def cc_test_and_full_fences_test(name, **kwargs):
    """Declares cc_test :<name> (<stem>_test) and :<stem>_full_fences_test."""
    if not name.endswith("_test"):
        fail("the test's name must end with _test: " + name)
    native.cc_test(name = name, **kwargs)
    native.cc_test(
        name = name[:-len("_test")] + "_full_fences_test",
        env = {"LEMON_FULL_FENCES": "1"},
        **kwargs
    )
