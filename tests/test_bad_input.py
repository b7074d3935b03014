"""Bad input: one-line errors naming the culprit, nothing half-written; odd formats converted."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import tone, write_wav

from bifsmn.audio import load_audio
from bifsmn.cli import main
from bifsmn.errors import BifsmnError


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    rc = main(args)
    err = capsys.readouterr().err.strip()
    return rc, err


def train_args(data: Path, tmp_path: Path, **extra) -> list[str]:
    cfg = {"model": {"name": extra.pop("model", "dfsmn_teacher")},
           "data": {"root": str(data), "batch_size": 8, "cache_dir": str(tmp_path / "cache")},
           "train": {"epochs": 1, "threads": 1}}
    cfg.update(extra)
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return ["train", "--config", str(p), "--out", str(tmp_path / "run")]


def training_clip(root: Path, word: str) -> Path:
    """A clip of ``word`` that is in neither the validation nor the testing list."""
    held = set((root / "validation_list.txt").read_text().split())
    held |= set((root / "testing_list.txt").read_text().split())
    return next(p for p in sorted((root / word).glob("*.wav"))
                if f"{word}/{p.name}" not in held)


def assert_clean_failure(rc: int, err: str, culprit: str, tmp_path: Path) -> None:
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("bifsmn: error:") and culprit in err, err
    assert not list((tmp_path / "cache").glob("*.npy")) if (tmp_path / "cache").exists() else True
    assert not (tmp_path / "run" / "last.pt").exists()
    leftovers = [p for p in tmp_path.rglob("*.tmp")]
    assert not leftovers


def test_missing_data_dir(tmp_path, capsys):
    rc, err = run_cli(train_args(tmp_path / "nope", tmp_path), capsys)
    assert_clean_failure(rc, err, "nope", tmp_path)
    assert "does not exist" in err


def test_list_naming_missing_file(full_ds, tmp_path, capsys):
    lst = full_ds / "validation_list.txt"
    lst.write_text(lst.read_text() + "yes/deadbeef_nohash_9.wav\n")
    rc, err = run_cli(train_args(full_ds, tmp_path), capsys)
    assert_clean_failure(rc, err, "validation_list.txt", tmp_path)
    assert "deadbeef_nohash_9.wav" in err


@pytest.mark.parametrize("kind", ["empty", "truncated", "not_wav"])
def test_broken_wav_files(kind, full_ds, tmp_path, capsys):
    victim = training_clip(full_ds, "yes")
    if kind == "empty":
        victim.write_bytes(b"")
    elif kind == "truncated":
        victim.write_bytes(victim.read_bytes()[:5000])
    else:
        victim.write_text("this is not audio\n" * 50)
    rc, err = run_cli(train_args(full_ds, tmp_path), capsys)
    assert_clean_failure(rc, err, victim.name, tmp_path)
    assert {"empty": "empty", "truncated": "truncated", "not_wav": "not a readable"}[kind] in err


def test_nan_samples(full_ds, tmp_path, capsys):
    victim = training_clip(full_ds, "no")
    x = tone("no", np.random.default_rng(0))
    x[100] = np.nan
    sf.write(str(victim), x, 16000, subtype="FLOAT")
    rc, err = run_cli(train_args(full_ds, tmp_path), capsys)
    assert_clean_failure(rc, err, victim.name, tmp_path)
    assert "NaN" in err


@pytest.mark.parametrize("subtype,sr,channels", [
    ("PCM_U8", 16000, 1), ("PCM_24", 16000, 1), ("FLOAT", 16000, 1), ("PCM_16", 16000, 2),
    ("PCM_16", 8000, 1), ("PCM_16", 48000, 1)])
def test_other_formats_are_converted(subtype, sr, channels, tmp_path):
    t = np.arange(sr) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    # two different channels (x, -x/2): the downmix is their mean, x/4
    data = np.stack([x, -0.5 * x], 1) if channels == 2 else x
    amp = 0.125 if channels == 2 else 0.5
    path = write_wav(tmp_path / "clip.wav", data, sr, subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 16000) <= 1
    ref = amp * np.sin(2 * np.pi * 440 * np.arange(len(y)) / 16000)
    core = slice(200, len(y) - 200)  # resampler edges aside
    corr = np.corrcoef(y[core], ref[core])[0, 1]
    assert corr > 0.99, corr
    assert np.abs(y).max() == pytest.approx(amp, abs=0.02 * amp / 0.5)
    if channels == 2:  # same rate: sample for sample (16-bit steps aside)
        np.testing.assert_allclose(y, 0.25 * x, rtol=0, atol=2 / 32768)


def test_truncated_checkpoint(full_ds, tmp_path, capsys):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    rc, err = run_cli(["eval", "--checkpoint", str(bad), "--data", str(full_ds)], capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and "model.pt" in err
    assert "not a readable checkpoint" in err


def test_a_byte_flipped_inside_a_tensor_is_found(tmp_path):
    """torch.load does not check the archive's CRC-32s, so a damaged weight would load as
    another model; load_checkpoint checks them and names the damaged member."""
    import struct
    import zipfile

    import torch

    from bifsmn.train.checkpoint import load_checkpoint, save_checkpoint

    path = tmp_path / "m.pt"
    save_checkpoint(path, {"model": {"name": "dfsmn_teacher", "kwargs": {}}, "labels": [],
                           "state_dict": {"w": torch.arange(64, dtype=torch.float32)}})
    with zipfile.ZipFile(path) as z:
        member = next(i for i in z.infolist() if "/data/" in i.filename)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[member.header_offset + 26:
                                                   member.header_offset + 30])
    raw[member.header_offset + 30 + name_len + extra_len + 5] ^= 0x01  # inside w's bytes
    path.write_bytes(bytes(raw))
    with pytest.raises(BifsmnError, match=f"{member.filename} fails its CRC check"):
        load_checkpoint(path)
    # torch can save without CRCs (stored as 0): such a file has nothing to check and loads
    if not hasattr(torch.serialization, "set_crc32_options"):  # older torch: always CRCs
        return
    plain = tmp_path / "no-crc.pt"
    torch.serialization.set_crc32_options(False)
    try:
        save_checkpoint(plain, {"model": {"name": "dfsmn_teacher", "kwargs": {}}, "labels": [],
                                "state_dict": {"w": torch.arange(64, dtype=torch.float32)}})
    finally:
        torch.serialization.set_crc32_options(True)
    with zipfile.ZipFile(plain) as z:
        assert {i.CRC for i in z.infolist()} == {0}
    assert torch.equal(load_checkpoint(plain)["state_dict"]["w"], torch.arange(64.0))


@pytest.mark.parametrize("kind", ["bkws", "audio", "random"])
def test_a_file_that_is_no_checkpoint_is_named_for_what_it_is(full_ds, tmp_path, capsys, kind):
    """A .bkws, an audio file or random bytes where a checkpoint is expected: one line saying
    what the file is (it used to be a parser's refusal or, for a WAV, an IndexError traceback).
    Since session 64 `eval` scores a .bkws (by the engine) instead of refusing it."""
    bad = tmp_path / "model.pt"
    if kind == "bkws":
        from bifsmn.engine import export_checkpoint
        from bifsmn.engine.testing import make_checkpoint

        export_checkpoint(make_checkpoint(tmp_path / "m.pt"), tmp_path / "m.bkws").rename(bad)
    elif kind == "audio":
        write_wav(tmp_path / "a.wav", np.zeros(1600, np.float32)).rename(bad)
    else:
        bad.write_bytes(np.random.default_rng(0).bytes(300))
    want = {"bkws": ".bkws engine file, not a checkpoint", "audio": "audio file, not a checkpoint",
            "random": "not a PyTorch zip archive"}[kind]
    for args in (["eval", "--checkpoint", str(bad), "--data", str(full_ds)],
                 ["export", str(bad), "-o", str(tmp_path / "out.bkws")]):
        rc, err = run_cli(args, capsys)
        if kind == "bkws" and args[0] == "eval":
            # eval takes a .bkws by its content, whatever its name (tests/test_eval_bkws.py)
            assert rc == 0, err
            continue
        assert rc == 2 and len(err.splitlines()) == 1 and "model.pt" in err, err
        assert want in err, err
    assert not (tmp_path / "out.bkws").exists()


def test_a_directory_for_a_file_and_a_file_for_a_directory(full_ds, tmp_path, capsys):
    wav = write_wav(tmp_path / "clip.wav", np.zeros(1600, np.float32))
    with pytest.raises(BifsmnError, match="a directory, not an audio file"):
        load_audio(tmp_path)  # (`bifsmn detect DIR` runs the audio files below it instead)
    rc, err = run_cli(["eval", "--checkpoint", str(wav), "--data", str(wav)], capsys)
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert str(wav) in err and "audio file, not a checkpoint" in err, err
    rc, err = run_cli(train_args(wav, tmp_path), capsys)
    assert rc == 2 and "a file, not a data directory" in err and "clip.wav" in err, err
    rc, err = run_cli(["train", "--config", str(tmp_path)], capsys)
    assert rc == 2 and "a folder, not a config file" in err and len(err.splitlines()) == 1, err
    if hasattr(os, "mkfifo"):  # a pipe exists but is no file: opening it would block
        fifo = tmp_path / "pipe.wav"
        os.mkfifo(fifo)
        with pytest.raises(BifsmnError, match="not a regular file"):
            load_audio(fifo)


def test_unknown_model_name(full_ds, tmp_path, capsys):
    rc, err = run_cli(train_args(full_ds, tmp_path, model="dfsmn_huge"), capsys)
    assert_clean_failure(rc, err, "dfsmn_huge", tmp_path)


@pytest.mark.parametrize("shape", ["100000x100000", "0x32", "32x513"])
def test_summary_input_outside_the_sizes_it_builds(shape, capsys):
    """`summary --input` builds the model: a typo such as 100000x100000 asked for 40 GB of
    weights and died in the allocator; now one line before anything is built."""
    rc, err = run_cli(["summary", "dfsmn_teacher", "--input", shape], capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and "--input sides must lie in 1..512" in err


def test_config_unknown_key(full_ds, tmp_path, capsys):
    rc, err = run_cli(train_args(full_ds, tmp_path, optim={"lrr": 0.1}), capsys)
    assert_clean_failure(rc, err, "optim.lrr", tmp_path)
    assert "cfg.yaml" in err


def test_config_wrong_type(full_ds, tmp_path, capsys):
    rc, err = run_cli(train_args(full_ds, tmp_path, train={"epochs": "many"}), capsys)
    assert_clean_failure(rc, err, "train.epochs", tmp_path)
    assert "cfg.yaml" in err and "int" in err


def test_debug_flag_shows_traceback(tmp_path):
    with pytest.raises(BifsmnError):
        main(["--debug", *train_args(tmp_path / "nope", tmp_path)])


def test_checkpoint_with_wrong_weights_names_them(tmp_path) -> None:
    """A state_dict that lacks a tensor, has an extra one or a wrong shape: the one-line error
    names the tensor (torch's own first line names none)."""
    import torch

    from bifsmn.engine.testing import make_checkpoint
    from bifsmn.train.checkpoint import model_from_checkpoint

    src = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=1)
    ckpt = torch.load(src, weights_only=True)
    cases = {
        "missing": lambda s: s.pop("classifier.weight"),
        "unexpected": lambda s: s.__setitem__("extra.weight", torch.zeros(1)),
        "shape": lambda s: s.__setitem__("classifier.bias", torch.zeros(3)),
    }
    for what, damage in cases.items():
        state = dict(ckpt["state_dict"])
        damage(state)
        bad = tmp_path / f"{what}.pt"
        torch.save({**ckpt, "state_dict": state}, bad)
        with pytest.raises(BifsmnError) as err:
            model_from_checkpoint(bad)
        msg = str(err.value)
        assert "\n" not in msg and str(bad) in msg and "weights do not fit" in msg, msg
        name = {"missing": "classifier.weight", "unexpected": "extra.weight",
                "shape": "classifier.bias"}[what]
        assert name in msg, msg


@pytest.mark.parametrize("command", ["eval", "detect"])
def test_a_fifo_given_as_the_model_says_it_is_a_fifo(tmp_path, capsys, command):
    """``Path.is_file`` is False for a FIFO as for a missing file: the loaders say which it is
    (and never open it: with no writer that would block)."""
    import os

    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    flag = "--checkpoint" if command == "eval" else "--model"
    args = [command, flag, str(fifo)]
    args += ["--data", str(tmp_path)] if command == "eval" else [str(tmp_path / "a.wav")]
    rc, err = run_cli(args, capsys)
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert f"{fifo}: this is a FIFO (named pipe), not a" in err and "not found" not in err, err


def test_list_with_a_byte_order_mark_or_another_encoding(full_ds, tmp_path, capsys):
    """A list saved as "UTF-8 with BOM" reads as plain UTF-8; one in UTF-16 is a one-line
    error naming it (not a UnicodeDecodeError traceback)."""
    from bifsmn.data.speech_commands import read_list

    lst = full_ds / "validation_list.txt"
    text = lst.read_text()
    lst.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_list(lst) == [ln.strip() for ln in text.splitlines() if ln.strip()]
    lst.write_text(text, encoding="utf-16")
    rc, err = run_cli(train_args(full_ds, tmp_path), capsys)
    assert_clean_failure(rc, err, "validation_list.txt", tmp_path)
    assert "not UTF-8 text" in err


@pytest.mark.skipif(os.name == "nt", reason="POSIX file names are bytes")
def test_audio_file_name_that_is_not_utf8(tmp_path):
    """A POSIX name that is not UTF-8 (a surrogate-escaped str in Python) opens like any
    other: soundfile would encode the str strictly and fail."""
    x = 0.25 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    good = write_wav(tmp_path / "clip.wav", x, 16000, "PCM_16")
    odd = Path(os.fsdecode(os.fsencode(tmp_path) + b"/broken\xfe.wav"))
    good.rename(odd)
    np.testing.assert_array_equal(load_audio(odd), load_audio(write_wav(
        tmp_path / "again.wav", x, 16000, "PCM_16")))
    from bifsmn.data.archive import AudioSource, hash_split

    assert hash_split(odd.name) in ("training", "validation", "testing")
    assert hash_split("café.wav") == hash_split(os.fsdecode("café.wav".encode()))
    assert odd in AudioSource(tmp_path).files  # the negative-speech reader lists it too


@pytest.mark.parametrize("args,why", [
    (["calibrate", "m.bkws", "--data", "d", "--minutes", "nan"], "--minutes must be a positive"),
    (["eval-stream", "--data", "d", "--model", "m.bkws", "--minutes", "inf"], "positive finite"),
    (["eval-stream", "--data", "d", "--model", "m.bkws", "--seed", "-1"], "--seed must be 0"),
    (["calibrate", "m.bkws", "--data", "d", "--seed", "-1"], "--seed must be 0 or more"),
    (["eval-stream", "--data", "d", "--model", "m.bkws", "--refractory-ms", "-1"],
     "--refractory-ms must be a finite number >= 0"),
    (["calibrate", "m.bkws", "--data", "d", "--snr", "nan"], "outside -100 to 200 dB"),
    # checked before the streams are built (the verifier that checked them loaded after)
    (["eval-stream", "--data", "d", "--model", "m.bkws", "--wake", "1.5"],
     "wake threshold must be in [0, 1] (got 1.5)"),
    (["calibrate", "m.bkws", "--data", "d", "--wake", "nan"], "wake threshold must be in"),
    (["eval-stream", "--data", "d", "--model", "m.bkws", "--hold-ms", "0"],
     "verifier hold must be a positive number of ms"),
    (["calibrate", "m.bkws", "--data", "d", "--hold-ms", "inf"], "verifier hold must be"),
])
def test_stream_numbers_refuse_nan_infinity_and_negatives(args, why, capsys):
    """NaN, infinities and negative seeds or durations are one-line errors before any model
    or data is opened (they used to end in tracebacks deep inside, or run as given)."""
    rc, err = run_cli(args, capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and why in err, err


@pytest.mark.parametrize("snr", ["nan", "-inf", "1e308", "-1e300"])
def test_snr_outside_the_mixable_range(snr):
    from bifsmn.detect.evaluate import parse_snrs

    with pytest.raises(BifsmnError, match="outside -100 to 200 dB"):
        parse_snrs(f"clean,{snr}")
    assert parse_snrs("clean, 10,-5") == [float("inf"), 10.0, -5.0]
    assert parse_snrs("+inf,infinity") == [float("inf")] * 2  # spellings of "no noise"


def test_compare_with_an_empty_methods_list(tmp_path, capsys):
    rc, err = run_cli(["compare", "--data", str(tmp_path), "--teacher", "t.pt", "--methods", " ,",
                       "--out", str(tmp_path / "cmp")], capsys)
    assert rc == 2 and "--methods names no method" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "cmp").exists()


def test_a_reader_that_leaves_ends_the_command_quietly():
    """`bifsmn ... | head -1`: once the reader has closed the pipe, the next print ends the
    command with the shell's SIGPIPE status and no traceback."""
    import subprocess
    import sys

    # buffered stdout (no PYTHONUNBUFFERED): a small output is written only at the end
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for args in (["summary", "dfsmn_teacher"], ["summary", "--list"]):
        proc = subprocess.Popen([sys.executable, "-m", "bifsmn.cli", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # before the interpreter has even imported bifsmn
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.wait(timeout=120) == 141, err
        assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_audio_folders_skip_hidden_files_and_follow_linked_folders(tmp_path):
    """What `detect DIR` and negative-speech folders read: hidden files and folders are left
    out (a macOS `._clip.wav` is not audio and stopped training), linked folders are followed
    (Python's rglob skipped them), a link loop ends, and a file given as the folder says so."""
    from bifsmn.audio import audio_files_in
    from bifsmn.data.archive import AudioSource

    x = np.zeros(1600, np.float32)
    root = tmp_path / "neg"
    write_wav(root / "a.wav", x)
    write_wav(root / "sub" / "b.flac", x, subtype="PCM_16")
    (root / "._a.wav").write_bytes(b"\x00\x05\x16\x07 not audio")
    write_wav(root / ".Trash" / "c.wav", x)
    write_wav(tmp_path / "elsewhere" / "d.wav", x)
    (root / "linked").symlink_to(tmp_path / "elsewhere")
    (root / "sub" / "loop").symlink_to(root)
    names = sorted(p.name for p in audio_files_in(root))
    assert names == ["a.wav", "b.flac", "d.wav"], names
    # a folder reached through a link and directly keeps its real path, whatever the OS's
    # listing order (the name feeds hash splits and cache keys)
    for k in range(6):
        tree = tmp_path / f"t{k}"
        write_wav(tree / f"real{k}" / "x.wav", x)
        (tree / f"alias{k}").symlink_to(tree / f"real{k}")
        assert audio_files_in(tree) == [tree / f"real{k}" / "x.wav"]
    assert sorted(Path(f).name for f in AudioSource(root).files) == names
    with pytest.raises(BifsmnError, match="a file, not a folder of audio files"):
        AudioSource(root / "a.wav")
