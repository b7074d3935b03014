"""What "10 dB SNR" meant for each word under the two stream definitions (docs/detection.md, "SNR").

    python docs/results/snr-mode/levels.py > docs/results/snr-mode/levels.txt

For the keyword and unknown-word clips of each split of the dev data (every clip once), the SNR
each word gets in a stream built at 10 dB: with ``--snr-mode global`` (words keep their recorded
levels, the noise is set from the mean clip power) it is ``10 + 10 log10(p_i / mean(p))``; with
``--snr-mode clip`` (the default) it is 10 dB for every word by construction. Power = the mean
square over the whole clip, as in :func:`bifsmn.detect.evaluate.compose_stream` (a stream's
mean also includes its negative-speech clips, left out here).
"""

import numpy as np

from bifsmn.audio import load_audio
from bifsmn.data.labels import SILENCE
from bifsmn.data.speech_commands import SpeechCommands

DATA = "../shared/data/speech_commands_test12_v0.02"


def main() -> None:
    ds = SpeechCommands(DATA, 12)
    print(f"data: {DATA}; stream SNR 10 dB; --snr-mode global (per-word SNR of each clip)")
    for split in ("training", "validation"):
        items = [it for it in ds.items(split) if it.path is not None and it.word != SILENCE]
        p = np.array([np.mean(load_audio(it.path).astype(np.float64) ** 2) for it in items])
        p = p[p > 0]
        snr = 10 + 10 * np.log10(p / p.mean())
        q = np.percentile(snr, [10, 25, 50, 75, 90])
        print(f"{split}: {len(p)} clips; per-word SNR percentiles 10/25/50/75/90: "
              + " / ".join(f"{v:.1f}" for v in q) + " dB; "
              f"below 0 dB {100 * np.mean(snr < 0):.1f} %, below 5 dB "
              f"{100 * np.mean(snr < 5):.1f} %, at or above 10 dB {100 * np.mean(snr >= 10):.1f} %")


if __name__ == "__main__":
    main()
