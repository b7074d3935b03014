"""The standalone C++ runner ``bifsmn-run``: native and aarch64 (cross-compiled, under qemu).

The runner is built by CMake (``pip install`` puts it next to the Python executable; otherwise
it is built here into cpp/build-native with the same settings as cpp/run_tests.sh). Its scores
must match the Python API on the same clip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cpp_build import build_runner as _build

from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.testing import make_checkpoint, synthetic_audio

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "src" / "bifsmn" / "models_data" / "bifsmnv2.bkws"  # the at-scale fbank40 model
CPP = REPO / "cpp"
pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")


@pytest.fixture(scope="module")
def native_runner() -> Path:
    installed = Path(sys.executable).parent / "bifsmn-run"
    return installed if installed.is_file() else _build("native")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runner")
    ckpt = make_checkpoint(root / "m.pt", "bifsmnv2", seed=4)
    return export_checkpoint(ckpt, root / "m.bkws")


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BIFSMN_KERNEL"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def _scores(out: str) -> tuple[str, np.ndarray]:
    top = re.search(r"^top: (\S+)", out, re.M).group(1)
    logits = [float(m.group(1)) for m in re.finditer(r"^\d+\s+\S+\s+(-?[\d.]+)\s+[\d.]+$", out,
                                                     re.M)]
    return top, np.array(logits)


def _python_logits(model: Path, wav: Path, blocks: int = 8) -> np.ndarray:
    data, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    return Engine(model, blocks=blocks).predict(data.mean(axis=1))


def test_runner_native(native_runner, model, tmp_path) -> None:
    audio = synthetic_audio(2, seed=5)
    mono = tmp_path / "mono.wav"
    sf.write(str(mono), audio[0], 16000, subtype="PCM_16")
    stereo = tmp_path / "stereo.wav"
    sf.write(str(stereo), audio.T, 16000, subtype="FLOAT")
    eng = Engine(model)
    for wav in (mono, stereo):
        for blocks in (8, 2):
            proc = _run([str(native_runner), "--blocks", str(blocks), str(model), str(wav)])
            assert proc.returncode == 0, proc.stderr
            top, logits = _scores(proc.stdout)
            ref = _python_logits(model, wav, blocks)
            assert logits.shape == (12,)
            np.testing.assert_allclose(logits, ref, atol=2e-4)
            assert top == eng.labels[int(ref.argmax())]
    assert "downmixed" in _run([str(native_runner), str(model), str(stereo)]).stdout
    assert "note:" not in _run([str(native_runner), str(model), str(mono)]).stdout
    # a longer recording: its first second is classified (as Engine.predict cuts it), and the
    # runner says so instead of implying it looked at all of it
    long = tmp_path / "long.wav"
    sf.write(str(long), np.concatenate([audio[1], audio[0], audio[0]]), 16000, subtype="FLOAT")
    proc = _run([str(native_runner), str(model), str(long)])
    assert proc.returncode == 0 and "note: only the first 1.000 s were classified" in proc.stdout
    np.testing.assert_allclose(_scores(proc.stdout)[1], _python_logits(model, long), atol=2e-4)


def test_runner_errors(native_runner, model, tmp_path) -> None:
    wav8k = tmp_path / "8k.wav"
    sf.write(str(wav8k), np.zeros(8000, np.float32), 8000, subtype="PCM_16")
    proc = _run([str(native_runner), str(model), str(wav8k)])
    assert proc.returncode == 2 and "sample rate 8000 Hz" in proc.stderr
    bad = tmp_path / "bad.bkws"
    bad.write_bytes(model.read_bytes()[:500])
    proc = _run([str(native_runner), str(bad), str(wav8k)])
    assert proc.returncode == 2 and f"{bad}: not a valid .bkws file" in proc.stderr
    pcm24 = tmp_path / "24.wav"
    sf.write(str(pcm24), np.zeros(16000, np.float32), 16000, subtype="PCM_24")
    proc = _run([str(native_runner), str(model), str(pcm24)])
    assert proc.returncode == 2 and "unsupported sample format" in proc.stderr
    assert _run([str(native_runner)]).returncode == 2
    for bad_blocks in ("x", "8x", "0", "", "2.5", "99999999999"):  # never another path
        proc = _run([str(native_runner), "--blocks", bad_blocks, str(model), str(pcm24)])
        assert proc.returncode == 2 and proc.stdout == "", (bad_blocks, proc.stdout)
        assert proc.stderr.strip() == (f"bifsmn-run: error: --blocks {bad_blocks}: want a "
                                       "block count the file exports (e.g. 8, 4, 2, 1)"), \
            proc.stderr
    # --name=value as in the Python CLI; a wrong command line says what is wrong, then usage
    proc = _run([str(native_runner), "--blocks=1", str(model), str(wav8k)])
    assert proc.returncode == 2 and "sample rate 8000 Hz" in proc.stderr  # got past the flags
    for argv, why in ((["-x"], "unknown option -x"), (["--kernel"], "--kernel needs a value"),
                      ([str(model), str(wav8k), "extra"], "one model and one clip, got 3")):
        proc = _run([str(native_runner), *argv])
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and why in lines[0] and lines[1].startswith("usage:"), lines
    proc = _run([str(native_runner), "--help"])
    assert proc.returncode == 0 and "--kernel NAME" in proc.stdout and "avx512" in proc.stdout
    # a misspelt BIFSMN_ISA is an error with a kernel named too (it was ignored then)
    env = {**os.environ, "BIFSMN_ISA": "avx-512"}
    env.pop("BIFSMN_KERNEL", None)
    proc = subprocess.run([str(native_runner), "--kernel", "portable", str(model), str(wav8k)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2 and "BIFSMN_ISA=avx-512: unknown instruction set" in proc.stderr


def test_runner_reads_one_clip_of_a_long_recording_and_pipes(native_runner, model,
                                                             tmp_path) -> None:
    """Only the first clip of a recording is read (a 4 GiB file took 3 GB and then bad_alloc):
    damage after it is never seen, the length comes from the header; a FIFO is read as a
    stream (it was refused as "not a regular file")."""
    import threading

    audio = synthetic_audio(1, seed=4)[0]
    rest = np.zeros(16000 * 59, np.float32)
    rest[5] = np.nan  # never read
    long = tmp_path / "long.wav"
    sf.write(str(long), np.concatenate([audio, rest]), 16000, subtype="FLOAT")
    first = tmp_path / "first.wav"
    sf.write(str(first), audio, 16000, subtype="FLOAT")
    proc = _run([str(native_runner), str(model), str(long)])
    assert proc.returncode == 0, proc.stderr
    assert "60.000 s of audio" in proc.stdout and "note: only the first 1.000 s" in proc.stdout
    top, logits = _scores(proc.stdout)
    top1, logits1 = _scores(_run([str(native_runner), str(model), str(first)]).stdout)
    assert top == top1 and np.array_equal(logits, logits1)
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    data = long.read_bytes()

    def write() -> None:
        try:
            with open(fifo, "wb") as f:
                f.write(data)
        except BrokenPipeError:  # the runner stops reading after its clip
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    piped = _run([str(native_runner), str(model), str(fifo)])
    writer.join(30)
    assert piped.returncode == 0, piped.stderr
    assert np.array_equal(_scores(piped.stdout)[1], logits) and "60.000 s" in piped.stdout


@pytest.mark.slow
def test_runner_aarch64_qemu(native_runner, model, tmp_path) -> None:
    for tool in ("aarch64-linux-gnu-g++", "qemu-aarch64-static"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (run cpp/install_cross_tools.sh)")
    runner = _build("aarch64")
    wav = tmp_path / "clip.wav"
    sf.write(str(wav), synthetic_audio(1, seed=6)[0], 16000, subtype="PCM_16")
    proc = _run(["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", str(runner), str(model),
                 str(wav)])
    assert proc.returncode == 0, proc.stderr
    assert "kernel neon" in proc.stdout
    top, logits = _scores(proc.stdout)
    native_top, native_logits = _scores(_run([str(native_runner), str(model), str(wav)]).stdout)
    assert top == native_top
    np.testing.assert_allclose(logits, native_logits, atol=2e-4)


def test_runner_refuses_bad_inputs(native_runner, model, tmp_path) -> None:
    """Directories, absurd float samples and NaN/inf logits: exit 2, one line naming the
    culprit, never a printed prediction."""
    from bifsmn.engine.format import encode, make_record, read_file

    ok = tmp_path / "ok.wav"
    sf.write(str(ok), synthetic_audio(1, seed=2)[0], 16000, subtype="FLOAT")
    for args, culprit in (([str(model), str(tmp_path)], str(tmp_path)),
                          ([str(tmp_path), str(ok)], str(tmp_path))):
        proc = _run([str(native_runner), *args])
        assert proc.returncode == 2 and culprit in proc.stderr, proc.stderr
        assert "not a regular file" in proc.stderr and "underflow" not in proc.stderr
    loud = synthetic_audio(1, seed=2)[0]
    loud[7] = 1e20  # one corrupted exponent byte
    bad_wav = tmp_path / "loud.wav"
    sf.write(str(bad_wav), loud, 16000, subtype="FLOAT")
    proc = _run([str(native_runner), str(model), str(bad_wav)])
    assert proc.returncode == 2 and f"{bad_wav}: float sample of magnitude" in proc.stderr
    assert "top:" not in proc.stdout
    recs = read_file(model)  # huge finite weights, CRCs recomputed: loads, logits overflow
    w = recs["classifier.w"].array().astype(np.float64)
    recs["classifier.w"] = make_record("classifier.w", np.full_like(w, 3e38), "f32")
    tampered = tmp_path / "tampered.bkws"
    tampered.write_bytes(encode(list(recs.values())))
    proc = _run([str(native_runner), str(tampered), str(ok)])
    assert proc.returncode == 2, proc.stdout
    assert "non-finite logits" in proc.stderr and str(ok) in proc.stderr
    assert str(tampered) in proc.stderr and "top:" not in proc.stdout
    assert proc.stderr.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["aarch64", "armhf", "armhf-clang", "clang"])
def test_runner_logits_bit_identical_across_builds(native_runner, model, tmp_path,
                                                   variant) -> None:
    """The whole engine built for aarch64 (NEON kernel, under qemu), for 32-bit ARM (armhf: its
    NEON kernel, the scalar fallbacks of the other ops, 4-byte long and size_t, under qemu; with
    GCC and, armhf-clang, with clang++), and built with clang++ for x86-64 (the compiler of macOS:
    no per-function ISA clones), gives bit-identical logits to the default x86-64 build on
    generated clips, 8 and 1 blocks of a random model and of the bundled at-scale model (fbank40
    front end) and every path of the trained dev model: C++ front ends, every float stage
    (`--exact` prints the logits' bits as %a)."""
    cross = {"aarch64": ("aarch64-linux-gnu-g++", "qemu-aarch64-static", "/usr/aarch64-linux-gnu"),
             "armhf": ("arm-linux-gnueabihf-g++", "qemu-arm-static", "/usr/arm-linux-gnueabihf")}
    cross["armhf-clang"] = cross["armhf"]
    tools = cross[variant][:2] if variant in cross else ()
    if "clang" in variant:
        tools = (*tools, "clang++")
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (run cpp/install_cross_tools.sh)")
    runner = _build(variant)
    native = _build("native")  # same sources as the other build (the installed one may be older)
    prefix = [cross[variant][1], "-L", cross[variant][2]] if variant in cross else []
    models = [(model, (8, 1)), (BUNDLED, (8, 1))]
    trained = REPO / "models" / "bifsmnv2_a01_sc12dev.pt"
    if trained.is_file():
        models.append((export_checkpoint(trained, tmp_path / "trained.bkws"), (8, 4, 2, 1)))
    audio = np.concatenate([synthetic_audio(3, seed=11), np.zeros((1, 16000), np.float32)])
    wavs = []
    for i, clip in enumerate(audio):
        wavs.append(tmp_path / f"clip{i}.wav")
        sf.write(str(wavs[-1]), clip, 16000, subtype="FLOAT")
    compared = 0
    for bkws, paths in models:
        for blocks in paths:
            for wav in wavs:
                args = ["--exact", "--blocks", str(blocks), str(bkws), str(wav)]
                other = _run([*prefix, str(runner), *args])
                x86 = _run([str(native), *args])
                assert other.returncode == 0 and x86.returncode == 0, other.stderr + x86.stderr
                if variant == "aarch64":
                    assert "kernel neon" in other.stdout and "kernel neon" not in x86.stdout
                if variant.startswith("armhf"):
                    assert "kernel neon" in other.stdout
                exact_other = re.search(r"^exact: (.*)$", other.stdout, re.M).group(1)
                exact_x86 = re.search(r"^exact: (.*)$", x86.stdout, re.M).group(1)
                assert exact_other == exact_x86, (variant, bkws.name, blocks, wav.name)
                compared += 1
    assert compared >= 16
