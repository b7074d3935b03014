"""Reliability guarantees (README "Reliability"): safe outputs, finite outputs, input limits,
one-line errors for bad configs and crafted checkpoints, corrupt caches rebuilt.

Every test here works as root (CI runs as root): refused paths are refused by their kind (FIFO,
directory, device, symlink, own input), never by permissions.
"""

from __future__ import annotations

import os
import pickle
import shlex
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from bifsmn.cli import main
from bifsmn.engine.testing import make_checkpoint
from bifsmn.errors import BifsmnError, NonFiniteError
from bifsmn.outputs import atomic_write_bytes, atomic_write_text, check_output


def _one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("bifsmn: error:"), err
    assert "\n" not in err and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    return err


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("rel") / "m.pt", "bifsmnv2", seed=3)


# ------------------------------------------------------------------------------- safe outputs
def _refused_targets(tmp: Path) -> dict[str, Path]:
    fifo = tmp / "fifo"
    os.mkfifo(fifo)
    (tmp / "dir").mkdir()
    (tmp / "link_to_fifo").symlink_to(fifo)
    (tmp / "link_to_dir").symlink_to(tmp / "dir")
    (tmp / "dangling").symlink_to(tmp / "nowhere" / "x")
    sock = tmp / "sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(sock))  # the socket file stays after the socket is closed
    assert sock.is_socket()
    return {"FIFO": fifo, "directory": tmp / "dir", "character device": Path("/dev/null"),
            "socket": sock,
            "FIFO (named pipe) (via a symlink)": tmp / "link_to_fifo",
            "directory (via a symlink)": tmp / "link_to_dir", "dangling symlink":
            tmp / "dangling"}


def test_check_output_refuses_by_kind(tmp_path):
    for kind, target in _refused_targets(tmp_path).items():
        with pytest.raises(BifsmnError) as exc:
            check_output(target)
        msg = str(exc.value)
        assert str(target) in msg and "\n" not in msg, msg
        assert kind.split(" (")[0] in msg, (kind, msg)
    assert (tmp_path / "fifo").is_fifo() and (tmp_path / "dir").is_dir()
    assert (tmp_path / "sock").is_socket()
    assert os.path.exists("/dev/null") and not Path("/dev/null").is_file()


@pytest.mark.parametrize("kind", ["FIFO", "directory", "character device", "socket",
                                  "FIFO (named pipe) (via a symlink)", "dangling symlink"])
def test_export_refuses_non_files(kind, ckpt, tmp_path, capsys):
    target = _refused_targets(tmp_path)[kind]
    assert main(["export", str(ckpt), "-o", str(target)]) == 2
    _one_line_error(capsys, str(target), "refus" if kind != "dangling symlink" else "dangling")
    assert (tmp_path / "fifo").is_fifo() and (tmp_path / "dir").is_dir()
    assert not list((tmp_path / "dir").iterdir())


def test_export_refuses_its_own_input(ckpt, tmp_path, capsys):
    before = ckpt.read_bytes()
    assert main(["export", str(ckpt), "-o", str(ckpt)]) == 2
    _one_line_error(capsys, "is the input")
    hard = tmp_path / "hardlink.pt"
    os.link(ckpt, hard)  # another name for the same file is caught too
    assert main(["export", str(ckpt), "-o", str(hard)]) == 2
    _one_line_error(capsys, "is the input")
    assert ckpt.read_bytes() == before


def test_export_to_unwritable_place_is_one_line(ckpt, capsys):
    assert main(["export", str(ckpt), "-o", "/proc/bifsmn-test.bkws"]) == 2
    _one_line_error(capsys, "/proc/bifsmn-test.bkws", "cannot write")


def test_replacing_a_regular_file_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "metrics.csv"
    atomic_write_text(out, "old\n")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(BifsmnError, match="No space left"):
        atomic_write_text(out, "new\n")
    monkeypatch.undo()
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]  # no temp file left
    atomic_write_text(out, "new\n")
    assert out.read_text() == "new\n" and oct(out.stat().st_mode & 0o777) == "0o644"


def test_temp_files_of_killed_writers_are_told_from_live_ones(tmp_path, monkeypatch):
    """A temp name carries its writer's pid: a kill -9's leftover (writer gone, or untouched
    for 10 minutes) is stale; a live writer's, a user's own dot-file and a folder are not."""
    import subprocess
    import sys
    import time

    from bifsmn.outputs import remove_stale_temp_files, stale_temp_files

    seen = []
    real = os.replace

    def spy(src, dst):  # the name atomic_write gives its temp file
        seen.append(Path(src).name)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write_text(tmp_path / "last.pt", "x")
    monkeypatch.undo()
    assert seen[0].startswith(f".last.pt.{os.getpid()}.") and seen[0].endswith(".tmp")

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / f".best.pt.{gone.pid}.abcdefgh.tmp"
        alive = tmp_path / f".best.pt.{live.pid}.abcdefgh.tmp"
        own = tmp_path / ".notes.tmp"  # a user's own file: never taken for a temp file
        old = tmp_path / ".metrics.csv.1.abcdefgh.tmp"
        for p in (dead, alive, own, old):
            p.write_bytes(b"half")
        for p in (own, old):
            os.utime(p, (time.time() - 3600, time.time() - 3600))
        (tmp_path / ".dir.7.abcdefgh.tmp").mkdir()
        assert stale_temp_files(tmp_path) == [old]  # the age rule alone (a shared cache)
        assert stale_temp_files(tmp_path, dead_writers=True) == sorted([dead, old])
        assert stale_temp_files(tmp_path, dead_writers=True,
                                dest=lambda n: n == "metrics.csv") == [old]
        assert remove_stale_temp_files(tmp_path, dead_writers=True)[0] == 2
        assert alive.exists() and own.exists() and not dead.exists() and not old.exists()
    finally:
        live.kill()
        live.wait()


def test_symlink_to_a_file_is_followed(tmp_path):
    real = tmp_path / "real.bin"
    real.write_bytes(b"a")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    atomic_write_bytes(link, b"b")
    assert link.is_symlink() and real.read_bytes() == b"b"


def test_every_writer_uses_the_checks(tmp_path):
    """Checkpoints, tables/metrics, plots and caches refuse a FIFO / a directory."""
    from bifsmn.data.cache import atomic_save_npy
    from bifsmn.plots import save_png, subplots
    from bifsmn.train.checkpoint import save_checkpoint
    from bifsmn.train.config import Config, save_config

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "d").mkdir()
    writers = {
        "checkpoint": lambda p: save_checkpoint(p, {"model": {}, "state_dict": {}}),
        "config": lambda p: save_config(Config(), p),
        "text": lambda p: atomic_write_text(p, "x"),
        "plot": lambda p: save_png(subplots()[0], p),
    }
    for name, write in writers.items():
        for target in (fifo, tmp_path / "d", Path("/dev/null")):
            with pytest.raises(BifsmnError, match="refusing"):
                write(target)
            assert fifo.is_fifo() and (tmp_path / "d").is_dir(), name
    # the cache refuses them too, with a warning instead of an error (the data it was asked to
    # keep has been computed already: test_an_unwritable_cache_is_a_warning)
    for target in (fifo, tmp_path / "d", Path("/dev/null")):
        atomic_save_npy(target, np.zeros(3))
        assert fifo.is_fifo() and (tmp_path / "d").is_dir() and Path("/dev/null").is_char_device()
    assert not list((tmp_path / "d").iterdir())


# ------------------------------------------------------------------------------- finite outputs
class _NanScorer:
    """A scorer stub whose model has diverged: every score is NaN."""

    labels = ["_silence_", "_unknown_", "yes", "no"]
    name = "diverged.pt"

    def __init__(self) -> None:
        from bifsmn.data.features import FeatureConfig

        self.feature_config = FeatureConfig()

    def features(self, windows: np.ndarray) -> np.ndarray:
        return np.zeros((len(windows), 1, 32, 32), np.float32)

    def scores(self, features: np.ndarray) -> np.ndarray:
        return np.full((len(features), len(self.labels)), np.nan, np.float32)


def test_nan_scores_never_become_events(tmp_path):
    from bifsmn.detect.detector import Detector
    from bifsmn.detect.stream import Posteriors

    det = Detector(_NanScorer(), threshold=0.5, gate=None)  # the gate would skip silence
    silence = tmp_path / "silence.wav"
    sf.write(str(silence), np.zeros(16000 * 3, np.float32), 16000)
    with pytest.raises(NonFiniteError) as exc:
        det.detect_file(silence)
    msg = str(exc.value)
    assert "diverged.pt" in msg and str(silence) in msg and "non-finite" in msg
    # the trigger itself: a NaN score is never >= a threshold
    post = Posteriors(np.array([1600, 3200]), np.full((2, 4), np.nan, np.float32), 16000, 16000)
    assert det._on_posteriors(post) == []


def test_torch_scorer_refuses_nan_logits(ckpt):
    from bifsmn.detect.scorer import TorchScorer

    # a scorer freezes its model (the deployed form is folded once): poison, then score
    good = TorchScorer.from_checkpoint(ckpt)
    with torch.no_grad():
        good.model.classifier.bias.fill_(float("nan"))
    scorer = TorchScorer(good.model, good.labels, good.feature_config, name=good.name)
    with pytest.raises(NonFiniteError, match="m.pt"):
        scorer.scores(np.zeros((2, 1, 32, 32), np.float32))


def _tampered_bkws(ckpt: Path, tmp: Path) -> Path:
    """A .bkws whose classifier weights are huge but finite (the loader refuses NaN/inf
    records), CRCs recomputed: the file loads and its logits overflow to inf/NaN."""
    from bifsmn.engine import export_checkpoint
    from bifsmn.engine.format import encode, make_record, read_file

    good = export_checkpoint(ckpt, tmp / "good.bkws")
    recs = read_file(good)
    w = recs["classifier.w"].array().astype(np.float64)
    recs["classifier.w"] = make_record("classifier.w", np.full_like(w, 3e38), "f32")
    out = tmp / "tampered.bkws"
    out.write_bytes(encode(list(recs.values())))
    return out


def test_engine_refuses_non_finite_logits_and_absurd_audio(ckpt, tmp_path):
    from bifsmn.engine import Engine

    eng = Engine(_tampered_bkws(ckpt, tmp_path))
    with pytest.raises(NonFiniteError) as exc:
        eng.predict(np.zeros(16000, np.float32))
    assert "tampered.bkws" in str(exc.value) and "non-finite logits" in str(exc.value)
    good = Engine(tmp_path / "good.bkws")
    loud = np.zeros(16000, np.float32)
    loud[100] = 1e20  # one corrupted exponent byte
    with pytest.raises(BifsmnError, match="magnitude 1e\\+20"):
        good.predict(loud)
    assert np.isfinite(good.predict(np.zeros(16000, np.float32))).all()


def test_detect_with_tampered_bkws_is_an_error(ckpt, tmp_path, capsys):
    bkws = _tampered_bkws(ckpt, tmp_path)
    wav = tmp_path / "quiet.wav"
    x = np.zeros(16000 * 2, np.float32)  # a tone burst in silence: loud and contrasted enough
    t = np.arange(8000) / 16000          # to pass the energy/contrast gate
    x[12000:20000] = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(str(wav), x, 16000)
    assert main(["detect", "--model", str(bkws), str(wav)]) == 2
    err = capsys.readouterr()
    assert err.out == ""  # no event printed
    assert "non-finite" in err.err and str(wav) in err.err and "tampered.bkws" in err.err


def test_float_audio_out_of_range_is_refused_naming_the_file(tmp_path, capsys):
    from bifsmn.audio import load_audio
    from bifsmn.detect.audio_io import iter_audio_blocks

    x = np.zeros(16000, np.float32)
    x[5] = 1e20
    path = tmp_path / "corrupt.wav"
    sf.write(str(path), x, 16000, subtype="FLOAT")
    for read in (load_audio, lambda p: list(iter_audio_blocks(p))):
        with pytest.raises(BifsmnError) as exc:
            read(path)
        assert str(path) in str(exc.value) and "magnitude 1e+20" in str(exc.value)
    x[5] = 999.0  # within the stated limit: accepted as is
    sf.write(str(path), x, 16000, subtype="FLOAT")
    assert load_audio(path)[5] == 999.0
    x[5] = 1e20
    sf.write(str(path), x, 16000, subtype="FLOAT")
    assert main(["detect", str(path)]) == 2
    assert str(path) in capsys.readouterr().err


# ------------------------------------------------------------------------------- config errors
def _tiny(root: Path, cache: Path, epochs: int = 1) -> dict:
    return {"model": {"name": "dfsmn_teacher", "kwargs": {"dropout": 0.0}},
            "data": {"root": str(root), "batch_size": 16, "cache_dir": str(cache)},
            "optim": {"name": "adam", "lr": 2e-3, "weight_decay": 0.0},
            "train": {"epochs": epochs, "seed": 1, "threads": 1, "plot_every": 0}}


BAD_OVERRIDES = [
    ("optim.lr=[1", "not valid YAML"),
    ("data.batch_size=0", "data.batch_size must be at least 1"),
    ("optim.lr=-1", "optim.lr must be a finite number > 0"),
    ("optim.lr=.nan", "optim.lr must be a finite number > 0"),
    ("train.epochs=0", "train.epochs must be at least 1"),
    ("train.epochs=-1", "train.epochs must be at least 1"),
    ("train.threads=-2", "train.threads must be >= 0"),
    ("train.device=cuda", "train.device must be"),
    ("train.device=banana", "train.device must be"),
    ("train.label_smoothing=1.0", "train.label_smoothing must be in [0, 1)"),
    ("train.label_smoothing=-0.1", "train.label_smoothing must be in [0, 1)"),
    ("train.ema_decay=1.0", "train.ema_decay must be in [0, 1)"),
]


@pytest.mark.parametrize(("override", "message"), BAD_OVERRIDES)
def test_bad_config_values_are_one_line_errors(override, message, tmp_path, capsys):
    if override == "train.device=cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(_tiny(tmp_path / "data", tmp_path / "cache")))
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--out", str(run), override]) == 2
    _one_line_error(capsys, message, override)  # the line names the override, not only the file
    assert not (run / "config.yaml").exists()


def test_a_bad_value_in_the_file_is_not_blamed_on_an_override(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    data = _tiny(tmp_path / "data", tmp_path / "cache")
    data["train"]["epochs"] = 0
    cfg.write_text(yaml.safe_dump(data))
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"),
                 "optim.lr=0.1"]) == 2
    err = _one_line_error(capsys, str(cfg), "train.epochs must be at least 1")
    assert "override" not in err


def test_list_shaped_yaml_with_an_override(tmp_path, capsys):
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- 1\n- 2\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"),
                 "optim.lr=0.1"]) == 2
    _one_line_error(capsys, str(cfg), "must be a mapping")


def test_detect_refuses_negative_threads(capsys):
    assert main(["detect", "--threads", "-1", "x.wav"]) == 2
    _one_line_error(capsys, "--threads must be at least 1")


# ------------------------------------------------------------------------------- checkpoints
def _crafted(src: Path, dst: Path, **spec) -> Path:
    from bifsmn.train.checkpoint import load_checkpoint, save_checkpoint

    c = load_checkpoint(src)
    c["model"] = {**c["model"], **spec}
    save_checkpoint(dst, {k: v for k, v in c.items() if k not in ("format", "version")})
    return dst


@pytest.mark.parametrize(("spec", "message"), [
    ({"kwargs": {"num_classes": -5}}, "sizes must be positive"),
    ({"name": 123}, "no model name string"),
    ({"name": ["dfsmn_teacher"]}, "no model name string"),
    ({"kwargs": {"num_classes": 10**7}}, "parameters but holds"),
    ({"kwargs": [1, 2]}, "not a mapping"),
])
def test_crafted_checkpoints_are_refused(spec, message, ckpt, tmp_path, capsys):
    bad = _crafted(ckpt, tmp_path / "bad.pt", **spec)
    assert main(["export", str(bad), "-o", str(tmp_path / "o.bkws")]) == 2
    _one_line_error(capsys, str(bad), message)
    assert not (tmp_path / "o.bkws").exists()


class _Evil:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def test_refused_pickle_has_our_message(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "bifsmn-checkpoint", "x": _Evil(marker)}, path, pickle_protocol=2)
    assert main(["export", str(path), "-o", str(tmp_path / "o.bkws")]) == 2
    err = _one_line_error(capsys, str(path), "refuses to load", "system")
    assert "PyTorch" not in err and "weights_only" not in err
    assert not marker.exists()  # the payload never ran
    assert not (tmp_path / "o.bkws").exists()
    # the payload is live: plain unpickling does run it
    armed = tmp_path / "armed"
    pickle.loads(pickle.dumps(_Evil(armed), protocol=2))
    assert armed.exists()


# ------------------------------------------------------------------------------- caches
def test_truncated_feature_cache_is_rebuilt(full_ds, cache_dir):
    from bifsmn.data.cache import load_features, load_waves
    from bifsmn.data.speech_commands import SpeechCommands

    ds = SpeechCommands(full_ds, 12)
    feats, labels = load_features(ds, "validation", cache_dir=cache_dir, progress=False)
    waves, _ = load_waves(ds, "validation", cache_dir, progress=False)
    for entry in sorted(cache_dir.glob("*.npy")):  # waves and features, each truncated
        entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
        again, _ = load_features(ds, "validation", cache_dir=cache_dir, progress=False)
        assert torch.equal(again, feats)
        assert torch.equal(load_waves(ds, "validation", cache_dir, progress=False)[0], waves)
    for entry in cache_dir.glob("*.npy"):
        np.load(entry)  # rebuilt entries are whole again
    bad = next(iter(cache_dir.glob("feats-*.npy")))
    np.save(bad, np.zeros((2, 2), np.float32))  # readable but the wrong shape
    again, _ = load_features(ds, "validation", cache_dir=cache_dir, progress=False)
    assert torch.equal(again, feats) and np.load(bad).shape == tuple(feats.shape)
    damaged = feats.numpy().copy()
    damaged[0, 0, 0, 0] = np.nan  # right shape and dtype, a value no writer stores
    np.save(bad, damaged)
    again, _ = load_features(ds, "validation", cache_dir=cache_dir, progress=False)
    assert torch.equal(again, feats) and np.isfinite(np.load(bad)).all()


def test_eval_refuses_nan_logits(full_ds, cache_dir, tmp_path, capsys, monkeypatch):
    from bifsmn.train.checkpoint import load_checkpoint, save_checkpoint

    monkeypatch.setenv("BIFSMN_CACHE", str(cache_dir))
    src = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=1)
    c = load_checkpoint(src)
    c["state_dict"]["classifier.bias"] = torch.full_like(c["state_dict"]["classifier.bias"],
                                                         float("nan"))
    save_checkpoint(src, {k: v for k, v in c.items() if k not in ("format", "version")})
    assert main(["eval", "--checkpoint", str(src), "--data", str(full_ds), "--json"]) == 2
    _one_line_error(capsys, str(src), "non-finite logits")


def test_checkpoints_of_cpu_runs_keep_their_bytes():
    """Moving tensors to the CPU before saving (a GPU run's files open anywhere) leaves a CPU
    run's checkpoint as it was: same types, module metadata and bytes."""
    import io

    import torch

    from bifsmn.models import create_model
    from bifsmn.train.checkpoint import on_cpu

    sd = create_model("dfsmn_teacher").state_dict()
    moved = on_cpu({"state_dict": sd, "betas": (0.9, 0.999), "history": [{"a": 1.0}]})
    assert type(moved["state_dict"]) is type(sd) and moved["state_dict"]._metadata == sd._metadata
    a, b = io.BytesIO(), io.BytesIO()
    torch.save({"state_dict": sd}, a)
    torch.save(on_cpu({"state_dict": sd}), b)
    assert a.getvalue() == b.getvalue()


def test_folders_opened_for_results_lose_old_temp_files(tmp_path):
    """make_folder (compare, eval-stream, scale-table, quickstart, --save-windows, run locks)
    clears the temp files killed writers left there long ago, nothing else."""
    import time

    from bifsmn.outputs import make_folder

    old = tmp_path / ".table.md.123.abcdefgh.tmp"
    new = tmp_path / ".table.md.124.abcdefgh.tmp"
    mine = tmp_path / ".notes.tmp"
    for p in (old, new, mine):
        p.write_text("x")
    for p in (old, mine):
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    assert make_folder(tmp_path, "folder") is False
    assert not old.exists() and new.exists() and mine.exists()


_SIGTERM_IN_A_WRITE = """
import os, signal, sys, time
from pathlib import Path
import bifsmn.cli as cli
from bifsmn.outputs import atomic_write

out = Path(sys.argv[1])

def train(args):  # stands in for a command: a SIGTERM lands inside one of its writes
    def write(f):
        f.write(b"half")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the handler raises out of this sleep
    atomic_write(out / "last.pt", write)

cli.cmd_train = train
sys.exit(cli.main(["train", "--config", "teacher"]))
"""


def test_sigterm_ends_a_command_like_ctrl_c(tmp_path):
    """SIGTERM (timeout, systemd, docker stop, Slurm) inside a write: the write's temp file is
    removed and one line says what happened, then the process ends by SIGTERM as its sender
    expects (session 70: it died as from kill -9, no message, its temp file left behind)."""
    import signal
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _SIGTERM_IN_A_WRITE, str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGTERM, r.stderr
    assert r.stderr.strip() == ("bifsmn: terminated (SIGTERM) (nothing was saved: run the "
                                "same command again)"), r.stderr
    assert list(tmp_path.iterdir()) == []
    # in-process callers get their own handler back; one they installed is left alone
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit):
        main(["--version"])
    assert signal.getsignal(signal.SIGTERM) == before

    def theirs(signum, frame):  # noqa: ANN001, ANN202
        pass

    signal.signal(signal.SIGTERM, theirs)
    try:
        with pytest.raises(SystemExit):
            main(["--version"])
        assert signal.getsignal(signal.SIGTERM) is theirs
    finally:
        signal.signal(signal.SIGTERM, before)


def test_sigterm_while_parsing_is_one_line_too(tmp_path):
    """A SIGTERM before the command starts (while its arguments are parsed) is the same one
    line and the same ending, not a traceback."""
    import signal
    import subprocess
    import sys

    code = ("import os, signal, sys\n"
            "import bifsmn.cli as cli\n"
            "real = cli.build_parser\n"
            "def build():\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    return real()\n"
            "cli.build_parser = build\n"
            "sys.exit(cli.main(['--help']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGTERM and r.stderr.strip() == "bifsmn: terminated (SIGTERM)"


def test_interrupted_train_hint_follows_the_folder(tmp_path):
    """The hint names what the run folder holds now: a run stopped before it saved anything
    has had its folder removed, so --resume would fail there."""
    import argparse

    from bifsmn.cli import _interrupt_hint

    run = tmp_path / "run"
    args = argparse.Namespace(command="train", run_dir=run)
    assert "nothing was saved" in _interrupt_hint(args)
    run.mkdir()
    (run / "config.yaml").write_text("x: 1\n")
    assert f"has no finished epoch yet; continue with: bifsmn train --resume {run}" in \
        _interrupt_hint(args)
    spaced = argparse.Namespace(command="train", run_dir=tmp_path / "my run")
    (tmp_path / "my run").mkdir()
    (tmp_path / "my run" / "config.yaml").write_text("x: 1\n")
    assert f"--resume '{tmp_path / 'my run'}')" in _interrupt_hint(spaced)
    (run / "last.pt").write_bytes(b"x")
    assert "keeps its last finished epoch" in _interrupt_hint(args)


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from bifsmn.outputs import folder_lock
folder = Path(sys.argv[1])
with folder_lock(folder):
    (folder / "held").write_text("x")
    time.sleep(1.0)
    (folder / "released").write_text("x")
"""


def test_folder_lock_makes_merges_take_turns(tmp_path):
    """Two processes merging into one file of a folder (windows.csv, a model's operating
    points) take turns: the second enters only after the first has left."""
    import subprocess
    import sys
    import time

    from bifsmn.outputs import folder_lock

    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "held").exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        with folder_lock(tmp_path):
            assert (tmp_path / "released").exists()
    finally:
        holder.wait(timeout=60)
    with folder_lock(tmp_path / "missing"):  # nothing to lock: the write reports the problem
        pass
    assert not (tmp_path / "missing").exists()


def test_only_bifsmn_messages_read_as_bifsmn_lines():
    """The CLI prefixes its own log lines with "bifsmn:", not other libraries' (matplotlib's
    note about its cache folder read as bifsmn's before session 70); a host program that sets
    up logging after calling main() gets each of our lines once, in its format."""
    import subprocess
    import sys

    code = ("import logging, sys\n"
            "import bifsmn.cli as cli\n"
            "def fake(args):\n"
            "    logging.getLogger('bifsmn.data').info('ours')\n"
            "    logging.getLogger('matplotlib').warning('theirs')\n"
            "    return 0\n"
            "cli.cmd_download = fake\n"
            "rc = cli.main(['data', 'download', '--version', 'v0.01', '--root', 'x'])\n"
            "logging.basicConfig(format='APP %(message)s')\n"  # the host's own, set up later
            "logging.getLogger('bifsmn.data').warning('later')\n"
            "sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() == ["bifsmn: ours", "theirs", "APP later"], r.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_failed_write_to_stdout_is_one_line():
    """Standard output on a full disk: one line and status 2, no traceback (and no second
    complaint from Python's flush at exit)."""
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "bifsmn.cli", "summary", "--list"],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr == "bifsmn: error: No space left on device\n", r.stderr


def test_an_os_error_keeps_the_results_printed_before_it(tmp_path):
    """An OSError that is not stdout's own (a file a library opened) is one line, and what the
    command printed before it stays in its output (fully buffered: stdout is a file)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "import bifsmn.cli as cli\n"
            "def fake(args):\n"
            "    print('result line')\n"
            "    open('/nonexistent/x.txt')\n"
            "cli.cmd_download = fake\n"
            "sys.exit(cli.main(['data', 'download', '--version', 'v0.01', '--root', 'x']))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    out = tmp_path / "out.txt"
    with out.open("w") as f:
        r = subprocess.run([sys.executable, "-c", code], stdout=f, stderr=subprocess.PIPE,
                           text=True, env=env, timeout=60)
    assert r.returncode == 2 and out.read_text() == "result line\n"
    assert r.stderr == "bifsmn: error: No such file or directory: /nonexistent/x.txt\n"


def test_dash_is_refused_as_an_output(ckpt, tmp_path, capsys, monkeypatch):
    """``-o -`` wrote a file named "-" (many tools read it as standard output): refused."""
    from bifsmn.outputs import check_folder_path

    monkeypatch.chdir(tmp_path)
    assert main(["export", str(ckpt), "-o", "-"]) == 2
    _one_line_error(capsys, "'-' (standard output) is not an output here")
    with pytest.raises(BifsmnError, match="is not a run folder"):
        check_folder_path("-")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_cache_is_a_warning(full_ds, tmp_path, caplog):
    """A cache folder that cannot be made (HOME read-only or a file in a CI job) failed eval
    and train after the whole split was decoded; the data is returned with one warning."""
    from bifsmn.data.cache import load_features
    from bifsmn.data.speech_commands import SpeechCommands

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with caplog.at_level("WARNING", logger="bifsmn.data"):
        feats, labels = load_features(SpeechCommands(full_ds, 12), "validation",
                                      cache_dir=blocker / "cache", progress=False)
    assert len(feats) == len(labels) > 0
    notes = [r.getMessage() for r in caplog.records if "cache was not written" in r.getMessage()]
    assert len(notes) == 1 and "BIFSMN_CACHE" in notes[0]
