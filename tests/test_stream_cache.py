"""Streaming front ends: rows shared between windows are computed once, bit-identically.

A window of a stream that moved by whole fbank40 frame hops (160 samples) holds most of the
previous window's frames; the engine's ``FrameCache`` computes each stream position's row once.
These tests run the same streams with and without the cache (through ``Streamer``, the offline
``sliding_posteriors`` and ``Engine.stream_features``) and require identical bits, that rows are
really reused, and that a new stream (``reset``) never sees the old one's rows. The log-mel
front end shares only its interior frames (those without reflect padding) between windows that
moved by whole 512-sample hops; ``Engine.stream_features`` must equal ``features`` for any
starts.
"""

from __future__ import annotations

import numpy as np
import pytest

from bifsmn.data.fbank import Fbank40Config
from bifsmn.detect.gate import Gate
from bifsmn.detect.scorer import EngineScorer
from bifsmn.detect.stream import Streamer, sliding_posteriors
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.testing import make_checkpoint
from bifsmn.errors import BifsmnError

SR = 16000


@pytest.fixture(scope="module")
def bkws(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("stream_cache")
    ckpt = make_checkpoint(root / "m.pt", "bifsmnv2", seed=41,
                           features=Fbank40Config().to_dict(), n_mels=40, frames=32)
    return str(export_checkpoint(ckpt, root / "m.bkws"))


def stream_audio(seconds: float, seed: int) -> np.ndarray:
    """Tones, chirps and noise bursts with silent gaps (the gate skips some windows)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = 0.2 * np.sin(2 * np.pi * (300 + 200 * np.sin(0.7 * t)) * t)
    x += 0.05 * rng.standard_normal(n)
    env = (np.sin(2 * np.pi * 0.4 * t) > -0.3).astype(np.float64)  # on/off segments
    return (x * env).astype(np.float32)


class Uncached(EngineScorer):
    """The same engine scorer without the shared-row front end."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        del self.stream_frontend


def run_stream(scorer, audio: np.ndarray, hop: int, chunks: list[int], gate) -> np.ndarray:
    st = Streamer(scorer, hop, gate=gate)
    parts, i, k = [], 0, 0
    while i < len(audio):
        n = chunks[k % len(chunks)]
        parts.append(st.process(audio[i:i + n]).probs)
        i, k = i + n, k + 1
    parts.append(st.flush().probs)
    return np.concatenate(parts)


@pytest.mark.parametrize("hop", [1600, 800, 1000])
@pytest.mark.parametrize("gated", [False, True])
def test_streamer_with_shared_rows_equals_full_windows(bkws: str, hop: int, gated: bool) -> None:
    audio = stream_audio(6.3, seed=hop)
    gate = Gate() if gated else None
    cached = EngineScorer(bkws)
    got = run_stream(cached, audio, hop, [3000, 517, 16000, 1], gate)
    want = run_stream(Uncached(bkws), audio, hop, [16000], gate)
    assert got.shape == want.shape and got.shape[0] > 50
    assert np.array_equal(got, want)
    off = sliding_posteriors(cached, audio, hop, gate=gate)
    assert np.array_equal(off.probs, want)


def test_rows_are_reused_and_new_streams_start_empty(bkws: str) -> None:
    scorer = EngineScorer(bkws)
    st = Streamer(scorer, 1600, gate=None)
    a, b = stream_audio(4.0, 1), stream_audio(4.0, 2)
    st.process(a)
    cache = st._score._stream.cache
    # a 100 ms hop moves the window by 10 frames: about 10 of 98 rows computed per window
    assert cache.hits > 5 * cache.misses
    st.reset()  # a new stream: positions restart at 0 with other audio
    second = np.concatenate([st.process(b).probs, st.flush().probs])
    fresh = Streamer(Uncached(bkws), 1600, gate=None)
    want = np.concatenate([fresh.process(b).probs, fresh.flush().probs])
    assert np.array_equal(second, want)


def assert_refuses_bad_windows(call, eng: Engine, wins: np.ndarray, starts: np.ndarray,
                               cache, bad_value: float) -> None:
    """``call`` (``Engine.stream_features`` or ``stream_predict``) refuses a window holding
    ``bad_value`` (NaN or inf) when it checks its input, and windows of the wrong length even
    with ``check=False`` (the native call checks shapes)."""
    bad = wins[:1].copy()
    bad[0, 5] = bad_value
    with pytest.raises(BifsmnError, match="NaN or infinite"):
        call(bad, starts[:1], eng.frame_cache())
    with pytest.raises(BifsmnError, match="clip_samples"):
        call(np.ascontiguousarray(wins[:1, :8000]), starts[:1], cache, check=False)


def test_engine_stream_features_matches_features_and_checks_input(bkws: str) -> None:
    eng = Engine(bkws)
    audio = stream_audio(3.0, 7)
    starts = np.arange(-SR + 1600, len(audio) - SR + 1, 1600)
    padded = np.concatenate([np.zeros(SR, np.float32), audio])
    wins = np.stack([padded[s + SR:s + 2 * SR] for s in starts])
    cache = eng.frame_cache()
    got = np.concatenate([eng.stream_features(wins[i:i + 4], starts[i:i + 4], cache)
                          for i in range(0, len(wins), 4)])
    assert np.array_equal(got, eng.features(wins))
    assert cache.hits > 0
    other = Engine(bkws)
    for call in (other.stream_features, other.stream_predict):
        with pytest.raises(BifsmnError, match="another engine") as info:
            call(wins[:1], starts[:1], cache)
        assert str(info.value).count(str(bkws)) == 1, info.value  # the file named once
    with pytest.raises(BifsmnError, match="one start per window"):
        eng.stream_features(wins[:2], starts[:1], cache)
    with pytest.raises(BifsmnError, match="clip_samples"):
        eng.stream_features(wins[:1, :8000], starts[:1], cache)
    for bad in ([0.5], [None], ["a"], [-2**63], [2**63 - 1]):  # never truncated or overflowed
        with pytest.raises(BifsmnError, match="starts must"):
            eng.stream_features(wins[:1], np.array(bad), cache)
    # check=False (the streamer's windows, checked on arrival): the same features; the checks
    # it skips are the samples' (the shapes are still the native call's), which check=True makes
    fresh = eng.frame_cache()
    unchecked = np.concatenate([eng.stream_features(np.ascontiguousarray(wins[i:i + 4]),
                                                    starts[i:i + 4], fresh, check=False)
                                for i in range(0, len(wins), 4)])
    assert np.array_equal(unchecked, got)
    assert_refuses_bad_windows(eng.stream_features, eng, wins, starts, cache, np.nan)


@pytest.mark.parametrize("pool,steps", [(2, 48), (1, 96)])
def test_finer_pools_stream_equal_to_full_windows(tmp_path, pool: int, steps: int) -> None:
    """``data.pool`` 2 and 1 models: shared rows, offline windows and full windows agree."""
    from dataclasses import replace

    cfg = replace(Fbank40Config(), pool=pool, input_scale=1.0 / (32 * pool))
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=43, features=cfg.to_dict(),
                           n_mels=40, frames=steps)
    path = str(export_checkpoint(ckpt, tmp_path / "m.bkws"))
    audio = stream_audio(4.2, seed=pool)
    got = run_stream(EngineScorer(path), audio, 1600, [3000, 517, 16000], Gate())
    want = run_stream(Uncached(path), audio, 1600, [16000], Gate())
    assert got.shape == want.shape and got.shape[0] > 30
    assert np.array_equal(got, want)


@pytest.mark.parametrize("kind", ["fbank40", "logmel32"])
def test_engine_stream_predict_equals_predict_on_stream_features(bkws: str, logmel_bkws: str,
                                                                 kind: str) -> None:
    """The fused call (front end at stream positions, then the network, one native call) gives
    the logits of predict() on stream_features() bit for bit, through one shared cache, and
    checks its input as stream_features does."""
    path = bkws if kind == "fbank40" else logmel_bkws
    eng = Engine(path)
    audio = stream_audio(3.0, 8)
    hop = 1536 if kind == "logmel32" else 1600  # hops whose windows share front-end rows
    starts = np.arange(-SR + hop, len(audio) - SR + 1, hop)
    wins = windows_at(audio, starts)
    cache, ref_cache = eng.frame_cache(), eng.frame_cache()
    got = np.concatenate([eng.stream_predict(wins[i:i + 2], starts[i:i + 2], cache)
                          for i in range(0, len(wins), 2)])
    want = np.concatenate([eng.predict(eng.stream_features(wins[i:i + 2], starts[i:i + 2],
                                                           ref_cache))
                           for i in range(0, len(wins), 2)])
    assert got.shape == (len(wins), eng.num_classes) and len(wins) > 10
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    assert cache.hits > 0 and cache.hits == ref_cache.hits
    unchecked = eng.stream_predict(np.ascontiguousarray(wins[:3]), starts[:3],
                                   eng.frame_cache(), check=False)
    assert np.array_equal(unchecked, got[:3])
    with pytest.raises(BifsmnError, match="another engine"):
        Engine(path).stream_predict(wins[:1], starts[:1], cache)
    with pytest.raises(BifsmnError, match="one start per window"):
        eng.stream_predict(wins[:2], starts[:1], cache)
    assert_refuses_bad_windows(eng.stream_predict, eng, wins, starts, cache, np.inf)


@pytest.fixture(scope="module")
def logmel_bkws(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("stream_cache_logmel")
    ckpt = make_checkpoint(root / "m.pt", "bifsmnv2", seed=44)  # logmel32 features
    return str(export_checkpoint(ckpt, root / "m.bkws"))


def windows_at(audio: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """1-s windows of ``audio`` at stream positions ``starts`` (zeros before the stream)."""
    padded = np.concatenate([np.zeros(SR, np.float32), audio, np.zeros(SR, np.float32)])
    return np.stack([padded[s + SR:s + 2 * SR] for s in starts])


@pytest.mark.parametrize("hop,reused", [(1536, True), (512, True), (1600, False)])
def test_logmel_stream_features_equal_full_windows(logmel_bkws: str, hop: int,
                                                   reused: bool) -> None:
    eng = Engine(logmel_bkws)
    assert dict(eng.feature_config)["kind"] == "logmel32"
    audio = stream_audio(4.0, seed=hop)
    starts = np.arange(-SR + hop, len(audio) - SR + 1, hop)
    wins = windows_at(audio, starts)
    cache = eng.frame_cache()
    got = np.concatenate([eng.stream_features(wins[i:i + 3], starts[i:i + 3], cache)
                          for i in range(0, len(wins), 3)])
    assert np.array_equal(got, eng.features(wins))
    frames = got.shape[-1]
    # 28 of 32 frames are interior; a window moved by h whole hops computes h of them
    assert cache.hits + cache.misses == len(wins) * (frames - 4)
    if reused:
        assert cache.misses == (frames - 4) + (len(wins) - 1) * (hop // 512)
    else:
        assert cache.hits == 0
    # other audio at the same positions (a new stream) through a new cache: its own features
    other = windows_at(stream_audio(4.0, seed=hop + 1), starts[:2])
    fresh = eng.frame_cache()
    assert np.array_equal(eng.stream_features(other, starts[:2], fresh), eng.features(other))


def test_logmel_stream_features_any_order_of_starts(logmel_bkws: str) -> None:
    """Windows visited out of order and at unaligned offsets reuse only matching frames."""
    eng = Engine(logmel_bkws)
    audio = stream_audio(5.0, seed=3)
    rng = np.random.default_rng(5)
    starts = np.concatenate([np.arange(0, 3 * SR, 512), rng.integers(-SR, 4 * SR, 40)])
    rng.shuffle(starts)
    wins = windows_at(audio, starts)
    cache = eng.frame_cache()
    got = np.concatenate([eng.stream_features(wins[i:i + 1], starts[i:i + 1], cache)
                          for i in range(len(wins))])
    assert np.array_equal(got, eng.features(wins))
    assert cache.hits > 0


def test_time_stream_frontend_runs_windows_through_a_cache(logmel_bkws: str) -> None:
    eng = Engine(logmel_bkws)
    stream = stream_audio(3.0, seed=9)
    t = eng.time_stream_frontend(stream, 1536, runs=5, warmup=2)
    assert t.shape == (5,) and (t > 0).all()
    with pytest.raises(BifsmnError, match="stream too short"):
        eng.time_stream_frontend(stream[:SR], 1536, runs=2, warmup=0)
    with pytest.raises(BifsmnError, match=r"hop must be a whole number in \[1, "):
        eng.time_stream_frontend(stream, 0, runs=2, warmup=0)
    # counts past the native 32-bit ints: one line naming the argument, no nanobind dump
    for kw in ({"hop": 2**31}, {"runs": 10**30}, {"warmup": 2**63}):
        args = {"hop": 1536, "runs": 2, "warmup": 0, **kw}
        with pytest.raises(BifsmnError, match=f"{next(iter(kw))} must be a whole number in"):
            eng.time_stream_frontend(stream, **args)
    for kw in ({"runs": 2**31}, {"warmup": 10**20}):
        with pytest.raises(BifsmnError, match=f"{next(iter(kw))} must be a whole number in"):
            eng.time_calls(stream[:SR], **kw)
        with pytest.raises(BifsmnError, match=f"{next(iter(kw))} must be a whole number in"):
            eng.time_frontend(stream[None, :SR], **kw)


class FixedBatch(EngineScorer):
    """The engine scorer run like a PyTorch one: every batch padded to the full batch size."""

    batch_invariant = False


@pytest.mark.parametrize("gated", [False, True])
def test_live_stream_scores_only_its_windows(bkws: str, gated: bool) -> None:
    """One window per hop goes through the engine (not a zero-padded batch of 16), with the same
    posteriors as the padded batches and the offline windows."""
    audio = stream_audio(4.0, seed=21)
    gate = Gate() if gated else None
    live = EngineScorer(bkws)
    sizes: list[int] = []
    predict = live.engine.stream_predict  # the live path's network call (front end fused)

    def spy(x, *args, **kwargs):
        sizes.append(len(x))
        return predict(x, *args, **kwargs)

    live.engine.stream_predict = spy  # type: ignore[method-assign]
    got = run_stream(live, audio, 1600, [1600], gate)
    want = run_stream(FixedBatch(bkws), audio, 1600, [1600], gate)
    assert got.shape == want.shape and got.shape[0] > 30
    assert np.array_equal(got, want)
    # no padding windows: at most one network call per hop, one window each (the flush's
    # 0.5 s of zeros completes several hops at once)
    assert sizes and sum(sizes) <= got.shape[0] and sizes[:-1] == [1] * (len(sizes) - 1)
    off = sliding_posteriors(live, audio, 1600, gate=gate)
    assert np.array_equal(off.probs, want)
