"""One build of a C++ build folder at a time, across processes.

Why: the suite runs on two pytest workers (README's test command), and three test modules build
into ``cpp/build-native`` or ``cpp/build-aarch64`` (``test_cpp_kernels`` through
``cpp/run_tests.sh``, ``test_ops_golden``, ``test_runner``). Two cmake runs in one folder at once
can leave it half-configured; ``cpp/run_tests.sh`` takes the same lock file (``flock``) for its
configure + build step.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def build_lock(build_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock ``<build_dir>.lock`` (the lock file of cpp/run_tests.sh)."""
    lock = build_dir.with_name(build_dir.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
