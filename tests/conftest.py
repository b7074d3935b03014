"""Shared fixtures: tiny Speech Commands folders built from synthetic WAV files.

Each word gets its own tone frequency so that a model can learn the task in a few steps; files
are real 16 kHz PCM16 WAVs written with soundfile, laid out like the real archives.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "bed", "cat"]


def tone(word: str, rng: np.random.Generator, sr: int = 16000, seconds: float = 1.0
         ) -> np.ndarray:
    """A class-specific tone with random phase, gain and a little noise."""
    i = WORDS.index(word) if word in WORDS else len(WORDS)
    t = np.arange(int(sr * seconds)) / sr
    f = 250.0 + 180.0 * i
    x = 0.3 * rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
    return (x + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_wav(path: Path, x: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def make_full_dataset(root: Path, per_word: int = 6, words: list[str] | None = None,
                      seed: int = 0) -> Path:
    """Full v0.02-style layout with validation/testing lists and background noise."""
    rng = np.random.default_rng(seed)
    words = words or WORDS
    val, test = [], []
    for w in words:
        for k in range(per_word):
            spk = f"{rng.integers(0, 2**32):08x}"
            rel = f"{w}/{spk}_nohash_{k}.wav"
            write_wav(root / rel, tone(w, rng))
            if k == 0:
                val.append(rel)
            elif k == 1:
                test.append(rel)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    write_wav(root / "_background_noise_" / "white.wav",
              (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32))
    return root


def make_test_archive(root: Path, per_word: int = 4, seed: int = 1,
                      with_lists: bool = False) -> Path:
    """Official 12-class test-archive layout (``_silence_``, ``_unknown_`` with .wav.wav)."""
    rng = np.random.default_rng(seed)
    rels = []
    for w in WORDS[:10]:
        for k in range(per_word):
            rel = f"{w}/{rng.integers(0, 2**32):08x}_nohash_{k}.wav"
            write_wav(root / rel, tone(w, rng))
            rels.append(rel)
    for k in range(per_word):
        rel = f"_unknown_/bed_{rng.integers(0, 2**32):08x}_nohash_{k}.wav.wav"
        write_wav(root / rel, tone("bed", rng))
        rels.append(rel)
        rel = f"_silence_/{k}.wav"
        write_wav(root / rel, (0.02 * rng.standard_normal(16000)).astype(np.float32))
        rels.append(rel)
    write_wav(root / "_background_noise_" / "pink.wav",
              (0.1 * rng.standard_normal(16000 * 2)).astype(np.float32))
    if with_lists:
        (root / "training_list.txt").write_text("\n".join(rels[::2]) + "\n")
        (root / "validation_list.txt").write_text("\n".join(rels[1::2]) + "\n")
    return root


#: devices that tests which train or evaluate run on: the CPU always, CUDA where present
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Each available device in turn (``cuda`` only where ``torch.cuda.is_available()``)."""
    return request.param


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (README's test command runs two workers) each worker gets its share
    of the cores for torch: two workers with two intra-op threads each on a 2-core machine
    spent their time contending (the dev-data parity tests ran 2.4x slower than alone)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never read or fill the user's feature cache (~/.cache/bifsmn)."""
    os.environ["BIFSMN_CACHE"] = str(tmp_path_factory.mktemp("bifsmn-cache"))


@pytest.fixture(scope="module", autouse=True)
def _restore_torch_threads():
    """Each test module starts with the process's torch thread count: a module that pins one
    thread (its fixtures, or an in-process trainer with ``train.threads=1``) no longer leaves
    every later module on one thread (the dev-data parity tests took 26-41 s each instead of
    16-23 s for it)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def full_ds(tmp_path: Path) -> Path:
    return make_full_dataset(tmp_path / "sc_full")


@pytest.fixture
def archive_ds(tmp_path: Path) -> Path:
    return make_test_archive(tmp_path / "sc_test", with_lists=True)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def band_image(word: str, rng: np.random.Generator) -> np.ndarray:
    """A 98 x 40 fbank40-like uint8 image: a word-specific bright band over a noise floor."""
    i = WORDS.index(word) if word in WORDS else len(WORDS)
    img = rng.normal(40, 6, (98, 40))
    img[20:78, (3 * i) % 38:(3 * i) % 38 + 3] += 120 * rng.uniform(0.7, 1.0)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def make_feature_archive(root: Path, per_word: int = 6, seed: int = 0,
                         unknown_words: tuple[str, ...] = ("bed", "cat"),
                         noise: int = 30) -> Path:
    """fbank40 image-archive layout: <word>/<spk>_nohash_<k>.<word>.jpg, unknown/, noise, lists.

    Speakers are split across the three lists (k == 0 validation, k == 1 testing)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    lists: dict[str, list[str]] = {"training": [], "validation": [], "testing": []}
    for w in [*WORDS[:10], *unknown_words]:
        folder = w if w in WORDS[:10] else "unknown"
        for k in range(per_word):
            spk = f"{rng.integers(0, 2**32):08x}"
            rel = f"{folder}/{spk}_nohash_0.{w}.jpg"
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(band_image(w, rng)).save(root / rel, quality=75)
            split = "validation" if k == 0 else "testing" if k == 1 else "training"
            lists[split].append(rel)
    (root / "_background_noise_").mkdir(parents=True, exist_ok=True)
    for k in range(noise):
        img = np.clip(rng.normal(30, 8, (98, 40)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / "_background_noise_" / f"noise_{k}.jpg", quality=75)
    for split, rels in lists.items():
        (root / f"{split}_list.txt").write_text("\n".join(rels) + "\n")
    return root


@pytest.fixture
def feature_archive(tmp_path: Path) -> Path:
    return make_feature_archive(tmp_path / "fbank40")
