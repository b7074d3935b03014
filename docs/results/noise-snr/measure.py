"""What SNR does the at-scale noise augmentation train at? (issue 13: 68 % misses at 10 dB)

Draws the feature-domain noise mix of the at-scale recipe (``data.noise_max_gain`` 1.0: a
training noise image times g ~ U(0, 1), added in the energy domain) for 3,000 training keyword
clips, and prints the clip-over-noise SNR (total filter energy of the clip over that of the
added noise, the definition `bifsmn eval-stream` uses for its noisy streams: clip power over
noise power). ``data.noise_snr_db`` (session 8) draws that SNR directly instead. Usage:

    python docs/results/noise-snr/measure.py ../shared/data/speech_commands_v0.02_fbank40
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from bifsmn.data.archive import FeatureArchive
from bifsmn.data.fbank import values_to_energy


def main(root: str) -> None:
    arc = FeatureArchive(root)
    cache = Path.home() / ".cache" / "bifsmn"
    noise = values_to_energy(arc.noise_images("training", cache).float()).sum((1, 2))
    images, labels = arc.images("training", cache)
    keywords = (labels >= 2).nonzero().flatten()[:3000]  # labels 0/1: unknown, silence
    clip = values_to_energy(images[keywords].float()).sum((1, 2))
    gen = torch.Generator().manual_seed(0)
    which = torch.randint(len(noise), (len(clip),), generator=gen)
    gain = torch.rand(len(clip), generator=gen)
    n = noise[which]
    audible = n > 0
    snr = 10 * torch.log10(clip[audible] / (gain[audible] * n[audible]))
    q = torch.quantile(snr, torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95]))
    print(f"{len(clip)} training keyword clips, {len(noise)} training noise images "
          f"({int((noise == 0).sum())} silent)")
    print("raw gains g ~ U(0, 1) (the recipe so far): SNR quantiles 5/25/50/75/95 % = "
          + " / ".join(f"{float(v):.1f}" for v in q) + " dB; "
          f"below 10 dB: {100 * float((snr < 10).float().mean()):.1f} %, "
          f"below 20 dB: {100 * float((snr < 20).float().mean()):.1f} %")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/speech_commands_v0.02_fbank40")
