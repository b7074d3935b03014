"""Operating points: calibration, storage in .pt and .bkws, selection by Detector and CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import make_full_dataset
from test_detect_support import tiny_checkpoint, tone_stream

from bifsmn.cli import main
from bifsmn.detect import Detector, operating
from bifsmn.detect.calibrate import (
    allocate,
    allocate_shared,
    calibrate,
    pooled_false_alarms,
)
from bifsmn.detect.evaluate import eval_stream, negative_files
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cal")
    data = make_full_dataset(root / "sc", per_word=3)
    neg = root / "neg" / "sub"
    neg.mkdir(parents=True)
    for i in range(40):  # "other speech": chirps of 2 s
        t = np.arange(2 * 16000) / 16000
        sf.write(neg / f"n{i}.flac", (0.2 * np.sin(2 * np.pi * (300 + 40 * i) * t * (1 + t)))
                 .astype(np.float32), 16000)
    return root, data, root / "neg", tiny_checkpoint(root)


def fake_ops(th_1: float = 0.7, th_5: float = 0.3) -> dict:
    kws = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
    pts = [{"fa_per_hour": f, "smooth_ms": ms, "thresholds": {k: th for k in kws}}
           for f, th, ms in ((0.5, 0.9, 500.0), (1.0, th_1, 300.0), (5.0, th_5, 700.0))]
    return {"format": operating.FORMAT, "version": operating.VERSION,
            "default_fa_per_hour": 1.0, "data": {"description": "test"}, "paths": {"8": pts}}


def test_allocate_spends_the_budget_where_it_buys_most():
    # thresholds ascending; keyword 0 gains 5 hits for 1 FA, keyword 1 gains 1 hit for 1 FA
    hits = np.array([[10, 10, 5], [4, 3, 3]])
    fas = np.array([[3, 1, 0], [2, 1, 0]])
    assert list(allocate(hits, fas, 0)) == [2, 2]
    assert list(allocate(hits, fas, 1)) == [1, 2]
    assert list(allocate(hits, fas, 2)) == [1, 2]  # keyword 1's next step buys no hit
    assert list(allocate(hits, fas, 3)) == [1, 0]
    assert list(allocate(hits, fas, 10)) == [1, 0]  # never spend false alarms for nothing
    # free moves (same FA count, lower threshold) are always taken
    assert list(allocate(np.array([[3, 2, 1]]), np.array([[0, 0, 0]]), 0)) == [0]
    # per condition (e.g. clean and 10 dB): keyword 0's move costs its FA in condition 1 only
    fas2 = np.array([[[0, 0, 0], [1, 1, 0]], [[3, 1, 0], [1, 0, 0]]])
    assert list(allocate(hits, fas2, [0, 1])) == [1, 2]
    assert list(allocate(hits, fas2, [1, 1])) == [1, 2]  # keyword 1 needs a 2nd in cond. 1
    assert list(allocate(hits, fas2, [1, 3])) == [1, 0]
    assert list(allocate(hits, fas2, [0, 3])) == [1, 2]  # cond. 0 has no room for keyword 1
    with pytest.raises(BifsmnError, match="budgets"):
        allocate(hits, fas2, 1)


def test_shared_threshold_is_the_lowest_that_fits_every_condition():
    fas = np.array([[3, 1, 0], [2, 1, 0]])  # (K, T), thresholds ascending
    assert allocate_shared(fas, 0) == 2
    assert allocate_shared(fas, 2) == 1
    assert allocate_shared(fas, 5) == 0
    fas2 = np.array([[[0, 0, 0], [1, 1, 0]], [[3, 1, 0], [1, 0, 0]]])  # (C, K, T)
    assert allocate_shared(fas2, [1, 1]) == 1
    assert allocate_shared(fas2, [0, 4]) == 2  # condition 0 has no room below the top
    assert allocate_shared(np.array([[1, 1]]), 0) == 1  # nothing fits: the highest
    with pytest.raises(BifsmnError, match="budgets"):
        allocate_shared(fas2, 1)


def test_pooled_false_alarms_never_assume_a_keyword_safer_than_the_mean():
    fas = np.array([[4, 2, 0], [0, 0, 0]])
    est = pooled_false_alarms(fas)
    assert est.tolist() == [[4, 2, 0], [2, 1, 0]]  # keyword 1's flat curve costs the mean
    assert pooled_false_alarms(fas[None], 0.5)[0].tolist() == [[4, 2, 0], [1, 0.5, 0]]
    # the allocation with pooled costs stops keyword 1 where its own curve says "free"
    hits = np.array([[5, 4, 1], [6, 5, 2]])
    assert list(allocate(hits, fas, 1)) == [2, 0]
    assert list(allocate(hits, est, 1)) == [2, 1]
    # ordered by the estimates, budgeted on the counts: stops before the first move that the
    # counted false alarms do not fit (keyword 0's step to index 1 costs 2 counted FAs)
    assert list(allocate(hits, est, 1, actual=fas)) == [2, 1]
    assert list(allocate(hits, est, 2, actual=fas)) == [1, 0]
    assert list(allocate(hits, est, 0, actual=fas)) == [2, 1]  # a move no count pays for


@pytest.mark.parametrize("rule", ["shared", "keyword", None])
def test_calibrate_rules_keep_the_budget_on_counted_false_alarms(setup, rule):
    _, data, neg, ckpt = setup
    kw = {} if rule is None else {"rule": rule}
    ops = calibrate(ckpt, data, negatives=neg, blocks=[8], minutes=1.0, snrs=[math.inf],
                    split="training", streams=1, confidence=None, write=False,
                    log=lambda *_: None, **kw)
    rule = rule or "pooled"  # the default since session 16
    assert ops["data"]["rule"] == rule and f"thresholds: {rule} rule" in ops["data"]["description"]
    for p in ops["paths"]["8"]:
        c = p["calibration"]
        assert c["false_alarms"] <= c["budget"] and c["reached"]
        if rule == "shared":
            assert len(set(p["thresholds"].values())) == 1
    with pytest.raises(BifsmnError, match="unknown threshold rule"):
        calibrate(ckpt, data, blocks=[8], rule="nope", write=False)


def test_negative_files_use_the_validation_share(setup):
    _, _, neg, _ = setup
    from bifsmn.data.archive import hash_split

    val = negative_files(neg, "validation")
    assert val and all(hash_split(str(p.relative_to(neg))) == "validation"
                       for p in map(__import__("pathlib").Path, val))
    assert not set(val) & set(negative_files(neg, "training"))


def test_calibrate_stores_points_in_pt_and_bkws(setup, tmp_path):
    from bifsmn.engine import Engine, export_checkpoint
    from bifsmn.engine.format import read_file

    _, data, neg, ckpt = setup
    pt = tmp_path / "m.pt"
    pt.write_bytes(ckpt.read_bytes())
    lines: list[str] = []
    ops = calibrate(pt, data, negatives=neg, blocks=[8, 2], minutes=1.0,
                    snrs=[math.inf, 20.0], split="training", log=lines.append, streams=1,
                    confidence=None)  # the point estimate: a 1-min stream shows no bound
    assert any("network ran on" in ln for ln in lines)
    stored = load_checkpoint(pt)["operating_points"]
    assert stored == json.loads(json.dumps(ops))
    for b in ("8", "2"):
        pts = stored["paths"][b]
        assert [p["fa_per_hour"] for p in pts] == [0.5, 1.0, 5.0]
        for p in pts:
            c = p["calibration"]
            assert set(p["thresholds"]) == {"yes", "no", "up", "down", "left", "right", "on",
                                            "off", "stop", "go"}
            assert all(0 <= v <= 1 for v in p["thresholds"].values())
            assert c["reached"] == all(d["false_alarms"] <= d["budget"]
                                       for d in c["conditions"])
            assert [d["snr"] for d in c["conditions"]] == ["clean", "20 dB"]
            assert sum(d["false_alarms"] for d in c["conditions"]) == c["false_alarms"]
            assert 0 <= c["false_alarm_sources"] <= c["false_alarms"]
            assert (c["false_alarm_sources"] > 0) == (c["false_alarms"] > 0)
            assert c["negative_clips"] > 0 and 0 <= c["negative_rate"] <= 1
    assert "negative-speech clips" in stored["data"]["description"]
    assert stored["paths"]["8"][0]["calibration"]["hits"] > 0  # the tone model finds tones
    # export carries the points into the .bkws; the engine still loads it
    bk = export_checkpoint(pt, tmp_path / "m.bkws")
    assert Engine(bk).metadata["operating_points"] == stored
    # calibrating a .bkws rewrites only meta.json
    bk2 = tmp_path / "plain.bkws"
    export_checkpoint(ckpt, bk2)
    before = read_file(bk2)
    x = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32) * 0.1
    logits = Engine(bk2).predict(x)
    operating.write(bk2, fake_ops())
    after = read_file(bk2)
    assert list(after) == list(before)
    assert all(after[k].data == before[k].data for k in before if k != "meta.json")
    meta = json.loads(after["meta.json"].text())
    assert meta["operating_points"] == fake_ops() and meta["source"]
    np.testing.assert_array_equal(Engine(bk2).predict(x), logits)
    assert operating.read(bk2) == fake_ops()


def test_detector_uses_stored_points(setup, tmp_path, caplog, monkeypatch):
    _, _, _, ckpt = setup
    pt = tmp_path / "m.pt"
    pt.write_bytes(ckpt.read_bytes())
    operating.write(pt, fake_ops())
    det = Detector(pt)
    assert det.operating_point["fa_per_hour"] == 1.0
    assert set(det.thresholds.values()) == {0.7} and det.smooth_for["yes"] == 3
    assert "1 FA/h" in det.threshold_source
    det = Detector(pt, fa_per_hour=5)
    assert set(det.thresholds.values()) == {0.3} and det.smooth_for["yes"] == 7
    det = Detector(pt, thresholds={"yes": 0.2})  # per-keyword override on the stored point
    assert det.thresholds["yes"] == 0.2 and det.thresholds["no"] == 0.7
    det = Detector(pt, threshold=0.6)  # an explicit threshold replaces the point
    assert det.operating_point is None and set(det.thresholds.values()) == {0.6}
    assert det.smooth_for["yes"] == 5
    with pytest.raises(BifsmnError, match="no stored operating point at 2 FA/h"):
        Detector(pt, fa_per_hour=2)
    with pytest.raises(BifsmnError, match="not both"):
        Detector(pt, threshold=0.5, fa_per_hour=1)
    with pytest.raises(BifsmnError, match="no stored operating points for 2 blocks"):
        Detector(pt, blocks=2, fa_per_hour=1)
    # no stored points: the old default, said once (per process: forget what earlier tests
    # had said, so the note is due here)
    from bifsmn.detect import detector as detector_mod

    monkeypatch.setattr(detector_mod, "_NOTED", set())
    caplog.clear()
    with caplog.at_level("WARNING"):
        a, b = Detector(ckpt), Detector(ckpt)
    assert set(a.thresholds.values()) == {0.5} and b.operating_point is None
    assert sum("no stored operating points" in r.message for r in caplog.records) == 1
    with pytest.raises(BifsmnError, match="no stored operating points"):
        Detector(ckpt, fa_per_hour=1)
    # a damaged record is a one-line error
    bad = tmp_path / "bad.pt"
    bad.write_bytes(ckpt.read_bytes())
    ops = fake_ops()
    ops["paths"]["8"][0]["thresholds"]["yes"] = 7
    ck = load_checkpoint(bad)
    ck["operating_points"] = ops
    from bifsmn.train.checkpoint import save_checkpoint

    save_checkpoint(bad, ck)
    with pytest.raises(BifsmnError, match="bad thresholds"):
        Detector(bad)


def test_detector_runs_at_the_hop_and_refractory_its_points_were_counted_with(
        setup, tmp_path, caplog, capsys, monkeypatch):
    """A record calibrated with ``--hop-ms 50 --refractory-ms 400`` is run at those values
    unless told otherwise (then with a note: its false-alarm rates were counted at the record's);
    a record without them (older files) and no record: 100 / 1000 ms."""
    _, _, _, ckpt = setup
    pt = tmp_path / "m.pt"
    pt.write_bytes(ckpt.read_bytes())
    operating.write(pt, {**fake_ops(), "hop_ms": 50.0, "refractory_ms": 400.0})
    det = Detector(pt)
    assert det.hop == 800 and det.refractory == 6400 and det.smooth_for["yes"] == 6
    with caplog.at_level("WARNING"):
        det = Detector(pt, hop_ms=100.0)
    assert det.hop == 1600 and det.refractory == 6400
    assert any("calibrated with hop 50 ms" in r.message for r in caplog.records)
    # the smoothing alike: a note, and threshold_source names the smoothing in use
    assert "(smoothing 300 ms" in det.threshold_source
    with caplog.at_level("WARNING"):
        det = Detector(pt, smooth_ms=0)
    assert det.smooth_for["yes"] == 1 and "smoothing 0 ms, calibrated at 300 ms" in \
        det.threshold_source
    assert any("calibrated with smoothing 300 ms; at 0 ms" in r.message for r in caplog.records)
    assert Detector(ckpt).hop == 1600 and Detector(ckpt).refractory == 16000  # no record
    wav = tmp_path / "a.wav"
    sf.write(wav, tone_stream([("yes", 0.5)], 2.0), 16000)
    assert main(["detect", str(wav), "--model", str(pt), "--json"]) == 0
    capsys.readouterr()
    old = tmp_path / "old.pt"
    old.write_bytes(ckpt.read_bytes())
    operating.write(old, fake_ops())  # no hop_ms / refractory_ms in the record
    assert Detector(old).hop == 1600 and Detector(old).refractory == 16000
    # eval-stream runs each model at its record's hop too (a note where told otherwise)
    from bifsmn.detect import evaluate

    hops, lines = [], []
    real = evaluate.hop_samples
    monkeypatch.setattr(evaluate, "hop_samples", lambda ms, *a: hops.append(ms) or real(ms, *a))
    _, data, neg, _ = setup
    for given in (None, 100.0):
        eval_stream(data, [pt, old], minutes=0.5, snrs=[math.inf], split="training",
                    negatives=neg, hop_ms=given, log=lines.append)
    assert hops == [50.0, 100.0, 100.0, 100.0]
    assert sum("calibrated with hop 50 ms" in ln for ln in lines) == 1


def test_cli_calibrate_detect_and_eval_stream(setup, tmp_path, capsys):
    _, data, neg, ckpt = setup
    out = tmp_path / "cal.pt"
    rc = main(["calibrate", str(ckpt), "--data", str(data), "--negatives", str(neg),
               "--minutes", "0.5", "--snr", "clean", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "operating_points" not in load_checkpoint(ckpt)  # the source is untouched
    assert operating.read(out)["paths"]["8"]
    # the results on stdout, progress and the not-certified warning on stderr (session 70:
    # all on stdout, where detect has its warning on stderr)
    assert "operating points written to" in captured.out and "FA/h: smoothing" in captured.out
    assert "not certified" in captured.err and "not certified" not in captured.out
    assert "network ran on" in captured.err and "network ran on" not in captured.out
    wav = tmp_path / "a.wav"
    sf.write(wav, tone_stream([("yes", 0.5)], 3.0), 16000)
    assert main(["detect", str(wav), "--model", str(out), "--fa-per-hour", "5"]) == 0
    err = capsys.readouterr().err.splitlines()
    # the point on one short line, the calibration streams' description on the next
    assert "operating point 5 FA/h" in err[0] and "streams" not in err[0]
    assert err[1].startswith("bifsmn: calibrated on ") and "keywords" in err[1]
    assert main(["detect", str(wav), "--model", str(out), "--fa-per-hour", "3"]) == 2
    assert "no stored operating point at 3 FA/h" in capsys.readouterr().err
    res = eval_stream(data, [out], minutes=0.5, snrs=[math.inf], split="training",
                      negatives=neg, fa_target=[0.5, 1.0], out=tmp_path / "ev", log=print)
    r = res[0]
    assert [t for t, _ in r.stored] == [0.5, 1.0]
    assert all(s.negatives > 0 for s in r.scores)
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    row = summary["systems"][0]
    assert set(row["operating_points"]) == {"0.5", "1"} and set(row["stored_points"]) == {
        "0.5", "1"}
    assert summary["negative_clips_per_stream"] > 0
    assert 0 < row["scored_fraction"] <= 1


# ------------------------------------------------------------------ issue 13: budgets, gate
def test_poisson_upper_bound_and_conservative_budget():
    from bifsmn.detect.calibrate import fa_budget, poisson_upper

    assert poisson_upper(0, 0.9) == pytest.approx(math.log(10), rel=1e-9)
    ups = [poisson_upper(c, 0.9) for c in range(30)]
    assert all(b > a > 0 for a, b in zip(ups, ups[1:], strict=False))
    assert all(u > c for c, u in enumerate(ups))  # the bound lies above the count
    assert fa_budget(1.0, 2.0) == 2 and fa_budget(0.5, 2.0) == 1  # point estimate: floor
    assert fa_budget(1.0, 2.0, 0.9) == -1  # 0 events in 2 h cannot show <= 1/h at 90 %
    b = fa_budget(1.0, 20.0, 0.9)
    assert 0 <= b < 20 and ups[b] <= 20.0 < ups[b + 1]
    with pytest.raises(BifsmnError, match="confidence"):
        poisson_upper(1, 1.0)


def test_calibrate_several_streams_per_snr_and_confidence(setup, tmp_path):
    _, data, neg, ckpt = setup
    lines: list[str] = []
    ops = calibrate(ckpt, data, negatives=neg, minutes=0.5, snrs=[math.inf, 20.0],
                    split="training", streams=2, confidence=0.9, write=False,
                    log=lines.append)
    d = ops["data"]
    assert d["streams_per_snr"] == 2 and d["confidence"] == 0.9
    assert d["snr_db"] == [None, None, 20.0, 20.0] and d["hours"] == pytest.approx(2 / 60)
    assert sum("network ran on" in ln for ln in lines) == 4
    assert [ln.split(",")[0] for ln in lines if ln.startswith("audio stream ")] == [
        "audio stream 2/4", "audio stream 3/4", "audio stream 4/4"]  # progress with an ETA
    assert "4 x 0.5-min streams" in d["description"] and "upper bound" in d["description"]
    assert d["snr_mode"] == "clip" and "SNR per word" in d["description"]
    for p in ops["paths"]["8"]:  # 2 minutes cannot show any rate at 90 %: highest thresholds
        c = p["calibration"]
        assert c["budget"] == -2 and not c["reached"] and c["confidence"] == 0.9
        assert [d["budget"] for d in c["conditions"]] == [-1, -1]
        # per SNR: keywords and misses add up to the pooled figures
        assert sum(d["keywords"] for d in c["conditions"]) == c["keywords"]
        assert sum(d["miss_rate"] * d["keywords"] for d in c["conditions"]) == pytest.approx(
            c["keywords"] - c["hits"])
    assert any("per SNR: clean miss" in ln for ln in lines)
    with pytest.raises(BifsmnError, match="--streams"):
        calibrate(ckpt, data, minutes=0.5, streams=0, write=False, log=lines.append)
    assert "operating_points" not in load_checkpoint(ckpt)


def test_detector_eval_stream_and_cli_apply_the_stored_gate(setup, tmp_path, capsys):
    import argparse

    from bifsmn.detect.cli import _gate
    from bifsmn.detect.gate import DEFAULT_GATE, MODEL_GATE, Gate

    _, data, _, ckpt = setup
    closed = {"floor_db": 0.0, "contrast_db": 10.0, "max_lead": 0.5}  # nothing reaches 0 dBFS
    pt = tmp_path / "g.pt"
    pt.write_bytes(ckpt.read_bytes())
    ops = fake_ops()
    ops["gate"] = closed
    operating.write(pt, ops)
    assert Detector(pt).gate == Gate(**closed)  # the model's own gate by default
    assert Detector(pt, gate=None).gate is None  # explicit arguments override
    assert Detector(pt, gate=DEFAULT_GATE).gate == DEFAULT_GATE
    assert Detector(ckpt).gate == DEFAULT_GATE  # no record: the default gate
    ungated = tmp_path / "u.pt"
    ungated.write_bytes(ckpt.read_bytes())
    operating.write(ungated, {**fake_ops(), "gate": None})  # calibrated with --no-gate
    assert Detector(ungated).gate is None
    with pytest.raises(BifsmnError, match="gate must be"):
        Detector(pt, gate="loud")
    # the closed gate scores no window of a stream; overriding it scores them all
    kw = {"minutes": 0.5, "snrs": [math.inf], "split": "training", "log": lambda *_: None}
    assert eval_stream(data, [pt], **kw)[0].scored_fraction == 0.0
    assert eval_stream(data, [pt], gate=None, **kw)[0].scored_fraction == 1.0

    def ns(**kw):
        return argparse.Namespace(**{"no_gate": False, "gate_floor_db": None,
                                     "gate_contrast_db": None, **kw})

    assert _gate(ns()) == MODEL_GATE
    assert _gate(ns(no_gate=True)) is None
    assert _gate(ns(gate_contrast_db=6.0)) == Gate(-60.0, 6.0, 0.5, band_contrast_db=12.0)
    assert _gate(ns(gate_flat_max=0.35)) == Gate(flat_max=0.35, band_contrast_db=12.0)
    assert _gate(ns(gate_band_contrast_db=math.inf)).band_contrast_db == math.inf
    wav = tmp_path / "a.wav"
    sf.write(wav, tone_stream([("yes", 0.5)], 3.0), 16000)
    # the stored 5 FA/h point finds the tone only when the flags open the model's closed gate
    capsys.readouterr()
    assert main(["detect", str(wav), "--model", str(pt), "--fa-per-hour", "5", "--json"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["detect", str(wav), "--model", str(pt), "--fa-per-hour", "5", "--json",
                 "--gate-floor-db", "-60", "--gate-contrast-db", "0"]) == 0
    assert '"label": "yes"' in capsys.readouterr().out


def test_false_alarm_sources_count_a_reused_clip_once():
    """Streams reuse clips: two false alarms on the same source file are one source; a false
    alarm over no clip (a pause) is its own source; hits are not false alarms."""
    from bifsmn.detect.calibrate import false_alarm_sources
    from bifsmn.detect.detector import Event
    from bifsmn.detect.evaluate import Segment

    segs = [Segment("off", 1.0, 2.0, "off/a.wav"), Segment("yes", 4.0, 5.0, "yes/b.wav"),
            Segment("off", 8.0, 9.0, "off/a.wav")]
    kws = segs
    events = [Event("up", 1.2, 2.1, 0.99), Event("yes", 4.1, 5.0, 0.99),
              Event("up", 8.1, 9.0, 0.99), Event("go", 12.0, 13.0, 0.99)]
    got = false_alarm_sources(events, kws, segs, 0.5, stream=3)
    assert got == [("clip", "off/a.wav"), ("clip", "off/a.wav"), ("pause", 3, 13.0)]
    assert len(set(got)) == 2


def test_a_model_replaced_while_calibrating_gets_no_points(setup, tmp_path, monkeypatch):
    """Calibration takes minutes to hours: a file exported anew under the same name meanwhile
    must not receive points chosen for the old one."""
    import shutil

    from bifsmn.detect import calibrate as cal

    _, data, _, ckpt = setup
    model = tmp_path / "m.pt"
    shutil.copy(ckpt, model)
    real = cal.stream_posteriors

    class Replaced:  # the real function, with a writer replacing the file mid-run
        def __call__(self, *a, **k):  # noqa: ANN002, ANN003, ANN204
            model.write_bytes(model.read_bytes() + b"\0")
            return real(*a, **k)

        def __getattr__(self, name):  # noqa: ANN001, ANN204  (last_scored, last_verified)
            return getattr(real, name)

    monkeypatch.setattr(cal, "stream_posteriors", Replaced())
    with pytest.raises(BifsmnError, match="changed while it was being calibrated") as info:
        calibrate(model, data, minutes=0.5, snrs=[math.inf], split="training", streams=1,
                  log=lambda _: None)
    assert str(model) in str(info.value)
    assert model.read_bytes().endswith(b"\0")  # the other writer's file is left as it is


def test_calibrate_refuses_bad_outputs_and_settings_before_scoring(setup, tmp_path, monkeypatch):
    """A recording or a checkpoint given as --out is not overwritten by a .bkws (it had been,
    silently), a folder is refused before minutes of scoring, and NaN targets or a negative
    tolerance are refused: all before any stream is scored."""
    from bifsmn.detect import calibrate as cal
    from bifsmn.engine import export_checkpoint

    _, data, _, ckpt = setup
    bk = export_checkpoint(ckpt, tmp_path / "m.bkws")
    take = tmp_path / "take.wav"
    sf.write(take, np.zeros(1600, np.float32), 16000)
    audio = take.read_bytes()
    (tmp_path / "folder").mkdir()

    def never(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("scored streams before refusing")

    monkeypatch.setattr(cal, "stream_posteriors", never)
    cases = [({"out": take}, "holds audio, not a .bkws file"),
             ({"out": ckpt}, "holds a PyTorch checkpoint, not a .bkws file"),
             ({"out": tmp_path / "folder"}, "is a directory"),
             ({"fa_targets": [float("nan")]}, "positive finite"),
             ({"tolerance": -0.001}, "--tolerance-ms must be >= 0")]
    for kw, msg in cases:
        with pytest.raises(BifsmnError, match=msg):
            calibrate(bk, data, minutes=0.5, snrs=[math.inf], split="training", streams=1,
                      log=lambda _: None, **kw)
    assert take.read_bytes() == audio
    # a .pt model may be written to another .pt path, not over a .bkws
    with pytest.raises(BifsmnError, match="holds a .bkws model, not a PyTorch checkpoint"):
        calibrate(ckpt, data, minutes=0.5, snrs=[math.inf], split="training", streams=1,
                  log=lambda _: None, out=bk)


def test_uncertified_points_are_said_so_by_calibrate_and_detect(setup, tmp_path, capsys):
    """Half a minute of streams cannot show 1 FA/h: calibrate stores the points but warns, in
    words rather than a negative budget, and the line detect prints for such a point says it
    is not certified."""
    _, data, _, ckpt = setup
    lines: list[str] = []
    ops = calibrate(ckpt, data, minutes=0.5, snrs=[math.inf], split="training", streams=1,
                    write=False, log=lines.append)
    assert any(ln.startswith("warning: 3 operating point(s) not certified") for ln in lines)
    assert any("too little audio" in ln for ln in lines) and not any(
        "budget -" in ln for ln in lines)
    point = ops["paths"]["8"][1]
    assert point["calibration"]["reached"] is False
    text = operating.describe(point)
    assert "NOT certified" in text and "\n" not in text
    certified = {**point, "calibration": {**point["calibration"], "reached": True}}
    assert "certified" not in operating.describe(certified)
    # detect says so in text mode and with --json (stdout JSON, the warning on stderr)
    pt = tmp_path / "m.pt"
    pt.write_bytes(ckpt.read_bytes())
    operating.write(pt, ops)
    wav = tmp_path / "a.wav"
    sf.write(wav, tone_stream([("yes", 0.5)], 2.0), 16000)
    for extra in ([], ["--json"]):
        assert main(["detect", str(wav), "--model", str(pt), *extra]) == 0
        assert "NOT certified" in capsys.readouterr().err, extra
