"""Gate cost/effect on 10-min eval streams (docs/detection.md, Gate). Run from the repo root:
.venv/bin/python docs/results/detection/gate_effect.py"""

import math
import time

from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect import evaluate as E
from bifsmn.detect.gate import Gate
from bifsmn.detect.scorer import load_scorer

ds = SpeechCommands("../shared/data/speech_commands_test12_v0.02", 12)
sc = load_scorer(None, 8)
for snr in (math.inf, 10.0):
    st = E.build_stream(ds, "validation", 10, snr, 0, snr_mode="global")
    for name, g in (("none", None), ("pad", Gate(None, None)), ("default", E.DEFAULT_GATE)):
        t = time.time()
        post, dt = E.stream_posteriors(sc, st.audio, 1600, gate=g)
        sw = E.sweep(post, sc.labels, st.keywords, st.hours, E.DEFAULT_THRESHOLDS, 5, 16000)
        r = E.SystemResult("x", "x", 8, snr, dt, dt, list(E.DEFAULT_THRESHOLDS), sw)
        op = r.operating_point(6.0)
        print(
            snr,
            name,
            f"scored {E.stream_posteriors.last_scored:.3f}",
            f"best miss {min(s.miss_rate for s in sw):.3f}",
            f"miss@th0.5 {sw[24].miss_rate:.3f} fa/h {sw[24].fa_per_hour:.0f}",
            "op<=6FA/h",
            None if op is None else (op[0], round(op[1].miss_rate, 3)),
            f"{dt:.1f}s",
            flush=True,
        )
