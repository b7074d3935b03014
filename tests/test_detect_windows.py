"""``bifsmn detect --save-windows``: every event's scored window saved as audio (hard-negative
mining), exactly the samples the model saw, listed in windows.csv, readable as negatives."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from bifsmn.audio import load_audio
from bifsmn.cli import main
from bifsmn.data.archive import AudioSource
from bifsmn.detect.windows import MANIFEST, WindowSaver
from bifsmn.errors import BifsmnError

SR, W = 16000, 16000


def _ramp(n: int) -> np.ndarray:
    return ((np.arange(n) % 20000) / 40000.0 - 0.25).astype(np.float32)


def test_saved_windows_are_the_scored_samples(tmp_path):
    audio = _ramp(40000)  # 2.5 s
    saver = WindowSaver(tmp_path / "w", SR, W, keep_seconds=2.5)
    saver.start("rec.wav")
    for i in range(0, audio.size, 7000):  # ragged blocks
        saver.feed(audio[i:i + 7000])
    cases = [  # (event start, end) -> the window [end - W, end) of the stream, zeros outside
        ((0.0, 0.5), np.concatenate([np.zeros(8000, np.float32), audio[:8000]])),
        ((1.3, 2.3), audio[20800:36800]),
        ((2.0, 2.5), np.concatenate([audio[32000:], np.zeros(8000, np.float32)])),  # flushed
    ]
    for (s, e), want in cases:
        _, got = saver.window_of(s, e)
        np.testing.assert_array_equal(got, want)
        path = saver.save("yes", s, e, 0.97)
        x, sr = sf.read(str(path), dtype="float32")
        assert sr == SR and x.shape == (W,)
        np.testing.assert_allclose(x, want, atol=1 / 32768)
    # a window older than the kept audio is refused, not silently zero-filled
    saver.feed(np.zeros(10000, np.float32))
    with pytest.raises(BifsmnError, match="no longer in memory"):
        saver.window_of(0.0, 0.5)
    saver.write_manifest()
    rows = list(csv.DictReader((tmp_path / "w" / MANIFEST).open()))
    assert [r["end"] for r in rows] == ["0.500", "2.300", "2.500"]
    assert {r["label"] for r in rows} == {"yes"} and all(r["source"] == "rec.wav" for r in rows)
    # a second run over the folder adds to the list; a file that is not such a list is refused
    again = WindowSaver(tmp_path / "w", SR, W)
    again.start("other.wav")
    again.feed(audio)
    again.save("no", 1.0, 2.0, 0.9)
    again.write_manifest()
    assert len(list(csv.DictReader((tmp_path / "w" / MANIFEST).open()))) == 4
    # two runs into one folder at once (session 70): the one that writes its list last keeps
    # the rows the other wrote after it started, instead of its own start-time copy
    a, b = WindowSaver(tmp_path / "w", SR, W), WindowSaver(tmp_path / "w", SR, W)
    for saver, name, end in ((a, "a.wav", 1.1), (b, "b.wav", 1.2)):
        saver.start(name)
        saver.feed(audio)
        saver.save("yes", end - 1.0, end, 0.8)
    b.write_manifest()
    a.write_manifest()
    rows = list(csv.DictReader((tmp_path / "w" / MANIFEST).open()))
    assert len(rows) == 6 and {r["source"] for r in rows} >= {"a.wav", "b.wav"}


def test_events_sharing_a_window_are_one_file_counted_once(tmp_path):
    """A file shorter than a window, refractory under 1 s: its flushed windows all end where
    the file ends, so their events are one clip; the count said 4 saved over 1 file."""
    saver = WindowSaver(tmp_path / "w", SR, W)
    saver.start("short.wav")
    saver.feed(_ramp(9600))  # 0.6 s
    paths = {saver.save("yes", 0.0, 0.6, 0.9 + k / 100) for k in range(4)}
    saver.save("no", 0.0, 0.6, 0.8)  # another label: its own file
    assert len(paths) == 1 and saver.saved == 2 and saver.shared == 3
    saver.write_manifest()
    assert len(list((tmp_path / "w").glob("*.wav"))) == 2
    assert len(list(csv.DictReader((tmp_path / "w" / MANIFEST).open()))) == 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / MANIFEST).write_text("a,b\n1,2\n")
    with pytest.raises(BifsmnError, match="not a saved-windows list"):
        WindowSaver(tmp_path / "bad", SR, W)
    (tmp_path / "bad" / MANIFEST).write_text("a,b\n")  # a header alone is not ours either
    with pytest.raises(BifsmnError, match="not a saved-windows list"):
        WindowSaver(tmp_path / "bad", SR, W)
    assert (tmp_path / "bad" / MANIFEST).read_text() == "a,b\n"
    (tmp_path / "file").write_text("x")
    with pytest.raises(BifsmnError, match="is a file, not a folder for --save-windows"):
        WindowSaver(tmp_path / "file", SR, W)
    # found when the saver is made, before any audio is read or window written
    (tmp_path / "odd" / MANIFEST).mkdir(parents=True)
    with pytest.raises(BifsmnError, match="windows.csv there is not a file"):
        WindowSaver(tmp_path / "odd", SR, W)
    with pytest.raises(BifsmnError, match="lies under a file .*, not a folder for --save-w"):
        WindowSaver(tmp_path / "file" / "sub", SR, W)


def test_detect_save_windows_cli(tmp_path, capsys):
    rng = np.random.default_rng(0)
    t = np.arange(3 * SR) / SR
    x = (0.2 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t))
         + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    src = tmp_path / "talk.wav"
    sf.write(str(src), x, SR, subtype="FLOAT")
    out = tmp_path / "mined"
    # threshold 0: every keyword fires (refractory permitting): many windows to check
    assert main(["detect", str(src), "--threshold", "0", "--no-gate", "--refractory-ms", "700",
                 "--save-windows", str(out)]) == 0
    err = capsys.readouterr().err
    rows = list(csv.DictReader((out / MANIFEST).open()))
    assert rows and f"{len(rows)} windows saved to {out}" in err
    audio = load_audio(src)
    padded = np.concatenate([np.zeros(W, np.float32), audio, np.zeros(W, np.float32)])
    for r in rows:
        start, end = float(r["start"]), float(r["end"])
        stop = round(end * SR) if start == 0.0 else round(start * SR) + W
        clip, sr = sf.read(str(out / r["clip"]), dtype="float32")
        assert sr == SR and r["source"] == str(src)
        np.testing.assert_allclose(clip, padded[stop:stop + W], atol=1 / 32768)
    # the folder is a negative-speech source as it stands (data.negatives=[DIR])
    assert len(AudioSource(out).files) == len(rows)
    quiet = tmp_path / "quiet.wav"  # silence: the gate passes no window, so no event
    sf.write(str(quiet), np.zeros(2 * SR, np.float32), SR)
    assert main(["detect", str(quiet), "--save-windows", str(tmp_path / "none")]) == 0
    err = capsys.readouterr().err
    assert f"no windows saved to {tmp_path / 'none'} (no events)" in err and "list:" not in err
    assert not (tmp_path / "none" / MANIFEST).exists()
    assert main(["detect", "--mic", "--save-windows", str(out)]) == 2
    assert "--save-windows works on audio FILEs" in capsys.readouterr().err
    assert main(["detect", "--mic", "--closest"]) == 2
    assert "--closest works on audio FILEs" in capsys.readouterr().err


def test_closest_reports_the_threshold_that_would_have_fired(tmp_path, capsys):
    # --closest: the keyword window nearest its threshold, with its smoothed score; that score,
    # given as the keyword's threshold, fires exactly there, and anything above it never fires.
    # The bundled 1-bit model alone (--verifier none): the hum wakes no verifier, so in the
    # default two-stage detector every keyword score is 0 and a threshold of 0 fires everywhere
    rng = np.random.default_rng(1)
    t = np.arange(2 * SR) / SR
    x = (0.1 * np.sin(2 * np.pi * 300 * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    src = tmp_path / "hum.wav"
    sf.write(str(src), x, SR, subtype="FLOAT")
    assert main(["detect", str(src), "--no-gate", "--closest", "--json", "--verifier", "none"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    close = next(r for r in rows if "closest" in r)
    ev, thr = close["closest"], close["threshold"]
    assert close["file"] == str(src) and 0.0 <= ev["score"] <= 1.0 and 0.0 <= thr <= 1.0
    k, score = ev["label"], ev["score"]
    from bifsmn.detect import Detector  # the API gives the same after detect_file's reset
    det = Detector(verifier=None, gate=None)
    det.detect_file(src)
    api_ev, api_thr = det.closest()
    assert (api_ev.label, api_ev.score, api_thr) == (k, score, thr)
    assert main(["detect", str(src), "--no-gate", "--json", "--verifier", "none", "--threshold-for",
                 f"{k}={score!r}"]) == 0
    fired = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["label"], e["start"], e["end"]) for e in fired if e["label"] == k] \
        == [(k, ev["start"], ev["end"])]
    assert main(["detect", str(src), "--no-gate", "--closest"]) == 0  # two stages: 0 and why
    assert "no window woke the verifier" in capsys.readouterr().err
    # the text line's score (rounded down) fires too
    assert main(["detect", str(src), "--no-gate", "--closest", "--verifier", "none"]) == 0
    shown = capsys.readouterr().err.split(f"closest {k} ")[1].split()[0]
    assert float(shown) <= score and score - float(shown) < 1e-4
    assert main(["detect", str(src), "--no-gate", "--json", "--verifier", "none",
                 "--threshold-for", f"{k}={shown}"]) == 0
    assert k in {json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()}
    # digital silence never reaches the network: no keyword is named
    quiet = tmp_path / "quiet.wav"
    sf.write(str(quiet), np.zeros(SR, np.float32), SR)
    assert main(["detect", str(quiet), "--closest", "--verifier", "none"]) == 0
    assert "no keyword scored above 0 (the gate passed no window" in capsys.readouterr().err
    # with the verifier (the default) too: the gate's reason, not "no window woke the verifier"
    assert main(["detect", str(quiet), "--closest"]) == 0
    assert "no keyword scored above 0 (the gate passed no window" in capsys.readouterr().err
    assert main(["detect", str(quiet), "--closest", "--json", "--verifier", "none"]) == 0
    assert {"file": str(quiet), "closest": None, "threshold": None} in [
        json.loads(line) for line in capsys.readouterr().out.splitlines()]
    if score < 1.0:
        above = float(np.nextafter(score, 1.0))
        assert main(["detect", str(src), "--no-gate", "--json", "--verifier", "none",
                     "--threshold-for", f"{k}={above!r}"]) == 0
        assert k not in {json.loads(line)["label"]
                         for line in capsys.readouterr().out.splitlines()}


def test_flags_that_would_do_nothing_are_refused(tmp_path, capsys):
    # a flag the chosen mode ignores is an error naming it, and a bad value is refused before
    # any note about the operating point could mention it
    src = tmp_path / "quiet.wav"
    sf.write(str(src), np.zeros(SR, np.float32), SR)
    cases = [(["--seconds", "3"], "--seconds applies to --mic only"),
             (["--device", "1"], "--device applies to --mic only"),
             (["--verifier", "none", "--wake", "0.5"], "apply to a two-stage detector only"),
             (["--threshold", "1.5"], "threshold must be in [0, 1] (got 1.5)"),
             (["--hop-ms", "0"], "hop must be between")]
    for flags, message in cases:
        assert main(["detect", str(src), *flags]) == 2, flags
        err = capsys.readouterr().err
        assert message in err and "may not hold" not in err, (flags, err)
    # an explicit threshold on the two-stage detector still says a verifier decides
    assert main(["detect", str(src), "--threshold", "0.9"]) == 0
    err = capsys.readouterr().err
    assert "threshold 0.9; verifier" in err and "calibrated on" not in err


def test_a_source_whose_name_is_not_utf8(tmp_path):
    """A POSIX name that is not UTF-8 (surrogate-escaped in Python) names its clips and list
    row like any other: the clip name keeps ASCII, the list row shows the byte as \\xNN."""
    import os

    saver = WindowSaver(tmp_path / "w", SR, W)
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/rec\xfe.wav")
    saver.start(odd)
    saver.feed(_ramp(2 * SR))
    clip = saver.save("yes", 0.5, 1.5, 0.9)
    saver.write_manifest()
    assert clip.name.isascii() and clip.name.startswith("rec_-")
    rows = list(csv.DictReader((tmp_path / "w" / MANIFEST).open(encoding="utf-8")))
    assert rows[0]["source"].endswith("rec\\xfe.wav")
