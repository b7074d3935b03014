"""``bifsmn detect``: output formats, bad audio, bad model files, the microphone path."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import write_wav
from test_detect_support import SR, tiny_checkpoint, tone_stream

from bifsmn.cli import main
from bifsmn.detect.cli import parse_threshold_for
from bifsmn.errors import BifsmnError


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.set_num_threads(1)
    return str(tiny_checkpoint(tmp_path_factory.mktemp("ckpt")))


def run(args: list[str], capsys) -> tuple[int, str, str]:
    rc = main(args)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def one_error_line(err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.startswith("bifsmn: error:")]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]
    assert "Traceback" not in err


def test_text_and_json_output(ckpt, tmp_path, capsys):
    wav = write_wav(tmp_path / "two.wav", tone_stream([("yes", 0.5), ("down", 3.0)], 4.5))
    base = ["detect", str(wav), "--model", ckpt, "--threshold", "0.6", "--refractory-ms", "2000"]
    rc, out, err = run(base, capsys)
    assert rc == 0
    rows = [ln.split("\t") for ln in out.splitlines()]
    assert [r[2] for r in rows] == ["yes", "down"] and all(r[0] == str(wav) for r in rows)
    assert "2 events in 1 file" in err
    rc, out, _ = run(base + ["--json"], capsys)
    events = [json.loads(ln) for ln in out.splitlines()]
    assert [e["label"] for e in events] == ["yes", "down"]
    assert set(events[0]) == {"file", "label", "start", "end", "score"}
    assert events[0]["start"] < 1.5 < events[0]["end"] + 0.5 and events[0]["score"] >= 0.6
    # per-keyword threshold silences "down"; other options parse
    rc, out, _ = run(base + ["--threshold-for", "down=1.0", "--hop-ms", "50", "--smooth-ms",
                             "300", "--blocks", "8", "--json"], capsys)
    # (only what the options decide is asserted: the tiny model's other scores sit near the
    # threshold and move with the torch build and CPU it was trained on)
    labels = [json.loads(ln)["label"] for ln in out.splitlines()]
    assert "yes" in labels and "down" not in labels


def test_silence_clipped_and_short_files(ckpt, tmp_path, capsys):
    silent = write_wav(tmp_path / "silent.wav", np.zeros(3 * SR, np.float32))
    rc, out, err = run(["detect", str(silent), "--model", ckpt], capsys)
    assert rc == 0 and out == "" and "0 events" in err
    loud = np.clip(tone_stream([("stop", 0.5)], 2.5) * 8, -1, 1)  # heavily clipped
    clipped = write_wav(tmp_path / "clipped.wav", loud)
    rc, out, err = run(["detect", str(clipped), "--model", ckpt, "--json"], capsys)
    assert rc == 0 and err == ""
    short = write_wav(tmp_path / "short.wav", tone_stream([("go", 0.1)], 0.6))  # < 1 s
    rc, out, _ = run(["detect", str(short), "--model", ckpt, "--json", "--threshold", "0.3"],
                     capsys)
    assert rc == 0
    assert [json.loads(ln)["label"] for ln in out.splitlines()] == ["go"]
    tiny = write_wav(tmp_path / "tiny.wav", np.zeros(10, np.float32))  # one zero-padded window
    assert run(["detect", str(tiny), "--model", ckpt], capsys)[0] == 0


def test_corrupt_and_empty_audio(ckpt, tmp_path, capsys):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    rc, _, err = run(["detect", str(empty), "--model", ckpt], capsys)
    assert rc == 2
    one_error_line(err, str(empty), "empty")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 50)
    rc, _, err = run(["detect", str(junk), "--model", ckpt], capsys)
    assert rc == 2
    one_error_line(err, str(junk), "not a readable audio file")
    good = write_wav(tmp_path / "ok.wav", tone_stream([], 1.0))
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(good.read_bytes()[:2000])
    noframes = tmp_path / "noframes.wav"
    sf.write(noframes, np.zeros(0, np.float32), SR)
    # several files: bad ones are reported one line each, good ones still processed
    rc, _, err = run(["detect", str(truncated), str(good), str(noframes), str(tmp_path / "no"),
                      "--model", ckpt], capsys)
    assert rc == 2
    errs = [ln for ln in err.splitlines() if ln.startswith("bifsmn: error:")]
    assert len(errs) == 3 and "truncated" in errs[0] and "no samples" in errs[1]
    assert "no such audio file" in errs[2] and "0 events in 1 file" in err
    # each line names its file
    for line, path in zip(errs, (truncated, noframes, tmp_path / "no"), strict=True):
        assert str(path) in line, line


def test_a_folder_is_the_audio_files_below_it(tmp_path, ckpt, capsys):
    audio = tone_stream([("yes", 0.5)], 2.0, seed=3)
    write_wav(tmp_path / "in" / "b.wav", audio)
    write_wav(tmp_path / "in" / "sub" / "a.wav", audio)
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    (tmp_path / "none").mkdir()
    rc, out, err = run(["detect", str(tmp_path / "in"), str(tmp_path / "none"), "--model", ckpt,
                        "--threshold", "0.5", "--json"], capsys)
    files = [json.loads(ln)["file"] for ln in out.splitlines()]
    # every audio file below the folder, in sorted order, each scored as if named alone
    assert sorted(set(files), key=files.index) == [str(tmp_path / "in" / "b.wav"),
                                                   str(tmp_path / "in" / "sub" / "a.wav")]
    _, alone, _ = run(["detect", str(tmp_path / "in" / "b.wav"), "--model", ckpt,
                       "--threshold", "0.5", "--json"], capsys)
    assert [ln for ln in out.splitlines() if "b.wav" in ln] == alone.splitlines()
    assert rc == 2  # the empty folder
    one_error_line(err, str(tmp_path / "none"), "no audio files")


def test_wrong_model_files(tmp_path, capsys):
    wav = write_wav(tmp_path / "a.wav", tone_stream([], 1.0))
    rc, _, err = run(["detect", str(wav), "--model", str(wav)], capsys)
    assert rc == 2
    one_error_line(err, str(wav), "audio file, not a model")
    txt = tmp_path / "model.pt"
    txt.write_text("hello\n")
    rc, _, err = run(["detect", str(wav), "--model", str(txt)], capsys)
    assert rc == 2
    one_error_line(err, str(txt), "not a model file")
    fake = tmp_path / "model.bkws"
    fake.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    rc, _, err = run(["detect", str(wav), "--model", str(fake)], capsys)
    assert rc == 2
    one_error_line(err, str(fake), "checkpoint")
    rc, _, err = run(["detect", str(wav), "--model", str(tmp_path / "none.pt")], capsys)
    assert rc == 2
    one_error_line(err, str(tmp_path / "none.pt"), "model file not found")
    rc, _, err = run(["detect", str(wav), "--model", str(tmp_path)], capsys)
    assert rc == 2
    one_error_line(err, str(tmp_path), "folder, not a model file")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    rc, _, err = run(["detect", str(wav), "--model", str(empty)], capsys)
    assert rc == 2
    one_error_line(err, str(empty), "model file is empty")


def test_default_model_and_argument_errors(ckpt, tmp_path, capsys, monkeypatch):
    from bifsmn.detect import cascade, scorer

    wav = write_wav(tmp_path / "a.wav", tone_stream([], 1.0))
    rc, _, err = run(["detect", str(wav)], capsys)  # the bundled model: no --model needed
    assert rc == 0, err
    assert "verifier verifier.bkws" in err  # ... run as the bundled two-stage detector
    rc, _, err = run(["detect", str(wav), "--verifier", "none"], capsys)  # the 1-bit model alone
    assert rc == 0 and "operating point" in err and "verifier" not in err, err
    monkeypatch.setattr(cascade, "BUNDLED_VERIFIER", ("models_data", "missing.bkws"))
    rc, _, err = run(["detect", str(wav)], capsys)
    assert rc == 2
    one_error_line(err, "no bundled verifier is installed", "--verifier none")
    assert run(["detect", str(wav), "--verifier", "none"], capsys)[0] == 0
    monkeypatch.setattr(scorer, "BUNDLED_MODEL", ("models_data", "missing.bkws"))
    rc, _, err = run(["detect", str(wav)], capsys)
    assert rc == 2
    one_error_line(err, "no bundled model is installed", "--model")
    rc, _, err = run(["detect", "--model", ckpt], capsys)
    one_error_line(err, "FILE")
    rc, _, err = run(["detect", str(wav), "--model", ckpt, "--threshold-for", "yes:0.7"], capsys)
    one_error_line(err, "LABEL=VALUE")
    rc, _, err = run(["detect", str(wav), "--model", ckpt, "--threshold-for", "maybe=0.7"],
                     capsys)
    one_error_line(err, "no keyword 'maybe'")
    assert parse_threshold_for(["yes=0.7", " no = 0.25"]) == {"yes": 0.7, "no": 0.25}
    with pytest.raises(BifsmnError):
        parse_threshold_for(["=0.5"])


# ------------------------------------------------------------------ microphone
def test_mic_without_sounddevice(ckpt, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import raises ImportError
    rc, _, err = run(["detect", "--mic", "--model", ckpt], capsys)
    assert rc == 2
    one_error_line(err, "sounddevice", "PortAudio", "bifsmn[mic]")
    # said before the (bundled, calibrated) model loads and prints its operating point
    rc, _, err = run(["detect", "--mic"], capsys)
    one_error_line(err, "sounddevice")
    assert len(err.strip().splitlines()) == 1, err  # no operating-point lines before it
    for bad in ("-5", "0", "nan"):
        rc, _, err = run(["detect", "--mic", "--seconds", bad], capsys)
        one_error_line(err, "--seconds must be a positive number")


class FakePortAudioError(Exception):
    pass


def fake_sounddevice(devices: bool, audio: np.ndarray | None = None, rate: int = SR,
                     channels: int = 1, overflow_every: int = 0,
                     other: np.ndarray | None = None):
    """A stand-in for the ``sounddevice`` package: a device recording only ``rate`` Hz and
    only ``channels`` channels (2: it refuses mono), reporting an input overflow on every
    ``overflow_every``-th block (0: never). With two channels and ``other``, channel 1 records
    ``other`` and channel 0 ``2 * audio - other``: the channels differ, their mean is
    ``audio``."""
    mod = types.ModuleType("sounddevice")
    mod.PortAudioError = FakePortAudioError

    def query_devices(device=None, kind=None):
        if not devices:
            raise FakePortAudioError("No input device matching ''")
        return {"name": "fake mic", "default_samplerate": float(rate),
                "max_input_channels": channels}

    def check_input_settings(**kw):
        if kw["samplerate"] != rate:
            raise FakePortAudioError("Invalid sample rate")
        if kw["channels"] != channels:
            raise FakePortAudioError("Invalid number of channels")

    class InputStream:
        def __init__(self, **kw):
            assert kw["samplerate"] == rate and kw["channels"] == channels
            self.pos = self.blocks = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            if self.pos >= len(audio):
                raise KeyboardInterrupt  # the user presses Ctrl-C
            block = audio[self.pos:self.pos + n]
            self.pos += n
            self.blocks += 1
            data = np.repeat(np.pad(block, (0, n - len(block)))[:, None], channels, axis=1)
            if other is not None and channels == 2:
                side = other[self.pos - n:self.pos]
                data[:, 1] = np.pad(side, (0, n - len(side)))
                data[:, 0] = 2 * data[:, 0] - data[:, 1]
            return data, bool(overflow_every and self.blocks % overflow_every == 0)

    mod.query_devices = query_devices
    mod.check_input_settings = check_input_settings
    mod.InputStream = InputStream
    return mod


def test_mic_without_input_device(ckpt, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(devices=False))
    rc, _, err = run(["detect", "--mic", "--model", ckpt], capsys)
    assert rc == 2
    one_error_line(err, "no usable audio input device")


@pytest.mark.parametrize("rate", [SR, 48000])
def test_mic_stream_detects(ckpt, monkeypatch, capsys, rate):
    import soxr

    x = tone_stream([("off", 1.0)], 3.0)
    if rate != SR:
        x = soxr.resample(x, SR, rate).astype(np.float32)
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(True, x, rate))
    rc, out, err = run(["detect", "--mic", "--model", ckpt, "--json", "--threshold", "0.6",
                        "--rearm"], capsys)
    assert rc == 0 and "listening on 'fake mic'" in err
    events = [json.loads(ln) for ln in out.splitlines()]
    assert [e["label"] for e in events] == ["off"] and events[0]["file"] == "mic"
    rc, _, err = run(["detect", "--mic", "a.wav", "--model", ckpt], capsys)
    one_error_line(err, "not both")


def test_mic_on_a_stereo_only_device_and_overflows(ckpt, monkeypatch, capsys):
    # a device that refuses mono records two channels, mixed here (channel 1 holds a "yes"
    # and channel 0 its negative beside the "off": only their mean holds the "off" alone);
    # dropped blocks are said once when they start and counted at the end
    x = tone_stream([("off", 1.0)], 3.0)
    yes = tone_stream([("yes", 2.0)], 3.0, seed=7, noise=0.0)
    monkeypatch.setitem(sys.modules, "sounddevice",
                        fake_sounddevice(True, x, channels=2, other=yes))
    rc, out, err = run(["detect", "--mic", "--model", ckpt, "--json", "--threshold", "0.6",
                        "--rearm"], capsys)
    assert rc == 0 and "2 channels mixed to mono" in err, err
    assert [json.loads(ln)["label"] for ln in out.splitlines()] == ["off"]
    assert "bifsmn: 1 event in" in err
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(True, x, overflow_every=5))
    rc, out, err = run(["detect", "--mic", "--model", ckpt, "--json", "--threshold", "0.6"],
                       capsys)
    assert rc == 0 and err.count("input overflow: the device dropped audio") == 1, err
    assert "6 input overflows (audio dropped)" in err  # 30 blocks of 100 ms


def test_mic_runs_the_bundled_two_stage_detector_by_default(monkeypatch, capsys):
    """No --model: the live display runs the bundled model as the first stage of the bundled
    two-stage detector, as `detect FILE` does."""
    x = np.concatenate([np.zeros(SR, np.float32), tone_stream([("off", 1.0)], 2.0)])
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(True, x))
    rc, _, err = run(["detect", "--mic"], capsys)
    assert rc == 0 and "listening on 'fake mic'" in err, err
    assert "verifier verifier.bkws" in err  # (the level meter draws on a terminal only)


def test_detect_on_an_engine_file_does_not_import_torch(tmp_path):
    """A ``.bkws`` detector (the default two-stage one, and the 1-bit model alone) runs on the
    engine: `bifsmn detect` on it never imports PyTorch (its import is most of a one-file run's
    start-up); a checkpoint still runs, and gets --threads."""
    import subprocess

    pytest.importorskip("bifsmn.engine._engine")
    wav = write_wav(tmp_path / "a.wav", tone_stream([("yes", 0.5)], 2.0))
    probe = ("import sys; from bifsmn.cli import main; rc = main(sys.argv[1:]); "
             "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', rc)")
    for extra in ([], ["--verifier", "none"]):
        out = subprocess.run([sys.executable, "-c", probe, "detect", str(wav), "--json", *extra],
                             capture_output=True, text=True, check=True).stdout
        assert out.splitlines()[-1] == "NO-TORCH 0", out


def test_threads_reach_torch_when_a_checkpoint_needs_it(ckpt, monkeypatch):
    from bifsmn.detect import scorer

    monkeypatch.setattr(scorer, "_torch_threads", None)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        scorer.set_torch_threads(1)  # torch is loaded here: applied at once
        assert torch.get_num_threads() == 1
        torch.set_num_threads(2)  # ... and again when a checkpoint is loaded
        scorer.TorchScorer.from_checkpoint(ckpt)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_log_mel_engine_file_without_torch_takes_the_engine_front_end(ckpt, tmp_path,
                                                                        monkeypatch, caplog):
    """Without PyTorch a log-mel ``.bkws`` detector computes its features with the engine's
    C++ front end (within the stated 0.01 dB of the Python one), with a note; with PyTorch it
    keeps the Python front end its operating points were calibrated with."""
    pytest.importorskip("bifsmn.engine._engine")
    from bifsmn.data.frontends import make_frontend
    from bifsmn.detect import scorer as scorer_mod
    from bifsmn.engine import export_checkpoint

    bk = export_checkpoint(ckpt, tmp_path / "tiny.bkws")
    assert scorer_mod.torch_available()
    assert not hasattr(scorer_mod.EngineScorer(bk), "features")  # the Python front end
    monkeypatch.setattr(scorer_mod, "torch_available", lambda: False)
    with caplog.at_level("WARNING", logger="bifsmn.detect"):
        sc = scorer_mod.EngineScorer(bk)
    assert "PyTorch is not installed" in caplog.text
    stream = tone_stream([("yes", 0.3), ("no", 1.4)], 2.5)
    windows = np.stack([stream[i:i + SR] for i in (0, 4000, 8000, 12000)]).astype(np.float32)
    ref = make_frontend(sc.feature_config)(torch.from_numpy(windows)).float().numpy()
    got = sc.features(windows)
    assert got.shape == ref.shape
    loud = ref > -80.0
    assert loud.mean() > 0.5 and np.abs(got - ref)[loud].max() <= 0.01


def test_commands_without_the_training_stack(ckpt, tmp_path):
    """A detection-only install (no torch, PyWavelets or matplotlib; docs/detection.md, "Without
    PyTorch"): the bundled detector and the 1-bit model alone run; commands that need the
    training stack stop with one line naming the package and how to install it (exit 2)."""
    import subprocess

    pytest.importorskip("bifsmn.engine._engine")
    wav = write_wav(tmp_path / "a.wav", tone_stream([("yes", 0.5)], 2.0))

    probe = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'pywt', 'matplotlib', 'sounddevice'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from bifsmn.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True,
                              text=True)

    for extra in ([], ["--verifier", "none"]):
        done = run("detect", str(wav), "--json", *extra)
        assert done.returncode == 0, done.stderr
    # a log-mel .bkws runs too (the engine's front end, with a note)
    from bifsmn.engine import export_checkpoint

    bk = export_checkpoint(ckpt, tmp_path / "tiny.bkws")
    done = run("detect", str(wav), "--model", str(bk), "--json")
    assert done.returncode == 0 and "PyTorch is not installed" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-c", probe.replace(
        "from bifsmn.cli import main\nsys.exit(main(sys.argv[1:]))\n",
        "from bifsmn.detect import *\nprint(Detector.__name__)\n")], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "Detector\n", done.stderr  # star import
    done = run("detect", "--mic", "--seconds", "1")  # the [mic] extra adds sounddevice alone
    assert done.returncode == 2 and "pip install 'bifsmn[mic]'" in done.stderr, done.stderr
    for argv in (["detect", str(wav), "--model", ckpt],  # a checkpoint runs on PyTorch
                 ["summary", "dfsmn_teacher"]):
        done = run(*argv)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, done.stderr
        assert len(lines) == 1 and "'torch'" in lines[0], lines
        assert "pip install 'bifsmn[train]'" in lines[0], lines


def test_per_keyword_smoothing_and_refractory_flags_reach_the_detector(ckpt, capsys):
    from bifsmn.cli import build_parser
    from bifsmn.detect.cli import _make_detector

    base = ["detect", "a.wav", "--model", ckpt, "--threshold", "0.5", "--smooth-ms", "500",
            "--refractory-ms", "1000", "--hop-ms", "100"]
    det = _make_detector(build_parser().parse_args(
        [*base, "--smooth-for", "yes=300", "--refractory-for", "no=2000"]))
    assert det.smooth_for["yes"] == 3 and det.smooth_for["no"] == 5  # 100-ms hops
    assert det.refractory_for["no"] == 2 * SR and det.refractory_for["yes"] == SR
    plain = _make_detector(build_parser().parse_args(base))
    assert set(plain.smooth_for.values()) == {5} and set(plain.refractory_for.values()) == {SR}
    rc, _, err = run([*base, "--smooth-for", "yes"], capsys)
    assert rc == 2
    one_error_line(err, "--smooth-for wants LABEL=VALUE")
