"""The C++ engine built by GCC at -O0, as a project embedding it by ``add_subdirectory`` builds it
in its Debug configuration (``cpp/run_tests.sh debug``).

A module of its own so that the suite's two workers (pytest-xdist, one module per worker) can run
it beside ``test_cpp_kernels``' long variants instead of after them.
"""

from __future__ import annotations

import re

from test_cpp_kernels import _run


def test_cpp_debug_build() -> None:
    """The engine built by GCC at -O0 (an embedding project's Debug build), -Werror: the same
    tests pass. Until session 71 the front ends' frame gathers handed vectors by value to
    lambdas compiled without the AVX target, and at -O0 those calls changed the values."""
    proc = _run("debug")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"run_tests.sh debug failed (rc={proc.returncode}):\n{out[-6000:]}"
    assert not re.findall(r"^(test_\w+: \d+ passed, [1-9]\d* failed)$", out, re.M), out[-6000:]
    assert re.search(r"^test_ops: \d+ passed, 0 failed$", out, re.M), out[-6000:]
    assert re.search(r"^test_engine: \d+ passed, 0 failed$", out, re.M), out[-6000:]
