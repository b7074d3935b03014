"""Streaming evaluation: test-stream ground truth, event matching, threshold sweep, outputs."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from conftest import make_full_dataset, tone
from test_detect_support import SR, tiny_checkpoint

from bifsmn.audio import load_audio
from bifsmn.cli import main
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect.detector import Event
from bifsmn.detect.evaluate import (
    Segment,
    build_stream,
    compose_stream,
    det_limits,
    eval_stream,
    match_events,
    noise_bed,
    parse_snrs,
)
from bifsmn.errors import BifsmnError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_full_dataset(tmp_path_factory.mktemp("sc") / "sc", per_word=3)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ckpt")
    return tiny_checkpoint(root), tiny_checkpoint(root, trained=False)


# ------------------------------------------------------------------ ground truth
def test_compose_stream_places_clips_at_known_times():
    rng = np.random.default_rng(0)
    a, b = tone("yes", rng), tone("bed", rng, seconds=0.5)
    st = compose_stream(5 * SR, [(b, 3 * SR, "_unknown_", "b"), (a, SR // 2, "yes", "a")])
    assert [(s.label, s.start, s.end) for s in st.segments] == [
        ("yes", 0.5, 1.5), ("_unknown_", 3.0, 3.5)]
    assert [s.label for s in st.keywords] == ["yes"]
    np.testing.assert_array_equal(st.audio[SR // 2:SR // 2 + SR], a)
    np.testing.assert_array_equal(st.audio[3 * SR:3 * SR + SR // 2], b)
    assert not st.audio[:SR // 2].any() and not st.audio[int(3.5 * SR):].any()
    assert math.isinf(st.snr_db) and st.hours == pytest.approx(5 / 3600)
    with pytest.raises(BifsmnError, match="overlaps"):
        compose_stream(5 * SR, [(a, 0, "yes", "a"), (a, SR // 2, "yes", "a")])


def test_compose_stream_snr():
    rng = np.random.default_rng(1)
    clip = tone("no", rng)
    noise = noise_bed([rng.standard_normal(3 * SR).astype(np.float32)], 4 * SR, rng)
    assert np.sqrt(np.mean(noise.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-5)
    st = compose_stream(4 * SR, [(clip, SR, "no", "c")], noise, snr_db=10.0)
    added = st.audio.astype(np.float64).copy()
    added[SR:2 * SR] -= clip
    snr = 10 * np.log10(np.mean(clip.astype(np.float64) ** 2) / np.mean(added ** 2))
    assert snr == pytest.approx(10.0, abs=0.01)


def test_compose_stream_snr_modes():
    """``clip`` (default): every word is scaled to the clips' mean power, so each is at the SNR
    over the one noise level; ``global``: words keep their levels, the SNR holds on average."""
    rng = np.random.default_rng(2)
    loud, quiet = tone("yes", rng), 0.1 * tone("no", rng)   # about 20 dB apart
    noise = noise_bed([rng.standard_normal(3 * SR).astype(np.float32)], 5 * SR, rng)
    place = [(loud, SR // 2, "yes", "a"), (quiet, 3 * SR, "no", "b")]

    def power(x):
        return float(np.mean(np.asarray(x, np.float64) ** 2))

    level = (power(loud) + power(quiet)) / 2
    for mode in ("clip", "global"):
        st = compose_stream(5 * SR, place, noise, snr_db=10.0, snr_mode=mode)
        gain2 = level / 10.0                       # noise power: one level for the stream
        np.testing.assert_allclose(power(st.audio[:SR // 4]), gain2 * power(noise[:SR // 4]),
                                   rtol=1e-4)
        words = [st.audio[SR // 2:SR // 2 + SR] - np.sqrt(gain2) * noise[SR // 2:SR // 2 + SR],
                 st.audio[3 * SR:4 * SR] - np.sqrt(gain2) * noise[3 * SR:4 * SR]]
        snrs = [10 * np.log10(power(w) / gain2) for w in words]
        if mode == "clip":
            assert snrs == pytest.approx([10.0, 10.0], abs=0.01)
            # the words keep their shape: only a gain changes
            np.testing.assert_allclose(words[1] / np.sqrt(level / power(quiet)), quiet,
                                       atol=1e-5)
        else:
            np.testing.assert_allclose(words[0], loud, atol=1e-5)
            assert snrs[0] - snrs[1] == pytest.approx(10 * np.log10(power(loud) / power(quiet)),
                                                      abs=0.01)
            assert snrs[0] - snrs[1] > 15
            assert np.mean(10 ** (np.array(snrs) / 10)) == pytest.approx(10.0, rel=1e-3)
    # a clean stream keeps every word as recorded in both modes
    clean = compose_stream(5 * SR, place, snr_mode="clip")
    np.testing.assert_array_equal(clean.audio[3 * SR:4 * SR], quiet)
    with pytest.raises(BifsmnError, match="snr_mode"):
        compose_stream(5 * SR, place, noise, snr_db=10.0, snr_mode="speech")


def test_build_stream_truth_matches_audio(data):
    ds = SpeechCommands(data, 12)
    st = build_stream(ds, "training", minutes=0.5, snr_db=math.inf, seed=3)
    assert len(st.audio) == 30 * SR
    assert st.keywords and any(s.label == "_unknown_" for s in st.segments)
    for seg in st.segments:
        clip = load_audio(seg.source)
        i = round(seg.start * SR)
        assert round(seg.end * SR) - i == len(clip)
        np.testing.assert_array_equal(st.audio[i:i + len(clip)], clip)
        assert seg.label == (seg.source.split("/")[-2] if seg.label != "_unknown_" else
                             "_unknown_")
    gaps = [b.start - a.end for a, b in zip(st.segments, st.segments[1:], strict=False)]
    assert min(gaps) >= 0.5 - 1e-9 and max(gaps) <= 2.0 + 1e-9
    again = build_stream(ds, "training", minutes=0.5, snr_db=math.inf, seed=3)
    assert again.segments == st.segments
    noisy = build_stream(ds, "training", minutes=0.5, snr_db=10.0, seed=3)
    assert noisy.segments == st.segments and not np.array_equal(noisy.audio, st.audio)
    assert noisy.meta["snr_mode"] == "clip"
    flat = build_stream(ds, "training", minutes=0.5, snr_db=10.0, seed=3, snr_mode="global")
    assert flat.meta["snr_mode"] == "global" and not np.array_equal(flat.audio, noisy.audio)


# ------------------------------------------------------------------ matching
def test_match_events():
    truth = [Segment("yes", 10.0, 11.0), Segment("no", 20.0, 21.0), Segment("yes", 30.0, 31.0)]
    ev = [Event("yes", 10.3, 11.3, 0.9),   # hit
          Event("yes", 11.4, 12.4, 0.9),   # same utterance again: duplicate
          Event("no", 8.6, 9.6, 0.9),      # wrong label near a yes: false alarm
          Event("no", 21.4, 22.4, 0.9),    # starts 0.4 s after the keyword: hit (tolerance)
          Event("yes", 31.6, 32.6, 0.8),   # 0.6 s after: outside the 0.5 s tolerance
          Event("go", 40.0, 41.0, 0.8)]    # nothing there: false alarm
    s = match_events(ev, truth, hours=0.5)
    assert (s.hits, s.misses, s.false_alarms, s.duplicates, s.keywords) == (2, 1, 3, 1, 3)
    assert s.miss_rate == pytest.approx(1 / 3) and s.fa_per_hour == pytest.approx(6.0)
    # per keyword: (label, keywords in the stream, hits, false alarms raised as that label)
    assert s.by_keyword == (("go", 0, 0, 1), ("no", 1, 1, 1), ("yes", 2, 1, 1))
    wide = match_events(ev, truth, 0.5, tolerance=0.7)
    assert (wide.hits, wide.false_alarms, wide.duplicates) == (3, 2, 1)
    # two events on two close keywords of one label: both are hits, in time order
    close = [Segment("up", 1.0, 2.0), Segment("up", 2.6, 3.6)]
    two = match_events([Event("up", 1.2, 2.2, 1), Event("up", 2.4, 3.4, 1)], close, 1.0)
    assert (two.hits, two.duplicates, two.false_alarms) == (2, 0, 0)
    assert match_events([], truth, 0.5).miss_rate == 1.0


def _classify_by_full_scan(events, truth, tolerance):
    """The matching rule written as its plain definition: every keyword of the label scanned
    from the first (what classify_events did before session 70)."""
    segs = sorted(truth, key=lambda t: t.start)
    used, out = set(), []
    for ev in sorted(events, key=lambda e: (e.end, e.label)):
        match = seen = None
        for i, t in enumerate(segs):
            if t.label != ev.label:
                continue
            if t.start - tolerance >= ev.end:
                break
            if ev.start < t.end + tolerance:
                if i not in used:
                    match = i
                    break
                seen = i
        if match is not None:
            used.add(match)
        out.append((ev, "hit" if match is not None else "dup" if seen is not None else "fa"))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_event_matching_equals_its_full_scan(seed):
    """classify_events starts each event's scan past the keywords that end before it (linear
    time on long streams); the kinds are those of the full scan, also for overlapping keywords,
    keywords whose ends are out of start order, and events sharing an end."""
    from bifsmn.detect.metrics import classify_events

    rng = np.random.default_rng(seed)
    labels = ["yes", "no", "up"]
    truth = [Segment(str(rng.choice(labels)), float(s), float(s + rng.uniform(0.2, 3.0)))
             for s in np.sort(rng.uniform(0, 60, rng.integers(0, 40)))]
    ends = np.round(rng.uniform(0, 62, rng.integers(0, 60)), 1)  # rounded: shared ends
    events = [Event(str(rng.choice(labels)), float(max(e - rng.choice([1.0, 0.4]), 0)),
                    float(e), 0.9) for e in ends]
    if truth and seed % 2 == 0:  # a keyword with a NaN end matches nothing, and skips nothing
        truth[0] = Segment(truth[0].label, truth[0].start, math.nan)
    for tol in (0.0, 0.5, 2.0, math.inf):
        assert classify_events(events, truth, tol) == _classify_by_full_scan(events, truth, tol)


def test_display_names_and_short_streams(data):
    from bifsmn.detect.evaluate import _display_names

    assert _display_names(["runs/a/best.pt", "runs/b/best.pt", "x/tiny.bkws"]) == [
        "a/best.pt", "b/best.pt", "tiny.bkws"]
    with pytest.raises(BifsmnError, match="no keyword clip"):
        build_stream(SpeechCommands(data, 12), "training", minutes=0.01)


def test_parse_snrs():
    assert parse_snrs("10, 20,clean") == [10.0, 20.0, math.inf]
    with pytest.raises(BifsmnError, match="bad SNR"):
        parse_snrs("ten")


# ------------------------------------------------------------------ end to end
def test_eval_stream_outputs(data, ckpts, tmp_path):
    trained, untrained = ckpts
    out = tmp_path / "out"
    lines: list[str] = []
    results = eval_stream(data, [trained, untrained], blocks=[8, 1], minutes=1.5,
                          snrs=[20.0, math.inf], seed=0, split="training", out=out,
                          log=lines.append, gate=None)  # 1-s stationary tones: see test_gate
    assert len(results) == 8  # 2 models x 2 paths x 2 streams
    assert any("RTF" in ln for ln in lines)
    for name in ("sweep.csv", "det.png", "summary.json", "truth_20dB.csv", "truth_clean.csv"):
        assert (out / name).stat().st_size > 0
    assert (out / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len(rows) == sum(len(r.thresholds) for r in results)
    for r in results:
        miss = [s.miss_rate for s in r.scores]
        fa = [s.fa_per_hour for s in r.scores]
        assert all(0.0 <= m <= 1.0 for m in miss)
        assert all(a >= b for a, b in zip(fa, fa[1:], strict=False)), r.name  # FA/h falls
        assert r.rtf > 0
    good = [r for r in results if r.model == str(trained) and r.blocks == 8]
    for r in good:  # the tone model really detects the tone keywords
        assert min(s.miss_rate for s in r.scores) < 0.2
        op = r.operating_point(1e9)
        assert op is not None and op[1].miss_rate < 0.2
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["systems"]) == 8 and summary["keywords_per_stream"] > 10
    # JSON has no infinity: the clean stream's null SNR says what it is
    assert sorted((r["snr_db"] is None, r["clean"]) for r in summary["systems"]) == \
        [(False, False)] * 4 + [(True, True)] * 4
    for row in summary["systems"]:  # per-keyword counts add up to the point's totals
        for op in row["operating_points"].values():
            if op is None:
                continue
            per = op["per_keyword"]
            assert sum(v["keywords"] for v in per.values()) == summary["keywords_per_stream"]
            assert sum(v["keywords"] - v["misses"] for v in per.values()) == op["hits"]
            assert sum(v["false_alarms"] for v in per.values()) == op["false_alarms"]
    lo, hi, zero_x = det_limits(results)
    assert 0 < lo < zero_x < 1.0 < hi and math.isfinite(hi)
    # a later run into the folder: no truth file of an SNR it did not run stays behind
    (out / "truth_10dB.csv").write_text("an earlier run's other SNR\n")
    eval_stream(data, [trained], blocks=[8], minutes=1.5, snrs=[math.inf], seed=0,
                split="training", out=out, log=lines.append, gate=None)
    assert sorted(p.name for p in out.glob("truth_*.csv")) == ["truth_clean.csv"]


def test_eval_stream_holds_one_streams_audio_at_a_time(data, ckpts, monkeypatch):
    """Every SNR's stream is scored by every system and dropped before the next is mixed (a
    160-minute stream's audio is 614 MB); the results stay in model x path x SNR order."""
    import gc
    import weakref

    from bifsmn.detect import evaluate as ev

    made: list[weakref.ref] = []
    real = ev.build_stream

    def tracked(*args, **kw):
        gc.collect()
        assert all(r() is None for r in made), "an earlier stream's audio is still alive"
        st = real(*args, **kw)
        made.append(weakref.ref(st))
        return st

    monkeypatch.setattr(ev, "build_stream", tracked)
    trained, untrained = ckpts
    results = eval_stream(data, [trained, untrained], blocks=[8, 1], minutes=0.5,
                          snrs=[20.0, math.inf, 10.0], seed=0, split="training", gate=None,
                          log=lambda m: None)
    assert len(made) == 3
    assert [(r.model, r.blocks, r.snr_db) for r in results] == [
        (str(m), b, snr) for m in (trained, untrained) for b in (8, 1)
        for snr in (20.0, math.inf, 10.0)]


def test_eval_stream_cli(data, ckpts, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["eval-stream", "--data", str(data), "--model", str(ckpts[0]), "--minutes", "0.5",
               "--snr", "10", "--split", "training", "--out", str(out), "--blocks", "8", "2"])
    captured = capsys.readouterr()
    text = captured.out
    assert rc == 0
    assert "RTF" in text and "[8 blocks]" in text and "[2 blocks]" in text
    # progress on stderr, so that stdout holds the table alone
    assert "network ran on" in captured.err and "network ran on" not in text
    assert (out / "det.png").is_file() and (out / "sweep.csv").is_file()
    assert json.loads((out / "summary.json").read_text())["stream"]["snr_mode"] == "clip"
    rc = main(["eval-stream", "--data", str(data), "--model", str(ckpts[0]), "--minutes", "0.5",
               "--snr", "10", "--split", "training", "--out", str(out), "--snr-mode", "global"])
    assert rc == 0
    assert json.loads((out / "summary.json").read_text())["stream"]["snr_mode"] == "global"
    rc = main(["eval-stream", "--data", str(tmp_path / "nope"), "--model", str(ckpts[0])])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_eval_stream_cli_honours_smoothing_zero_and_records_it(data, ckpts, tmp_path, capsys):
    """--smooth-ms 0 means no smoothing (it had silently become 500: the same sweep as the
    default); summary.json says which smoothing and tolerance the rows were measured with."""
    base = ["eval-stream", "--data", str(data), "--model", str(ckpts[0]), "--minutes", "0.5",
            "--snr", "clean", "--split", "training", "--blocks", "8"]
    sweeps = {}
    for ms in ("0", "500"):
        out = tmp_path / f"s{ms}"
        assert main([*base, "--smooth-ms", ms, "--out", str(out)]) == 0
        settings = json.loads((out / "summary.json").read_text())["settings"]
        assert settings["smooth_ms"] == float(ms) and settings["tolerance_s"] == 0.5
        sweeps[ms] = (out / "sweep.csv").read_text()
    assert sweeps["0"] != sweeps["500"]
    capsys.readouterr()
    for bad, flag in (("nan", "--fa-target"), ("-1", "--tolerance-ms"), ("-5", "--smooth-ms"),
                      ("nan", "--smooth-ms")):
        assert main([*base, flag, bad, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("FA targets" in err[0] or flag in err[0]), err
    assert not (tmp_path / "bad").exists()


def test_eval_stream_writes_its_outputs_together_at_the_end(data, ckpts, tmp_path, monkeypatch):
    """A run killed while scoring writes nothing (a folder never mixes the truth of one run with
    the results of another), one killed while writing leaves no summary.json; an --out that
    cannot hold the results fails before the work."""
    from bifsmn.detect import evaluate as ev

    def killed(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    out = tmp_path / "out"
    with monkeypatch.context() as m:
        m.setattr(ev, "stream_posteriors", killed)
        with pytest.raises(KeyboardInterrupt):
            eval_stream(data, [ckpts[0]], minutes=0.5, snrs=[math.inf], split="training",
                        out=out, log=lambda _: None)
    assert not out.exists() or not any(out.iterdir())
    # a kill among the final writes: the earlier run's summary.json, which marks a complete
    # set, is gone before the first new file lands (session 70: it stayed beside new rows)
    out.mkdir(exist_ok=True)
    (out / "summary.json").write_text("{}")
    with monkeypatch.context() as m:
        m.setattr(ev, "plot_det", killed)
        with pytest.raises(KeyboardInterrupt):
            eval_stream(data, [ckpts[0]], minutes=0.5, snrs=[math.inf], split="training",
                        out=out, log=lambda _: None)
    assert (out / "sweep.csv").is_file() and not (out / "summary.json").exists()
    (tmp_path / "file").write_text("x")
    with monkeypatch.context() as m:
        m.setattr(ev, "build_stream", killed)  # never reached
        with pytest.raises(BifsmnError, match="--out is a file"):
            eval_stream(data, [ckpts[0]], minutes=0.5, out=tmp_path / "file")
        (tmp_path / "o2").mkdir()
        (tmp_path / "o2" / "sweep.csv").mkdir()
        with pytest.raises(BifsmnError, match="sweep.csv: output path is a directory"):
            eval_stream(data, [ckpts[0]], minutes=0.5, out=tmp_path / "o2")


def test_eval_stream_cli_defaults_to_the_bundled_model_and_takes_the_bundled_verifier(
        data, tmp_path, capsys, monkeypatch):
    """No --model: the bundled model; --verifier bundled: the cascade at its stored points, on
    both paths, with the verifier file read (and hashed) once for all of them."""
    from bifsmn.detect.cascade import Verifier

    loads = []
    real = Verifier.load.__func__
    monkeypatch.setattr(Verifier, "load",
                        classmethod(lambda cls, *a, **k: loads.append(a) or real(cls, *a, **k)))
    out = tmp_path / "bundled"
    rc = main(["eval-stream", "--data", str(data), "--minutes", "0.25", "--snr", "clean",
               "--split", "training", "--out", str(out), "--verifier", "bundled",
               "--blocks", "8", "2"])
    assert rc == 0, capsys.readouterr().err
    rows = json.loads((out / "summary.json").read_text())["systems"]
    pair = "verifier.bkws+verifier2.bkws"  # the bundled verifier: two networks' mean logits
    assert [r["system"] for r in rows] == [f"bifsmnv2.bkws [{b} blocks] + {pair}"
                                           for b in (8, 2)]
    assert all(set(r["stored_points"]) == {"0.5", "1"} for r in rows)  # stored points evaluated
    assert len(loads) == 1
