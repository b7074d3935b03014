"""Build and test the C++ kernel core (cpp/) in its six variants.

Each test runs `cpp/run_tests.sh <variant>`, which configures, builds into
cpp/build-<variant>/ and runs the C++ tests (every optimized kernel against
the bit-by-bit reference). The aarch64 and armhf (32-bit ARM, GCC and clang++)
variants cross-compile and run under qemu, the clang variant builds with clang++;
each is skipped, with the script's reason, when its tools are missing
(cpp/install_cross_tools.sh installs them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "cpp" / "run_tests.sh"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed"),
]


def _run(variant: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BIFSMN_KERNEL"}
    env.setdefault("BIFSMN_JOBS", "2")
    # The suite keeps to its 15-minute budget on 2 cores: 20,000 mutated inputs per fuzzer here;
    # `cpp/run_tests.sh asan` alone runs its default 100,000 each (README, "Reliability").
    env.setdefault("BIFSMN_FUZZ_RUNS", "20000")
    env.setdefault("BIFSMN_FUZZ_WAV_RUNS", "20000")
    return subprocess.run(
        ["bash", str(SCRIPT), variant],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,  # asan: build + the two fuzzers
    )


def _check(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"run_tests.sh failed (rc={proc.returncode}):\n{out[-6000:]}"
    assert "test_kernels: " in out and " 0 failed" in out, out[-6000:]
    # every C++ test binary's summary line, not only the script's exit status (session 67 found
    # the cross variants exiting 0 after a failing test: set -e was off inside an || list)
    failed = re.findall(r"^(test_\w+: \d+ passed, [1-9]\d* failed)$", out, re.M)
    assert not failed, failed
    assert "test_ops: " in out and "test_ops: 0 passed" not in out, out[-6000:]
    return out


def test_cpp_native() -> None:
    out = _check(_run("native"))
    assert "[PASS] binary 600 random shapes vs reference" in out
    assert "[PASS] conv2 binary: optimized == reference bit for bit" in out


def test_cpp_asan_ubsan() -> None:
    out = _check(_run("asan"))
    assert "AddressSanitizer" not in out and "runtime error" not in out, out[-6000:]


def _run_or_skip(variant: str) -> str:
    """run_tests.sh VARIANT's checked output; the test is skipped with the script's reason
    where it printed "SKIP: ..." (its tools missing), and fails instead under
    ``BIFSMN_REQUIRE_CROSS=1`` (set by ``.ci/run`` once the tools installed, so a skip there
    means the tools are broken, not absent)."""
    proc = _run(variant)
    out = proc.stdout + proc.stderr
    for line in out.splitlines():
        if line.startswith("SKIP:"):
            assert proc.returncode == 0, out[-6000:]
            reason = line.removeprefix("SKIP:").strip()
            if os.environ.get("BIFSMN_REQUIRE_CROSS") == "1":
                pytest.fail(f"BIFSMN_REQUIRE_CROSS=1 but run_tests.sh {variant} skipped: {reason}")
            pytest.skip(reason)
    return _check(proc)


def test_cpp_clang() -> None:
    """The engine and its tests built with clang++ (macOS's compiler), -Werror, all passing."""
    out = _run_or_skip("clang")
    assert "[PASS] binary 600 random shapes vs reference" in out, out[-6000:]


def test_cpp_aarch64_qemu() -> None:
    out = _run_or_skip("aarch64")
    assert "active kernel neon" in out, out[-6000:]


def test_cpp_armhf_qemu() -> None:
    """32-bit ARM (armhf: 4-byte long and size_t): the engine builds with -Werror and its three
    tests pass under qemu-arm on the NEON kernel (runtime-detected there), and test_kernels on a
    CPU without NEON picks the portable kernel."""
    _check_armhf(_run_or_skip("armhf"))


def _check_armhf(out: str) -> None:
    assert "test_kernels: seed" in out and "test_engine:" in out and "test_ops:" in out, out[-6000:]
    picks = re.findall(r"^test_kernels: seed \d+, active kernel (\w+), available: (.*)$", out, re.M)
    assert picks == [("neon", "neon portable reference"), ("portable", "portable reference")], picks
    assert len(re.findall(r"^test_kernels: \d+ passed, 0 failed$", out, re.M)) == 2, out[-6000:]
    assert re.search(r"^test_engine: \d+ passed, 0 failed$", out, re.M), out[-6000:]
    assert re.search(r"^test_ops: \d+ passed, 0 failed$", out, re.M), out[-6000:]


def test_cpp_armhf_clang_qemu() -> None:
    """32-bit ARM built with clang++, whose arm_neon.h needs a file built for NEON: CMakeLists.txt
    compiles the NEON kernel's file alone with -mfpu=neon, so the kernel is there (picked where
    qemu's CPU has NEON, not on cortex-r5f) and the rest of the build stays without NEON."""
    _check_armhf(_run_or_skip("armhf-clang"))


def test_clang_arm32_whole_build_neon_refused(tmp_path) -> None:
    """clang with -mfpu=neon for every file on 32-bit ARM vectorizes float comparisons with NEON,
    which flushes subnormals to zero (test_kernels' "pack float edge cases" and two binarizer
    tests failed so): bitpack.cc and quant.h refuse such a build with one #error line."""
    if shutil.which("clang++") is None:
        pytest.skip("clang++ not installed")
    base = ["clang++", "--target=arm-linux-gnueabihf", "-march=armv7-a", "-mfloat-abi=hard",
            "-std=c++17", f"-I{REPO / 'cpp' / 'include'}", f"-I{REPO / 'cpp' / 'src'}",
            "-fsyntax-only"]
    src = tmp_path / "uses_quant.cc"
    src.write_text('#include "ops/binarize/quant.h"\nint main() { return 0; }\n')
    for file in (REPO / "cpp" / "src" / "bitpack.cc", src):
        vfp = subprocess.run([*base, "-mfpu=vfpv3-d16", str(file)], capture_output=True,
                             text=True)
        if "file not found" in vfp.stderr:
            pytest.skip("no 32-bit ARM headers for clang (g++-arm-linux-gnueabihf)")
        assert vfp.returncode == 0, vfp.stderr[-2000:]
        neon = subprocess.run([*base, "-mfpu=neon", str(file)], capture_output=True, text=True)
        assert neon.returncode != 0, file
        assert "flushes subnormals to zero" in neon.stderr, neon.stderr[-2000:]
