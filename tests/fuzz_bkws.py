"""Fuzz the .bkws loader through the Python API (atheris, or a built-in random mutator).

    python tests/fuzz_bkws.py [-atheris_runs=100000]   # atheris: pip install "bifsmn[train,fuzz]"
    python tests/fuzz_bkws.py --plain 100000           # no atheris: random mutations

Each input is a mutated valid file; most mutations get their header sizes and CRCs fixed
afterwards, so that they reach the record parser and the network builder rather than stopping at
the checksum. A loaded model is run on every path, on features and on audio. Only
:class:`BifsmnError` may come out; anything else, or a crash, is a bug. The C++ side has the same
harness with ASan/UBSan (cpp/fuzz/fuzz_driver.cc; docs/engine.md).
"""

from __future__ import annotations

import random
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.testing import make_checkpoint
from bifsmn.errors import BifsmnError, NonFiniteError


def seed_files(root: Path) -> list[bytes]:
    """Small valid files of every kind (small widths keep each run fast)."""
    out = []
    small = {"dim": 16, "hidden": 24, "frontend_channels": 4, "num_layers": 4, "num_classes": 3}
    for i, kind in enumerate(("bifsmnv2", "bifsmn_v1", "dfsmn_thinnable", "dfsmn_teacher")):
        ckpt = make_checkpoint(root / f"{kind}.pt", kind, seed=i, **small)
        out.append(export_checkpoint(ckpt, root / f"{kind}.bkws").read_bytes())
    return out


def fix_header(data: bytearray) -> None:
    if len(data) < 32:
        return
    struct.pack_into("<Q", data, 16, len(data) - 32)
    struct.pack_into("<I", data, 24, zlib.crc32(bytes(data[32:])))
    struct.pack_into("<I", data, 28, zlib.crc32(bytes(data[:28])))


def mutate(data: bytes, rng: random.Random) -> bytes:
    d = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not d:
            break
        op = rng.randrange(7)
        i = rng.randrange(len(d))
        if op == 0:
            d[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            d[i] = rng.randrange(256)
        elif op == 2:
            del d[rng.randrange(len(d) + 1):]
        elif op == 3:
            d[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 4:
            del d[i:i + rng.randint(1, 16)]
        elif op == 5 and len(d) >= 4:
            v = rng.choice([0, 1, 2, 3, 8, 64, 255, 256, 2**31 - 1, 2**31, 2**32 - 1])
            struct.pack_into("<I", d, rng.randrange(len(d) - 3), v)
        elif len(d) >= 4:
            v = rng.choice([0.0, -0.0, 1e30, -1e30, float("inf"), float("nan"), 3.0])
            struct.pack_into("<f", d, rng.randrange(len(d) - 3), v)
    if rng.random() < 0.9:
        fix_header(d)
    return bytes(d)


FEATS = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32) * 10 - 30
WAVE = np.sin(np.arange(3000) * 0.05).astype(np.float32)


def _finite_or_refused(eng: Engine, x: np.ndarray) -> None:
    """Property: a loaded file gives finite logits, or the call raises NonFiniteError."""
    try:
        out = eng.predict(x)
    except NonFiniteError:
        return
    if not np.isfinite(out).all():
        raise AssertionError("a loaded .bkws returned non-finite logits")


def exercise(data: bytes) -> bool:
    """Load and run; True if it loaded. BifsmnError is the only allowed failure (at load; at
    predict only NonFiniteError), and logits that come back are finite."""
    try:
        eng = Engine.from_bytes(data, "fuzz.bkws", kernel="portable")
    except BifsmnError:
        return False
    shape = (2, 1, *eng._feat_shape[1:])
    x = np.resize(FEATS, shape).astype(np.float32)
    for b in eng.paths:
        eng.set_blocks(b)
        _finite_or_refused(eng, x)
    _finite_or_refused(eng, WAVE)
    return True


def run_plain(runs: int, seed: int = 0) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        seeds = seed_files(Path(tmp))
    rng = random.Random(seed)
    loaded = 0
    for _ in range(runs):
        loaded += exercise(mutate(rng.choice(seeds), rng))
    return runs, loaded


def main() -> None:
    if "--plain" in sys.argv:
        runs = int(sys.argv[sys.argv.index("--plain") + 1])
        n, loaded = run_plain(runs)
        print(f"fuzz_bkws: {n} inputs, {loaded} loaded and ran, no crash, no unexpected error")
        return
    import atheris

    with tempfile.TemporaryDirectory() as tmp:
        seeds = seed_files(Path(tmp))

    def one(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        base = seeds[fdp.ConsumeIntInRange(0, len(seeds) - 1)]
        rng = random.Random(fdp.ConsumeInt(8))
        exercise(mutate(base, rng))

    atheris.Setup(sys.argv, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
