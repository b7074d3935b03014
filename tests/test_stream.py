"""Streaming posteriors equal the offline sliding-window computation for any chunking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_detect_support import SR, StubScorer, WindowProbeScorer, tiny_checkpoint, tone_stream

from bifsmn.data.features import LogMel
from bifsmn.detect.scorer import TorchScorer, load_scorer
from bifsmn.detect.stream import Posteriors, Streamer, sliding_posteriors, softmax
from bifsmn.errors import BifsmnError


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    torch.set_num_threads(1)
    return TorchScorer.from_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("ckpt")))


@pytest.fixture(scope="module")
def audio() -> np.ndarray:
    # 3.33 s: not a whole number of hops, so the flushed tail is exercised too
    return tone_stream([("yes", 0.2), ("go", 1.9)], 3.33, seed=3)


def run_chunked(streamer: Streamer, x: np.ndarray, sizes) -> Posteriors:
    parts, i = [], 0
    for n in sizes:
        if i >= len(x):
            break
        parts.append(streamer.process(x[i:i + n]))
        i += n
    parts.append(streamer.flush())
    return Posteriors.concat(parts, len(streamer.labels), streamer.window, streamer.sample_rate)


def chunk_sizes(kind, n: int):
    if kind == "random":
        rng = np.random.default_rng(7)
        return [int(v) for v in rng.integers(1, 5000, size=n)]
    return [kind] * (n // kind + 1)


@pytest.mark.parametrize("kind", [1, 160, 1000, 1600, 4096, 16000, 10**6, "random"])
def test_streaming_equals_offline(scorer, audio, kind):
    ref = sliding_posteriors(scorer, audio, 1600)
    st = Streamer(scorer, 1600)
    got = run_chunked(st, audio, chunk_sizes(kind, len(audio)))
    np.testing.assert_array_equal(got.ends, ref.ends)
    np.testing.assert_allclose(got.probs, ref.probs, rtol=0, atol=1e-6)
    assert len(got) == 39  # ceil((3.33 s + 0.5 s of trailing zeros) / 0.1 s)
    assert got.audio_end == ref.audio_end == len(audio)
    assert st.samples_seen == len(audio)


def test_offline_reference_is_the_plain_definition(scorer, audio):
    """Window k ends at k*hop, zeros before the start, 0.5 s + the last hop zero-padded at the
    end: computed one window at a time with LogMel + model directly."""
    ref = sliding_posteriors(scorer, audio, 1600, gate=None)
    padded = np.concatenate([np.zeros(SR, np.float32), audio,
                             np.zeros(39 * 1600 - len(audio), np.float32)])
    logmel = LogMel(scorer.feature_config)
    for k in (1, 2, 10, 17, 34, 39):
        win = torch.from_numpy(padded[k * 1600:k * 1600 + SR].copy())
        with torch.inference_mode():
            logits = scorer.model(logmel(win[None]), path=0).numpy()
        np.testing.assert_allclose(ref.probs[k - 1], softmax(logits)[0], atol=1e-5)
    assert ref.end[0] == pytest.approx(0.1) and ref.start[0] == 0.0
    assert ref.ends[-1] == 39 * 1600 and ref.end[-1] == pytest.approx(3.33)  # clipped to audio
    assert ref.start[-1] == pytest.approx(2.9)
    frames = list(ref)
    assert frames[12].index == 12 and frames[12].end == pytest.approx(1.3)
    assert frames[12].start == pytest.approx(0.3)


@pytest.mark.parametrize("hop", [512, 2000, 16000])
def test_other_hops(scorer, audio, hop):
    ref = sliding_posteriors(scorer, audio, hop)
    got = run_chunked(Streamer(scorer, hop), audio, chunk_sizes("random", len(audio)))
    np.testing.assert_array_equal(got.ends, ref.ends)
    np.testing.assert_allclose(got.probs, ref.probs, rtol=0, atol=1e-6)
    assert np.all(np.diff(got.ends) == hop)


def test_short_and_int16_input(scorer):
    st = Streamer(scorer)
    assert len(st.process(np.zeros(1599, np.float32))) == 0
    tail = st.flush()  # 1599 samples + 0.5 s of zeros, completed to 6 hops
    assert list(tail.ends) == [1600 * k for k in range(1, 7)]
    assert tail.end[-1] == pytest.approx(1599 / SR)
    assert len(st.flush()) == 0  # nothing new since the last flush
    x = (tone_stream([("no", 0.0)], 0.5) * 20000).astype(np.int16)
    a = Streamer(scorer)
    b = Streamer(scorer)
    pa = a.process(x)
    pb = b.process(x.astype(np.float32) / 32768)
    np.testing.assert_array_equal(pa.probs, pb.probs)


def test_reset_starts_a_new_stream(scorer, audio):
    st = Streamer(scorer)
    first = st.process(audio[:20000])
    st.reset()
    again = st.process(audio[:20000])
    np.testing.assert_array_equal(first.probs, again.probs)
    np.testing.assert_array_equal(first.ends, again.ends)


@pytest.mark.parametrize("hop", [1600, 1000])
def test_long_stream_buffer_compacts_and_stays_flat(hop):
    """A 25-s stream in chunks of 1 to 5,000 samples, then one of 3 windows: the streamer's
    buffer fills and moves its live samples to the front many times; every window still equals
    the offline one, and the buffer never grows: the long chunk is taken in slices (session
    70: it grew to twice the longest chunk, an hour's chunk 2.4 GB of windows at once)."""
    rng = np.random.default_rng(11)
    x = (0.3 * rng.standard_normal(25 * SR)).astype(np.float32)
    scorer = WindowProbeScorer()
    ref = sliding_posteriors(scorer, x, hop, gate=None)
    st = Streamer(scorer, hop, gate=None)
    start_size = st._buf.size
    sizes = [int(v) for v in rng.integers(1, 5000, size=100)]
    small = sum(sizes)
    parts, i = [], 0
    for n in sizes:
        parts.append(st.process(x[i:i + n]))
        i += n
    assert st._buf.size == start_size  # compacted, never grown, by chunks under a window
    parts.append(st.process(x[small:]))  # the rest at once: more than the buffer holds
    assert st._buf.size == start_size
    parts.append(st.flush())
    got = Posteriors.concat(parts, len(st.labels), st.window, st.sample_rate)
    np.testing.assert_array_equal(got.ends, ref.ends)
    np.testing.assert_array_equal(got.probs, ref.probs)


def test_bad_chunks_and_hops():
    st = Streamer(StubScorer())
    with pytest.raises(BifsmnError, match="1-D"):
        st.process(np.zeros((2, 100), np.float32))
    with pytest.raises(BifsmnError, match="NaN"):
        st.process(np.array([0.0, np.nan], np.float32))
    with pytest.raises(BifsmnError, match="hop"):
        Streamer(StubScorer(), hop=0)
    with pytest.raises(BifsmnError, match="hop"):
        Streamer(StubScorer(), hop=16001)


def test_scorer_protocol_and_blocks(tmp_path, scorer):
    assert load_scorer(scorer) is scorer
    assert scorer.labels[:2] == ["_unknown_", "_silence_"]
    thin = load_scorer(tiny_checkpoint(tmp_path, trained=False), blocks=2)
    assert thin.path == 2
    out = thin.scores(np.zeros((3, 1, 32, 32), np.float32))
    assert out.shape == (3, 12) and out.dtype == np.float32
    with pytest.raises(BifsmnError, match="blocks"):
        load_scorer(tiny_checkpoint(tmp_path, trained=False), blocks=3)
    with pytest.raises(BifsmnError, match="Scorer"):
        load_scorer(object())


def test_channel_blocks_are_mixed_to_mono():
    # sounddevice delivers (frames, channels) blocks: (n, 1) is mono, (n, 2) is mixed
    from bifsmn.detect.stream import as_mono_float

    x = np.linspace(-0.5, 0.5, 1600, dtype=np.float32)
    np.testing.assert_array_equal(as_mono_float(x[:, None]), x)
    np.testing.assert_array_equal(as_mono_float(np.stack([x, x], axis=1)), x)
    # two different channels: the channel mean, not the first (x) or the second (-x/2)
    np.testing.assert_allclose(as_mono_float(np.stack([x, -0.5 * x], axis=1)), 0.25 * x,
                               rtol=0, atol=1e-7)
    pcm = np.round(x * 32767).astype(np.int16)
    np.testing.assert_array_equal(as_mono_float(pcm[:, None]), as_mono_float(pcm))
    with pytest.raises(BifsmnError, match="1-D mono samples or"):
        as_mono_float(np.zeros((2, 2, 2), np.float32))


def test_long_chunks_run_full_batches():
    """A scorer that pads every batch (not batch-invariant, like TorchScorer) runs full batches
    when a long array is sliced: 200 windows at batch 64 are 4 batches, as in one piece, not
    one padded batch per 31-hop slice (7 batches; the first slicing of session 70)."""
    seen = []

    class Padded(WindowProbeScorer):
        batch_invariant = False

        def scores(self, features: np.ndarray) -> np.ndarray:
            seen.append(len(features))
            return super().scores(features)

    x = (0.1 * np.random.default_rng(2).standard_normal(20 * SR)).astype(np.float32)
    st = Streamer(Padded(), 1600, batch_size=64, gate=None)
    assert len(st.process(x)) == 200
    assert seen == [64] * 4
