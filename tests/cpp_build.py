"""One build of a C++ build folder at a time, across processes.

Why: the suite runs on two pytest workers (README's test command), and three test modules build
into ``cpp/build-native`` or ``cpp/build-aarch64`` (``test_cpp_kernels`` through
``cpp/run_tests.sh``, ``test_ops_golden``, ``test_runner``). Two cmake runs in one folder at once
can leave it half-configured; ``cpp/run_tests.sh`` takes the same lock file (``flock``) for its
configure + build step.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CPP = Path(__file__).resolve().parents[1] / "cpp"


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


def build_runner(variant: str) -> Path:
    """``cpp/build-VARIANT/bifsmn-run`` (and the libraries it links), configured as
    cpp/run_tests.sh configures that variant (Release, -Werror) where the folder is new."""
    build = CPP / f"build-{variant}"
    args = ["cmake", "-S", str(CPP), "-B", str(build), "-DBIFSMN_WERROR=ON",
            "-DCMAKE_BUILD_TYPE=Release"]
    if shutil.which("ninja"):
        args += ["-G", "Ninja"]
    toolchains = {"aarch64": "aarch64-linux-gnu.cmake", "armhf": "arm-linux-gnueabihf.cmake",
                  "armhf-clang": "arm-linux-gnueabihf-clang.cmake"}
    if variant in toolchains:
        args.append(f"-DCMAKE_TOOLCHAIN_FILE={CPP / 'cmake' / toolchains[variant]}")
    if variant == "clang":
        args.append("-DCMAKE_CXX_COMPILER=clang++")
    jobs = os.environ.get("BIFSMN_JOBS", "2")
    with build_lock(build):
        if not (build / "CMakeCache.txt").is_file():
            subprocess.run(args, check=True, capture_output=True, text=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "bifsmn-run", "-j", jobs],
                       check=True, capture_output=True, text=True, timeout=900)
    return build / "bifsmn-run"
