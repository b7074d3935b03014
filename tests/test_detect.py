"""Detector: smoothing, thresholds, refractory time, online == offline, files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from test_detect_support import (
    HOP,
    SR,
    ScriptScorer,
    WindowProbeScorer,
    script_audio,
    tiny_checkpoint,
    tone_stream,
)

from bifsmn.detect import Detector, Event, Gate
from bifsmn.detect.detector import events_from_smoothed, smooth, trigger_frames
from bifsmn.detect.stream import sliding_posteriors
from bifsmn.errors import BifsmnError


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.set_num_threads(1)
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def feed(det: Detector, x: np.ndarray, size: int) -> list[Event]:
    out: list[Event] = []
    for i in range(0, len(x), size):
        out += det.process(x[i:i + size])
    return out + det.flush()


# ------------------------------------------------------------------ scripted posteriors
def test_smoothing_threshold_and_event_times():
    """'yes' wins from the 4th hop on; with a 5-window average it reaches 0.5 at the 3rd
    winning window (3/5), i.e. the window ending at 0.6 s."""
    det = Detector(ScriptScorer(), gate=None, threshold=0.5)
    x = script_audio(["_silence_"] * 3 + ["yes"] * 6 + ["_silence_"] * 20)
    events = feed(det, x, 1000)
    assert [e.label for e in events] == ["yes"]
    ev = events[0]
    assert ev.end == pytest.approx(0.6) and ev.start == 0.0
    assert ev.score == pytest.approx(0.6, abs=1e-6)
    # no smoothing: fires on the first winning window
    det = Detector(ScriptScorer(), gate=None, threshold=0.5, smooth_ms=0)
    assert feed(det, x, 1000)[0].end == pytest.approx(0.4)


def test_refractory_and_ignored_classes():
    # 3.5 s of "no" (score >= 0.5 from 1.3 s to 4.7 s): one event per refractory time ...
    x = script_audio(["_unknown_"] * 10 + ["no"] * 35 + ["_silence_"] * 10)

    def ends(x, threshold=0.5, **kw):
        det = Detector(ScriptScorer(), gate=None, threshold=threshold, **kw)
        return [round(e.end, 6) for e in feed(det, x, 4096)]

    assert ends(x) == [1.3, 2.3, 3.3, 4.3]
    assert ends(x, refractory_ms=2500) == [1.3, 3.8]
    assert len(ends(x, refractory_ms=0)) == 35
    # ... or one event in all with rearm (the score must drop below the threshold in between)
    assert ends(x, rearm=True) == [1.3]
    # two bursts (the score dips below 0.5 at 1.8 s)
    x = script_audio(["_silence_"] * 10 + ["no"] * 5 + ["_silence_"] * 3 + ["no"] * 5
                     + ["_silence_"] * 10)
    assert ends(x, rearm=True) == [1.3, 2.3]  # second burst fires once the 1 s has passed
    assert ends(x, rearm=True, refractory_ms=500) == [1.3, 2.1]  # ... as soon as it crosses
    assert ends(x, rearm=True, refractory_ms=1500) == [1.3]  # ... not at all (over by 2.8 s)
    # ignored classes never fire, whatever their score
    x = script_audio(["_unknown_"] * 20 + ["_silence_"] * 20)
    assert ends(x, threshold=0.01) == []


def test_per_keyword_thresholds():
    x = script_audio(["_silence_"] * 6 + ["yes"] * 2 + ["_silence_"] * 12 + ["up"] * 2
                     + ["_silence_"] * 12)
    # two winning windows of five: smoothed peak 0.4
    assert feed(Detector(ScriptScorer(), gate=None, threshold=0.5), x, 1600) == []
    events = feed(Detector(ScriptScorer(), gate=None, threshold=0.5,
                           thresholds={"up": 0.35}), x, 1600)
    assert [e.label for e in events] == ["up"]
    with pytest.raises(BifsmnError, match="no keyword 'maybe'"):
        Detector(ScriptScorer(), gate=None, thresholds={"maybe": 0.3})
    with pytest.raises(BifsmnError, match="_silence_"):
        Detector(ScriptScorer(), gate=None, thresholds={"_silence_": 0.3})
    with pytest.raises(BifsmnError, match=r"\[0, 1\]"):
        Detector(ScriptScorer(), gate=None, threshold=1.5)


def test_per_keyword_smoothing_refractory_and_runtime_changes():
    # "no" then "yes", each 3.5 s long (as in the refractory test)
    x = script_audio(["_unknown_"] * 10 + ["no"] * 35 + ["_silence_"] * 10 + ["yes"] * 35
                     + ["_silence_"] * 10)

    def ends(det):
        return [(e.label, round(e.end, 6)) for e in feed(det, x, 4096)]

    base = ends(Detector(ScriptScorer(), gate=None))
    assert [e for e in base if e[0] == "no"] == [("no", 1.3), ("no", 2.3), ("no", 3.3),
                                                  ("no", 4.3)]
    # refractory for "no" only; "yes" keeps the default
    got = ends(Detector(ScriptScorer(), gate=None, refractories={"no": 2500}))
    assert [e for e in got if e[0] == "no"] == [("no", 1.3), ("no", 3.8)]
    assert [e for e in got if e[0] == "yes"] == [e for e in base if e[0] == "yes"]
    # no smoothing for "yes" only: it fires two hops earlier, "no" unchanged
    got = ends(Detector(ScriptScorer(), gate=None, smoothing={"yes": 0}))
    first_yes = min(t for lb, t in got if lb == "yes")
    assert first_yes == pytest.approx(min(t for lb, t in base if lb == "yes") - 0.2)
    assert [e for e in got if e[0] == "no"] == [e for e in base if e[0] == "no"]
    # settings change while the stream runs
    det = Detector(ScriptScorer(), gate=None)
    det.set_refractory("no", 2500)
    det.set_smoothing("yes", 0)
    det.set_threshold("yes", 0.99)
    got = ends(det)
    assert [e for e in got if e[0] == "no"] == [("no", 1.3), ("no", 3.8)]
    assert all(lb != "yes" or t >= first_yes for lb, t in got)
    with pytest.raises(BifsmnError, match="no keyword 'maybe'"):
        Detector(ScriptScorer(), gate=None, refractories={"maybe": 10})
    with pytest.raises(BifsmnError, match="ms >= 0"):
        det.set_refractory("no", -1)
    for bad in (float("nan"), float("inf")):  # refused, never a traceback or a silent no-op
        with pytest.raises(BifsmnError, match="finite"):
            det.set_refractory("no", bad)
        with pytest.raises(BifsmnError, match="finite"):
            det.set_smoothing("no", bad)
    with pytest.raises(BifsmnError, match="gate floor_db must be a number"):
        Gate(floor_db=float("nan"))
    with pytest.raises(BifsmnError, match="hop must be"):
        Detector(ScriptScorer(), gate=None, hop_ms=float("nan"))
    # ignore: one label is one label; the non-keyword classes stay ignored; typos are errors
    only = Detector(ScriptScorer(), gate=None, ignore="yes")
    assert "yes" not in only.keywords and "_unknown_" not in only.keywords and only.keywords
    with pytest.raises(BifsmnError, match="labels the model does not have: yess"):
        Detector(ScriptScorer(), gate=None, ignore=["yess"])


@pytest.mark.parametrize(("size", "rearm"), [(1, False), (700, True), (1600, False),
                                             (16000, True)])
def test_online_events_equal_offline_sweep(size, rearm):
    rng = np.random.default_rng(size)
    labels = ["_silence_", "_unknown_", "yes", "no", "stop", "go"]
    x = script_audio([labels[i] for i in rng.integers(0, len(labels), 300)])
    det = Detector(ScriptScorer(), gate=None, threshold=0.55, thresholds={"go": 0.3},
                   refractory_ms=700, rearm=rearm)
    online = feed(det, x, size)
    post = sliding_posteriors(det.scorer, x, HOP, gate=None)
    offline = events_from_smoothed(smooth(post.probs, det.smooth_n), post.ends, det.labels,
                                   det.thresholds, det.refractory, det.window, det.sample_rate,
                                   rearm, post.audio_end)
    assert online == offline and len(online) > 5


@pytest.mark.parametrize("smooth_ms", [0, 300, 700])
def test_live_smoothed_scores_equal_offline_to_the_bit(smooth_ms):
    """Every hop's smoothed keyword scores (``last_scores``, what the thresholds see) equal
    ``smooth`` over the offline posteriors bit for bit, also after the smoothing grows while the
    stream runs. The posteriors of a class span many orders of magnitude between windows, so
    their float64 sums round, and in another order they would round differently."""
    rng = np.random.default_rng(3)
    x = (0.3 * rng.standard_normal(6 * SR)).astype(np.float32)
    det = Detector(WindowProbeScorer(gain=30), gate=None, smooth_ms=smooth_ms, threshold=1.0)
    online = []
    for i in range(0, len(x), HOP):
        det.process(x[i:i + HOP])
        online.append([det.last_scores[k] for k in det.keywords])
    post = sliding_posteriors(det.scorer, x, HOP, flush=False, gate=None)
    assert post.probs.min() < 1e-12 and ((post.probs > 0.05) & (post.probs < 0.95)).any()
    want = smooth(post.probs, max(1, round(smooth_ms / 100)))
    cols = [det.labels.index(k) for k in det.keywords]
    np.testing.assert_array_equal(np.asarray(online), want[:, cols])
    # a longer window set while streaming keeps the rows it has and sums them in order
    det.reset()
    for i in range(0, 2 * SR, HOP):
        det.process(x[i:i + HOP])
    for k in det.keywords:
        det.set_smoothing(k, 900)
    rows = []
    for i in range(2 * SR, len(x), HOP):
        det.process(x[i:i + HOP])
        rows.append([det.last_scores[k] for k in det.keywords])
    n_old = max(1, round(smooth_ms / 100))
    for j, got in enumerate(rows):  # window 20 + j: the last min(9, n_old + 1 + j) rows
        end = 20 + j
        m = min(9, n_old + 1 + j, end + 1)
        acc = np.zeros(len(det.labels))
        for r in post.probs[end + 1 - m:end + 1].astype(np.float64):
            acc = acc + r
        np.testing.assert_array_equal(got, (acc / m)[cols])


def test_trigger_frames_rule():
    ends = HOP * np.arange(1, 13)
    s = np.array([0, .9, .9, .2, .9, .9, .9, .9, .9, .9, .9, .1])
    assert list(trigger_frames(s, ends, 0.5, 0)) == [1, 2, 4, 5, 6, 7, 8, 9, 10]
    assert list(trigger_frames(s, ends, 0.5, 4800)) == [1, 4, 7, 10]
    assert list(trigger_frames(s, ends, 0.5, 0, rearm=True)) == [1, 4]
    assert list(trigger_frames(s, ends, 0.5, 4801, rearm=True)) == [1, 5]
    assert list(trigger_frames(s, ends, 0.5, 16000, rearm=True)) == [1]
    assert list(trigger_frames(s, ends, 0.95, 0)) == []


def test_event_count_non_increasing_in_threshold():
    """Greedy picking with a refractory gap picks a largest separated subset, so a higher
    threshold (a subset of frames) never gives more events (without rearm)."""
    rng = np.random.default_rng(0)
    ends = HOP * np.arange(1, 2001)
    for _ in range(20):
        s = smooth(rng.random((2000, 1)), 5)[:, 0]
        counts = [len(trigger_frames(s, ends, t, 16000)) for t in np.linspace(0, 1, 41)]
        assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))


# ------------------------------------------------------------------ real (tiny) model
def test_detects_tone_keywords_early_and_late(ckpt):
    x = tone_stream([("yes", 0.2), ("stop", 3.0), ("go", 6.4)], 7.4, seed=1)
    det = Detector(ckpt, threshold=0.6, rearm=True)  # 1-s tones: seen by windows for ~2 s
    events = feed(det, x, 4000)
    assert [e.label for e in events] == ["yes", "stop", "go"]
    for ev, t in zip(events, (0.2, 3.0, 6.4), strict=True):
        assert ev.start < t + 1.0 and ev.end > t  # the window overlaps the keyword
        assert 0.6 <= ev.score <= 1.0
    assert set(det.last_scores) == set(det.keywords)
    assert "_unknown_" not in det.keywords


def test_detect_file_matches_streaming_and_resamples(ckpt, tmp_path):
    x = tone_stream([("left", 0.5), ("right", 2.5)], 4.25, seed=2)
    det = Detector(ckpt, threshold=0.6, refractory_ms=2000)
    direct = feed(det, x, 3333)
    det.reset()
    wav = tmp_path / "a.wav"
    sf.write(wav, x, SR, subtype="FLOAT")
    assert det.detect_file(wav) == direct
    assert det.detect_file(wav) == direct  # detect_file starts from a clean state every time
    assert det.detect_array(x) == direct  # the same samples in memory (documented beside it)
    assert det.closest() is not None and det.detect_array(x) == direct  # reset again
    # 44.1 kHz stereo: read in blocks, downmixed and resampled on the fly. The channels
    # differ (hi + d, hi - d, d a "yes" tone between the words): only their mean is hi, so
    # reading either channel alone would add a "yes" event
    hi = soxr.resample(x, SR, 44100).astype(np.float32)
    d = soxr.resample(tone_stream([("yes", 1.55)], 4.25, seed=7, noise=0.0), SR,
                      44100).astype(np.float32)
    stereo = tmp_path / "b.flac"
    sf.write(stereo, np.stack([hi + d, hi - d], axis=1), 44100)
    events = det.detect_file(stereo, block_seconds=0.37)
    assert [e.label for e in events] == ["left", "right"]
    assert [e.end for e in events] == pytest.approx([e.end for e in direct], abs=0.11)
    # the block reader's downmix rule, sample for sample: the mean of (y, -y/2) is y/4
    from bifsmn.detect.audio_io import iter_audio_blocks

    two = tmp_path / "c.wav"
    sf.write(two, np.stack([x, -0.5 * x], axis=1), SR, subtype="FLOAT")
    mono = np.concatenate(list(iter_audio_blocks(two, SR, block_seconds=0.37)))
    np.testing.assert_allclose(mono, 0.25 * x, rtol=0, atol=1e-7)


def test_detector_rejects_bad_settings(ckpt):
    with pytest.raises(BifsmnError, match="hop"):
        Detector(ckpt, hop_ms=0)
    with pytest.raises(BifsmnError, match="refractory"):
        Detector(ckpt, refractory_ms=-1)
    with pytest.raises(BifsmnError, match="blocks"):
        Detector(ckpt, blocks=3)
