"""No events from silence, noise or the stream's start; NaN never fires; the mic status line.

The long-noise tests use the bundled model on the native engine (skipped where the engine is
not built) with its default settings: the stored 1 FA/h operating point and the default gate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_detect_support import HOP, SR, ScriptScorer, StubScorer, script_audio

from bifsmn.data.labels import LABELS_12
from bifsmn.detect import Detector
from bifsmn.detect.cli import meter_line
from bifsmn.detect.gate import DEFAULT_GATE, Gate
from bifsmn.detect.stream import Streamer, sliding_posteriors
from bifsmn.errors import BifsmnError, NonFiniteError

SHARED_NOISE = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
                / "speech_commands_test12_v0.02" / "_background_noise_")


def white(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(int(seconds * SR))
    return (x * 10 ** (dbfs / 20)).astype(np.float32)


def pink(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    """1/f noise by spectral shaping, scaled to an RMS of ``dbfs``."""
    n = int(seconds * SR)
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n)
    x /= np.sqrt(np.mean(x ** 2))
    return (x * 10 ** (dbfs / 20)).astype(np.float32)


def long_noise(kind: str, minutes: float, dbfs: float) -> np.ndarray:
    """``minutes`` of noise built from a 30-s piece repeated (cheap to make; the gate looks at
    1-s windows, so repetition changes nothing it measures)."""
    piece = {"white": white, "pink": pink}[kind](30.0, dbfs)
    return np.tile(piece, int(np.ceil(minutes * 2)))[: int(minutes * 60 * SR)]


@pytest.fixture(scope="module", params=["auto", None], ids=["two-stage", "alone"])
def bundled(request):
    """The bundled .bkws at its stored 1 FA/h point behind the default gate: as the default
    detector runs it (first stage of the bundled two-stage detector) and alone."""
    # skip only where the compiled engine is not built; a missing or corrupt bundled model
    # must fail these tests, not skip them
    pytest.importorskip("bifsmn.engine._engine")
    return Detector(verifier=request.param)


def run_stream(det: Detector, x: np.ndarray, block: int = 10 * SR) -> list:
    det.reset()
    ev = []
    for i in range(0, len(x), block):
        ev += det.process(x[i:i + block])
    return ev + det.flush()


# ------------------------------------------------------------------ gate rule
def test_gate_rejects_silence_and_stationary_noise_keeps_quiet_words():
    ends = SR + HOP * np.arange(20)
    win = lambda x: np.stack([x[e - SR:e] for e in ends])  # noqa: E731
    for x in (np.zeros(4 * SR, np.float32), white(4, -60), white(4, -40), white(4, -20),
              pink(4, -60), pink(4, -40), pink(4, -20), white(4, -3)):
        assert not DEFAULT_GATE.active(win(x), ends, None, SR).any()
    # a quiet "word" (a 0.4-s voiced burst: 150-Hz harmonics up to 4 kHz falling 6 dB/octave,
    # RMS -38 dBFS: quieter than the quietest validation keyword clip, whose loudest 25-ms frame
    # is at -33.9 dBFS) between pauses passes, also on a -65 dBFS noise floor
    t = np.arange(int(0.4 * SR)) / SR
    word = sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 27)) * np.hanning(t.size)
    word = (word / np.sqrt(np.mean(word ** 2)) * 10 ** (-38 / 20)).astype(np.float32)
    x = white(4, -65)
    x[SR + 4000:SR + 4000 + word.size] += word
    keep = DEFAULT_GATE.active(win(x), ends, None, SR)
    assert keep[:6].any()  # windows holding the word
    assert not keep[-3:].any()  # windows of the noise floor only
    # the rule can be switched off part by part
    assert Gate(None, None).active(win(white(4, -20)), ends, None, SR).all()
    with pytest.raises(BifsmnError):
        Gate(max_lead=2.0)


def test_start_padding_windows_are_not_scored():
    """Windows more than half before the stream start get the silence posterior, and the
    network never sees them; with ``gate=None`` they are scored as before."""
    x = script_audio(["yes"] * 30)  # "yes" from the first sample on
    post = sliding_posteriors(ScriptScorer(), x, HOP, gate=Gate(None, None))
    sil = LABELS_12.index("_silence_")
    assert (post.probs[:4, sil] == 1.0).all() and post.probs[:4].sum() == 4.0  # 0.1-0.4 s
    assert post.probs[4].argmax() == LABELS_12.index("yes")  # 0.5 s: half real, scored
    det = Detector(ScriptScorer(), threshold=0.5, gate=Gate(None, None))
    ev = run_stream(det, x)
    assert ev and ev[0].end >= 0.7 - 1e-9  # 3 of 5 smoothed windows after the padding
    ungated = run_stream(Detector(ScriptScorer(), threshold=0.5, gate=None), x)
    assert ungated[0].end == pytest.approx(0.1)  # the old behaviour: one window decides
    stub = StubScorer()
    st = Streamer(stub, HOP, batch_size=1, gate=Gate(None, None))
    st.process(np.ones(SR, np.float32))
    assert stub.calls == 6  # windows ending 0.5 ... 1.0 s


def test_gate_streaming_equals_offline():
    rng = np.random.default_rng(3)
    x = white(8, -50, 3)
    for s in (1.0, 4.2, 6.5):
        i = int(s * SR)
        x[i:i + 6000] += 0.2 * np.sin(np.arange(6000) * 0.3).astype(np.float32)
    ref = sliding_posteriors(ScriptScorer(), x, HOP)
    st = Streamer(ScriptScorer(), HOP)
    parts, pos = [], 0
    while pos < len(x):
        n = int(rng.integers(1, 9000))
        parts.append(st.process(x[pos:pos + n]))
        pos += n
    parts.append(st.flush())
    got = np.concatenate([p.probs for p in parts])
    np.testing.assert_array_equal(got, ref.probs)
    sil = ref.probs[:, LABELS_12.index("_silence_")] == 1.0
    assert 0 < sil.sum() < len(sil)


def test_nan_scores_never_fire():
    class NaNScorer(ScriptScorer):
        def scores(self, features):
            return np.full((len(features), len(self.labels)), np.nan, np.float32)

    det = Detector(NaNScorer(), threshold=0.0, gate=None)
    # the window scorer refuses non-finite scores (issue 12): an error, never an event
    with pytest.raises(NonFiniteError, match="non-finite scores"):
        run_stream(det, script_audio(["yes"] * 40))
    # and the trigger rule itself never fires on NaN (`not s >= threshold`)
    from bifsmn.detect.detector import trigger_frames

    scores = np.full(20, np.nan)
    assert list(trigger_frames(scores, np.arange(20), 0.0, 0)) == []


# ------------------------------------------------------------------ bundled model, long noise
@pytest.mark.parametrize(("kind", "dbfs"), [("silence", None), ("white", -60), ("white", -40),
                                            ("white", -20), ("pink", -60), ("pink", -40),
                                            ("pink", -20)])
def test_30_minutes_of_silence_or_noise_give_no_event(bundled, kind, dbfs):
    x = (np.zeros(30 * 60 * SR, np.float32) if kind == "silence"
         else long_noise(kind, 30, dbfs))
    ws = bundled.streamer._score
    seen = ws.windows_seen
    assert run_stream(bundled, x) == []
    assert ws.windows_seen - seen >= 30 * 60 * 10  # every hop was looked at ...
    assert bundled.operating_point is not None  # ... with the stored operating point


def test_noise_start_gives_no_event_even_without_the_energy_gate(bundled):
    """The issue's case: white noise at -20 dBFS fired in the first 0.1 s. With only the
    padding rule (the network sees every other window), 6 seeds x 20 s stay quiet."""
    det = Detector(gate=Gate(None, None))
    for seed in range(6):
        assert run_stream(det, white(20, -20, seed)) == [], seed


def synthetic_background(kind: str, seconds: float = 60.0, seed: int = 0) -> np.ndarray:
    """Noises like the _background_noise_ files: a running tap (band-passed noise with slow
    level changes), dishes (clicks and clatter bursts), an exercise bike (a periodic squeak
    on a hum)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    if kind == "tap":
        x = np.convolve(rng.standard_normal(n), np.hanning(9), "same")
        x *= 1 + 0.3 * np.sin(2 * np.pi * 0.3 * t)
        x *= 0.05 / np.sqrt(np.mean(x ** 2))
    elif kind == "dishes":
        x = 0.003 * rng.standard_normal(n)
        for s in rng.integers(0, n - 4000, int(seconds * 2)):
            m = int(rng.integers(200, 4000))
            x[s:s + m] += (rng.uniform(0.05, 0.4) * rng.standard_normal(m)
                           * np.exp(-np.arange(m) / (m / 5)))
    else:  # bike
        x = 0.02 * np.sin(2 * np.pi * 50 * t) + 0.005 * rng.standard_normal(n)
        x += 0.03 * np.sin(2 * np.pi * 1800 * t) * (np.sin(2 * np.pi * 1.2 * t) > 0.8)
    return np.clip(x, -1, 1).astype(np.float32)


# "dishes" (decaying white-noise bursts) crossed the 'up'/'stop' thresholds of an earlier model's
# 2-h operating point and was an xfail; the AdamW model fires 'up' on it behind the energy gate
# alone, and is bundled with the spectral-flatness test in its stored gate (docs/detection.md).
@pytest.mark.parametrize("kind", ["tap", "bike", "dishes"])
def test_background_like_noise_gives_no_event(bundled, kind):
    assert run_stream(bundled, synthetic_background(kind)) == []


def test_flatness_gate_rejects_noise_bursts(bundled):
    """Issue 13: noise bursts (flat spectrum) never reach the network with flat_max; voiced
    sounds (harmonic spectra) do. The flatness test is off in the default gate and in the
    records of models calibrated without it."""
    from bifsmn.detect.gate import loud_flatness

    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 20))
    voiced = voiced * ((t > 0.3) & (t < 0.7))  # a vowel between pauses (contrast test)
    burst = rng.standard_normal(SR) * np.exp(-np.arange(SR) / 1600.0)
    wins = np.stack([0.1 * voiced, 0.3 * burst, np.zeros(SR)]).astype(np.float32)
    flat = loud_flatness(wins, np.full(3, 5 * SR), None, SR)
    assert flat[0] < 0.05 and 0.35 < flat[1] < 0.7 and flat[2] == pytest.approx(1.0)
    g = Gate(flat_max=0.35)
    assert list(g.active(wins[:2], np.full(2, 5 * SR), None, SR)) == [True, False]
    assert DEFAULT_GATE.flat_max is None
    old = Gate.from_dict({"floor_db": -60.0, "contrast_db": 10.0, "max_lead": 0.5})
    assert old == Gate() and old.flat_max is None and old.band_contrast_db is None  # an older
    # record: neither the flatness nor the band test
    with pytest.raises(BifsmnError, match="flat_max"):
        Gate(flat_max=0.0)
    det = Detector(gate=g)  # the bundled model with its stored point, flatness test on
    for seed in range(3):
        assert run_stream(det, synthetic_background("dishes", seed=seed)) == [], seed


@pytest.mark.skipif(not SHARED_NOISE.is_dir(), reason="shared _background_noise_ not present")
def test_shared_background_noise_files_give_no_event(bundled):
    from bifsmn.audio import load_audio

    files = sorted(SHARED_NOISE.glob("*.wav"))
    assert files
    for f in files:
        assert run_stream(bundled, load_audio(f)) == [], f.name


# ------------------------------------------------------------------ mic status line
def test_meter_line():
    th = {"yes": 0.9, "no": 0.8}
    line = meter_line(-20.0, {"yes": 0.42, "no": 0.1}, th, width=10)
    assert line == "level [########  ]  -20 dBFS | top yes 0.420 (0.900)"
    # silence: every score 0 names no keyword
    assert meter_line(-120.0, {"yes": 0.0, "no": 0.0}, th, width=10) == (
        "level [          ] <-80 dBFS | top -")
    assert meter_line(3.0, {"no": 0.95}, th, width=4) == (
        "level [####]    0 dBFS | top no 0.950 (0.800)*")
    assert meter_line(float("nan"), {"yes": float("nan"), "no": 0.2}, th).endswith(
        "top no 0.200 (0.800)")
    assert meter_line(-30.0, {}, {}).endswith("| top -")
    # calibrated thresholds sit at 0.99x: a near miss is told from a hit
    close = meter_line(-30.0, {"go": 0.9929}, {"go": 0.993})
    assert close.endswith("top go 0.992 (0.993)") and "*" not in close
    assert meter_line(-30.0, {"go": 0.5}, {"go": 0.9}, overflows=3).endswith(" | 3 overflows")


@pytest.mark.parametrize("hop", [1600, 800, 1000, 16000])
def test_flatness_frame_cache_equals_uncached(hop):
    """The stream's frame cache (FrameSpectra) gives the same flatness, bit for bit, as computing
    every window's frames, for hops on and off the 25-ms frame grid, windows fed in uneven
    groups, padding at both ends; and it stays small on a long stream."""
    from bifsmn.detect.gate import FrameSpectra, loud_flatness

    rng = np.random.default_rng(hop)
    n = 6 * SR
    t = np.arange(n) / SR
    x = 0.05 * rng.standard_normal(n) * (1 + np.sin(2 * np.pi * 0.7 * t))
    x += 0.2 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0.3)
    nwin = -(-(n + SR // 2) // hop)
    padded = np.concatenate([np.zeros(SR), x, np.zeros(nwin * hop - n + SR)])
    ends = hop * np.arange(1, nwin + 1)
    wins = np.stack([padded[e:e + SR] for e in ends]).astype(np.float32)
    want = loud_flatness(wins, ends, n, SR)
    cache = FrameSpectra()
    got, i, sizes = [], 0, [1, 3, 1, 7, 2]
    while i < nwin:
        k = sizes[len(got) % len(sizes)]
        got.append(loud_flatness(wins[i:i + k], ends[i:i + k], n, SR, cache=cache))
        assert len(cache) <= 4 * 40 * max(k, 1) + 40 * k
        i += k
    np.testing.assert_array_equal(np.concatenate(got), want)
    assert np.isfinite(want).all() and want.min() < 0.2 < want.max()
    g = Gate(flat_max=0.35)
    keep = g.active(wins, ends, n, SR)
    assert keep.any() and not keep.all()
    np.testing.assert_array_equal(g.active(wins, ends, n, SR, FrameSpectra()), keep)


def _voiced_and_noise(snr_db: float, noise: str, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(vowel, noise) of a 1-s window: a 400-ms harmonic vowel (140 Hz, 19 harmonics, most
    power below 3 kHz) and stationary white or pink noise scaled to ``snr_db`` (vowel power
    over the window / noise power, the eval-stream definition)."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 20))
    voiced = 0.1 * voiced * ((t > 0.3) & (t < 0.7))
    n = rng.standard_normal(SR)
    if noise == "pink":
        spec = np.fft.rfft(n)
        f = np.arange(len(spec))
        f[0] = 1
        n = np.fft.irfft(spec / np.sqrt(f), SR)
    n = n / np.sqrt(np.mean(n ** 2)) * np.sqrt(np.mean(voiced ** 2) / 10 ** (snr_db / 10))
    return voiced.astype(np.float32), n.astype(np.float32)


@pytest.mark.parametrize("noise", ["white", "pink"])
def test_band_contrast_keeps_vowel_in_noise_and_rejects_noise_alone(noise):
    """Issue 13, 10 dB: the broadband contrast test rejects a vowel in stationary noise at 10 dB
    (no quiet 10 % left after pre-emphasis), which made a third of the calibration keywords
    unreachable (docs/results/band-gate); the speech-band test scores it, and still rejects
    the noise alone."""
    from bifsmn.detect.gate import band_contrast

    ends = np.full(1, 5 * SR)
    v, n = _voiced_and_noise(10.0, noise)
    vowel, alone = (v + n)[None], n[None]
    assert band_contrast(vowel, ends, None, SR)[0] > 12.0
    assert band_contrast(alone, ends, None, SR)[0] < 6.0
    broadband = Gate(band_contrast_db=None)
    assert not broadband.active(vowel, ends, None, SR)[0]
    assert DEFAULT_GATE.band_contrast_db == 12.0
    assert DEFAULT_GATE.active(vowel, ends, None, SR)[0]
    assert not DEFAULT_GATE.active(alone, ends, None, SR)[0]
    with pytest.raises(BifsmnError, match="band_contrast_db"):
        Gate(band_contrast_db=-1.0)


def test_band_contrast_frame_cache_equals_uncached():
    """The band power comes from the stream's frame cache like the flatness: same numbers,
    hops on and off the frame grid."""
    from bifsmn.detect.gate import FrameSpectra, band_contrast

    x = np.concatenate([sum(_voiced_and_noise(10.0, "white", s)) for s in range(4)])
    ends = np.arange(SR, len(x) + 1, 1234)
    wins = np.stack([x[e - SR:e] for e in ends])
    want = band_contrast(wins, ends, len(x), SR)
    cache = FrameSpectra()
    got = np.concatenate([band_contrast(wins[i:i + 5], ends[i:i + 5], len(x), SR, cache)
                          for i in range(0, len(ends), 5)])
    np.testing.assert_array_equal(got, want)


def _gate_stream(sr: int, hop: int, seconds: int = 6, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """(windows (N, sr) float32, ends, audio length) of a stream with voiced bursts, silences
    and noise of changing level, padded with zeros at both ends as the streamer pads."""
    rng = np.random.default_rng(seed)
    n = seconds * sr
    t = np.arange(n) / sr
    x = 0.02 * rng.standard_normal(n) * (1 + np.sin(2 * np.pi * 0.3 * t))
    x += 0.2 * np.sin(2 * np.pi * 170 * t) * (np.sin(2 * np.pi * 0.6 * t) > 0.4)
    x[int(2.5 * sr):int(3.1 * sr)] = 0.0  # digital silence
    nwin = -(-(n + sr // 2) // hop)
    padded = np.concatenate([np.zeros(sr), x, np.zeros(nwin * hop - n + sr)])
    ends = hop * np.arange(1, nwin + 1)
    return np.stack([padded[e:e + sr] for e in ends]).astype(np.float32), ends, n


@pytest.mark.parametrize("sr", [16000, 8000, 22050])
def test_native_gate_statistics_equal_numpy(sr):
    """The C++ gate's statistics (its own mixed-radix FFT: 25-ms frames are 400 samples at
    16 kHz, 200 at 8 kHz, 551 = 19 x 29 at 22.05 kHz) equal numpy's up to summation order."""
    from bifsmn.detect.gate import (
        NATIVE_CONSTANTS,
        _band_bins,
        _frame_len,
        _hann,
        _native,
        band_contrast,
        frame_levels,
        loud_flatness,
    )

    wins, ends, n = _gate_stream(sr, 1234 * sr // SR)
    f = _frame_len(sr)
    band = _band_bins(f, sr)
    got = [np.empty(len(wins)) for _ in range(4)]
    _native().gate_stats(wins, ends.astype(np.int64), n, _hann(f), f, band.start + 1,
                         band.stop, NATIVE_CONSTANTS, *got)
    peak, floor = frame_levels(wins, ends, n, sr)
    np.testing.assert_allclose(got[0], peak, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got[1], floor, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got[2], band_contrast(wins, ends, n, sr), rtol=0, atol=1e-9)
    np.testing.assert_allclose(got[3], loud_flatness(wins, ends, n, sr), rtol=1e-9, atol=0)
    assert (floor == -120.0).any() and (peak - floor > 10).any() and (got[3] < 0.2).any()


def test_native_gate_takes_the_numpy_modules_constants(monkeypatch):
    """The C++ gate reads every constant of its definition from ``NATIVE_CONSTANTS`` (none is
    repeated in C++): with the two numeric floors raised in the numpy module and in the array,
    both gates move together and still agree."""
    import bifsmn.detect.gate as g

    wins, ends, n = _gate_stream(SR, 1234)
    f = g._frame_len(SR)
    band = g._band_bins(f, SR)

    def native(consts: np.ndarray) -> list[np.ndarray]:
        got = [np.empty(len(wins)) for _ in range(4)]
        g._native().gate_stats(wins, ends.astype(np.int64), n, g._hann(f), f, band.start + 1,
                               band.stop, consts, *got)
        return got

    before = native(g.NATIVE_CONSTANTS)
    monkeypatch.setattr(g, "LEVEL_FLOOR", 1e-6)
    monkeypatch.setattr(g, "SPECTRUM_FLOOR", 1e-4)
    consts = np.array([g.PREEMPHASIS, g.FLOOR_QUANTILE, g.SILENT_DB, g.LOUD_WITHIN_DB, 1e-6,
                       1e-4])
    after = native(consts)
    peak, floor = g.frame_levels(wins, ends, n, SR)
    np.testing.assert_allclose(after[1], floor, rtol=0, atol=1e-9)
    np.testing.assert_allclose(after[3], g.loud_flatness(wins, ends, n, SR), rtol=1e-9, atol=0)
    assert not np.allclose(after[1], before[1]) and not np.allclose(after[3], before[3])
    with pytest.raises(ValueError, match="six constants"):
        native(consts[:4])


@pytest.mark.parametrize("gate", [
    DEFAULT_GATE, Gate(flat_max=0.35, band_contrast_db=12.0),
    Gate(contrast_db=3.0, band_contrast_db=6.0, flat_max=0.2),
    Gate(floor_db=None, contrast_db=None), Gate(max_lead=None, floor_db=-40.0),
    Gate(max_lead=0.0, flat_max=0.5)])
@pytest.mark.parametrize("hop", [1600, 1234, 16000])
def test_native_gate_decides_as_numpy(gate, hop):
    """Same windows kept by the C++ gate and by the numpy definition, with the stream's frame
    cache fed uneven groups of windows, without it, and after clearing it; the cache stays
    small."""
    from bifsmn.detect.gate import FrameSpectra

    wins, ends, n = _gate_stream(SR, hop, seed=hop)
    want = gate.active_numpy(wins, ends, n, SR)
    assert want.any() and (not want.all() or gate.floor_db is None)
    np.testing.assert_array_equal(gate.active(wins, ends, n, SR), want)
    cache = FrameSpectra()
    for _ in range(2):  # the second pass after clear(): positions mean other samples again
        got, i, sizes = [], 0, [1, 3, 1, 7, 2]
        while i < len(wins):
            k = sizes[len(got) % len(sizes)]
            got.append(gate.active(wins[i:i + k], ends[i:i + k], n, SR, cache))
            # spectra and levels, each at most four calls' worth (7 windows at most) or the
            # frames of the windows overlapping this call's (memory flat on endless streams)
            assert len(cache) <= 2 * 40 * max(4 * 7, SR // hop + 8)
            i += k
        np.testing.assert_array_equal(np.concatenate(got), want)
        cache.clear()
        assert len(cache) == 0


def test_native_gate_only_for_float32_windows(monkeypatch):
    """Windows of another dtype go through numpy, whose spectra read the windows' own values."""
    import bifsmn.detect.gate as gate_mod

    wins, ends, n = _gate_stream(SR, 1600)
    want = DEFAULT_GATE.active(wins, ends, n, SR)

    def no_native():
        raise AssertionError("native gate used")

    monkeypatch.setattr(gate_mod, "_native", no_native)
    np.testing.assert_array_equal(DEFAULT_GATE.active(wins.astype(np.float64), ends, n, SR),
                                  want)
    with pytest.raises(AssertionError, match="native gate used"):
        DEFAULT_GATE.active(wins, ends, n, SR)


def test_gate_describes_itself_in_words():
    """eval-stream's log line names the tests in force, not a Python dict."""
    assert DEFAULT_GATE.describe() == ("floor -60 dB, contrast 10 dB, max lead 0.5, "
                                       "speech-band contrast 12 dB")
    assert Gate(None, None, None).describe() == "every test off"
    assert Gate(flat_max=0.3).describe().endswith("flatness at most 0.3")
