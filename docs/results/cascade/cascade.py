"""Calibrate a two-stage detector on the bundle's calibration hours (dry run).

``python docs/results/cascade/cascade.py TEACHER.bkws SYSTEM [SYSTEM ...]`` (from the repository
root; about 25 minutes for the first system on one core, then a few minutes per system: the
posteriors of both models are computed once). The bundle's calibration (12 h: training-list
speakers of the dev data, 6 h clean and 6 h with every word at 10 dB, the bundle's gate and
hop), on the bundled binary model's 8-block path, with the posteriors it calibrates replaced
according to each SYSTEM:

* ``binary``: the binary model's own (reproduces the bundle's stored record: the control);
* ``teacher``: the full-precision teacher's on the same windows (the teacher always on);
* ``cascade:TAU:HOLD``: the teacher's posteriors on the windows where the binary model's
  largest keyword posterior reached ``TAU`` in this window or one of the ``HOLD - 1`` windows
  before it (the teacher runs only once the binary model woke it, and keeps running while the
  word can still be in its 1-s window), "silence" (keyword posteriors 0) everywhere else.
  Causal: each window uses only the binary model's outputs up to that window.

Why: at the bundle's operating points the binary model's misses and false alarms are confident
confusions between short keywords (docs/results/fa-anatomy), which no rule on its own posteriors
removed (docs/results/noise-snr, sessions 12-13). Production keyword spotters run a cheap
always-on first stage and a larger verifier only when it fires; this measures what that buys
here and how often the verifier would run: its duty cycle, the share of the windows the gate
lets through on which the teacher runs. Prints the operating points; writes nothing.
"""
import dataclasses
import sys

import numpy as np

import bifsmn.detect.calibrate as cal
from bifsmn.detect.scorer import load_scorer

BINARY = "src/bifsmn/models_data/bifsmnv2.bkws"
STREAMS = 12  # the bundle's calibration: 6 streams per SNR, clean and 10 dB
teacher_path, systems = sys.argv[1], sys.argv[2:] or ["binary"]
orig = cal.stream_posteriors
# TEACHER may list several files joined by commas: their posteriors are averaged (an ensemble
# verifier, session 15)
teachers = [load_scorer(p, 8) for p in teacher_path.split(",")]
teacher = teachers[0]
cache: dict[int, tuple] = {}  # stream index -> (binary post, teacher post, seconds)


def active_windows(kw_max: np.ndarray, tau: float, hold: int) -> np.ndarray:
    """True where ``kw_max`` reached ``tau`` in this window or one of the ``hold - 1`` before."""
    hit = (kw_max >= tau).astype(np.int64)
    c = np.concatenate([[0], np.cumsum(hit)])
    lo = np.maximum(np.arange(len(hit)) + 1 - hold, 0)
    return (c[1:] - c[lo]) > 0


class TwoStage:
    """Stands in for ``stream_posteriors``; the k-th call of every calibration is stream k."""

    def __init__(self, system: str) -> None:
        name, *args = system.split(":")
        if name not in ("binary", "teacher", "cascade"):
            raise SystemExit(f"system must be binary, teacher or cascade:TAU:HOLD, not {system}")
        self.name = name
        self.tau = float(args[0]) if args else 0.5
        self.hold = int(args[1]) if len(args) > 1 else 10
        self.calls = 0
        self.duty = [0, 0]  # teacher windows, windows the gate let through
        self.last_scored = 1.0

    def __call__(self, scorer, audio, hop, **kw):
        k = self.calls % STREAMS
        self.calls += 1
        if k not in cache:
            post, dt = orig(scorer, audio, hop, **kw)
            scored = orig.last_scored
            if list(teacher.labels) != list(scorer.labels):
                raise SystemExit("teacher and binary model have different labels")
            tposts = [orig(t, audio, hop, **kw) for t in teachers]
            for t, (tp, _) in zip(teachers, tposts, strict=True):
                if not np.array_equal(tp.ends, post.ends):
                    raise SystemExit("the two models scored different windows")
                if list(t.labels) != list(scorer.labels):
                    raise SystemExit("a verifier's labels differ from the binary model's")
            tpost = dataclasses.replace(
                tposts[0][0], probs=np.mean([tp.probs for tp, _ in tposts], axis=0))
            tdt = sum(t for _, t in tposts)
            cache[k] = (post, tpost, dt, tdt, scored)
        post, tpost, dt, tdt, self.last_scored = cache[k]
        labels = list(scorer.labels)
        silence = np.zeros(len(labels), post.probs.dtype)
        silence[labels.index("_silence_")] = 1.0
        passed = ~np.all(post.probs == silence[None, :], axis=1)  # windows the gate let through
        if self.name == "binary":
            return post, dt
        kws = [i for i, lab in enumerate(labels) if lab not in ("_unknown_", "_silence_")]
        if self.name == "teacher":
            on = passed
        else:
            on = active_windows(post.probs[:, kws].max(axis=1), self.tau, self.hold) & passed
        self.duty[0] += int(on.sum())
        self.duty[1] += int(passed.sum())
        out = dataclasses.replace(post, probs=np.where(on[:, None], tpost.probs, silence[None, :]))
        return out, dt + tdt


for system in systems:
    stage = TwoStage(system)
    print(f"=== system {system}")
    cal.stream_posteriors = stage
    cal.calibrate(BINARY, "../shared/data/speech_commands_test12_v0.02",
                  negatives="../shared/data/picovoice_wake_words", blocks=[8], split="training",
                  minutes=60, write=False)
    if stage.name != "binary":
        print(f"{system}: teacher ran on {100 * stage.duty[0] / max(stage.duty[1], 1):.2f}% of "
              f"the {stage.duty[1]} windows the gate let through", flush=True)
