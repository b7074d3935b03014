"""Cache a model's posteriors on seeded streams (for fa_sources.py and crossseed.py).

    python docs/results/calibration/cache_posts.py MODEL OUT.pkl BLOCKS SPEC [SPEC ...]

SPEC is ``split:negatives_split:seed:snr:minutes[:snr_mode]``, e.g.
``validation:testing:0:clean:60`` (the eval-stream streams) or
``training:validation:1000:clean:60`` (calibration streams); ``snr_mode`` is ``global``
(default: the definition the committed outputs were made with) or ``clip`` (each word at the
SNR, the default of ``eval-stream`` and ``calibrate`` since session 11). Streams are built
exactly as ``eval-stream`` / ``calibrate`` build them, scored behind the default gate, one
thread.
"""

import math
import pickle
import sys

import numpy as np
import torch

from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect.evaluate import build_stream, negative_files, stream_posteriors
from bifsmn.detect.gate import DEFAULT_GATE
from bifsmn.detect.scorer import scorers_for_blocks

DATA = "../shared/data/speech_commands_test12_v0.02"
NEG = "../shared/data/picovoice_wake_words"


def main() -> None:
    torch.set_num_threads(1)
    model, out = sys.argv[1], sys.argv[2]
    blocks = [int(b) for b in sys.argv[3].split(",")]
    specs = [tuple((x + ":global").split(":")[:6]) for x in sys.argv[4:]]
    ds = SpeechCommands(DATA, 12)
    res = {}
    for b, sc in scorers_for_blocks(model, blocks, print):
        for split, nsplit, seed, snr, mins, mode in specs:
            snr_db = math.inf if snr == "clean" else float(snr)
            st = build_stream(ds, split, float(mins), snr_db, int(seed),
                              negatives=negative_files(NEG, nsplit), snr_mode=mode)
            post, dt = stream_posteriors(sc, st.audio, 1600, gate=DEFAULT_GATE)
            print(b, split, nsplit, seed, snr, mins, f"{dt:.1f}s", flush=True)
            key = (b, split, nsplit, int(seed), snr_db, float(mins))
            res[key if mode == "global" else (*key, mode)] = {
                "probs": post.probs.astype(np.float32), "ends": post.ends,
                "window": post.window, "sr": post.sample_rate, "audio_end": post.audio_end,
                "segments": st.segments, "hours": st.hours, "labels": list(sc.labels)}
    with open(out, "wb") as f:
        pickle.dump(res, f)


if __name__ == "__main__":
    main()
