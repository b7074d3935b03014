"""Does the verifier's training noise look like the noise of the 10-dB streams? (session 29)

    python docs/results/noise-domain/measure.py --out docs/results/noise-domain

Why: at 10 dB the two-stage detector's misses are its verifier's (docs/results/pool), and three
changes to the verifier were level (docs/results/verifier-noise, verifier-wide,
verifier-ensemble). The verifier learns noise from the fbank40 archive, where noise is mixed in
the *feature* domain (``bifsmn.data.feature_augment``): JPEG-stored noise images added to
JPEG-stored clip images in filter energies, at a filter-energy SNR drawn from 0-20 dB. The
streams mix noise into the *audio* (``bifsmn.detect.evaluate.compose_stream``): every word
scaled to the streams' mean clip power, one unit-RMS noise bed of excerpts of the six
``_background_noise_`` files for the whole stream, so each word's own SNR depends on which file
plays under it. If the two kinds of noisy input differ in a way the verifier notices, its clip
accuracy on the same words and the same noise differs between them.

For keyword clips of the dev data's training list (the calibration speakers), one noise excerpt
each from a bed built as the streams build it, and the streams' 10-dB gain, this scores the
bundled verifier (the C++ engine, 8 blocks) on

* ``clean``: the clip's fbank40 image;
* ``audio``: the image of clip + noise mixed in the audio (what the detector sees);
* ``features``: the clip's and the noise's images, each JPEG round-tripped as the archive
  stores them, mixed in filter energies with the same gain (what training does);
* ``features, no JPEG``: the same from exact images (isolates the JPEG step);

and reports each word's filter-energy SNR as training would define it (the share of words
inside training's 0-20 dB), with how many words' true posterior stays below thresholds as high as
the calibrated ones, by each word's own SNR, and where the missing posterior goes. Seeded;
writes ``measure.txt`` and ``measure.json``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from bifsmn.audio import load_audio
from bifsmn.data.archive import jpeg_roundtrip
from bifsmn.data.fbank import Fbank40, energy_to_values, image_to_input, values_to_energy
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.labels import COMMANDS
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect.cascade import bundled_verifier
from bifsmn.detect.evaluate import noise_bed
from bifsmn.detect.stream import softmax
from bifsmn.engine import Engine

DATA = "../shared/data/speech_commands_test12_v0.02"
SR = 16000
TAILS = (0.5, 0.9, 0.99, 0.999)  # how many true keywords a high threshold would cut


def clip_1s(x: np.ndarray) -> np.ndarray:
    """A clip padded with zeros (centred) or cut to one second."""
    if len(x) >= SR:
        return x[:SR].astype(np.float64)
    out = np.zeros(SR, np.float64)
    off = (SR - len(x)) // 2
    out[off:off + len(x)] = x
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=2000)
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/results/noise-domain")
    ap.add_argument("--verifier", default=None, help=".bkws file (default: the bundled verifier)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(a.seed)
    ds = SpeechCommands(DATA, 12)
    items = [it for it in ds.items("training") if it.path is not None and it.word in COMMANDS]
    items = [items[i] for i in sorted(rng.choice(len(items), min(a.clips, len(items)),
                                                 replace=False))]
    clips = [clip_1s(load_audio(it.path)) for it in items]
    powers = np.array([np.mean(c ** 2) for c in clips])
    level = float(np.mean(powers[powers > 0]))  # the streams' P: every word scaled to it
    gain = math.sqrt(level / 10.0 ** (a.snr / 10.0))
    bed = noise_bed([load_audio(f) for f in ds.noise_files], SR * len(clips),
                    np.random.default_rng([a.seed, 1])).astype(np.float64)

    vpath = a.verifier or bundled_verifier()
    eng = Engine(vpath, blocks=8)
    cfg = feature_config_from_dict(dict(eng.feature_config))
    fb = Fbank40(cfg)
    labels = list(eng.labels)
    truth = np.array([labels.index(it.word) for it in items])

    def energies(x: np.ndarray) -> torch.Tensor:
        return fb.energies(torch.from_numpy(x))[0]

    def values(e: torch.Tensor) -> torch.Tensor:
        return energy_to_values(e, cfg)

    def jpeg(v: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(jpeg_roundtrip(v.numpy().astype(np.uint8)).astype(np.float32))

    conds = ("clean", "audio", "features", "features, no JPEG")
    imgs: dict[str, list[torch.Tensor]] = {c: [] for c in conds}
    fsnr, lsnr = [], []
    for i, (c, pw) in enumerate(zip(clips, powers, strict=True)):
        c = c * math.sqrt(level / pw) if pw > 0 else c
        n = gain * bed[i * SR:(i + 1) * SR]
        lsnr.append(10 * math.log10(np.mean(c ** 2) / max(float(np.mean(n ** 2)), 1e-30)))
        ec, en = energies(c), energies(n)
        vc, vn = values(ec), values(en)
        imgs["clean"].append(vc)
        imgs["audio"].append(values(energies(c + n)))
        imgs["features"].append(values(values_to_energy(jpeg(vc).double(), cfg)
                                             + values_to_energy(jpeg(vn).double(), cfg)))
        imgs["features, no JPEG"].append(values(ec + en))
        fsnr.append(10 * math.log10(float(ec.sum()) / max(float(en.sum()), 1e-30)))
    fsnr, lsnr = np.array(fsnr), np.array(lsnr)

    res, post = {}, {}
    for cname in conds:
        x = image_to_input(torch.stack(imgs[cname]).float(), cfg).numpy()
        logits = np.concatenate([eng.predict(x[j:j + 64]) for j in range(0, len(x), 64)])
        pred = logits.argmax(1)
        p = softmax(logits)  # as the detector turns logits into posteriors
        pt = p[np.arange(len(p)), truth]
        post[cname] = p
        res[cname] = {"accuracy": float(np.mean(pred == truth)),
                      "mean_true_posterior": float(np.mean(pt)),
                      "below": {str(t): float(np.mean(pt < t)) for t in TAILS}}
    exact = torch.stack(imgs["features, no JPEG"])
    same = float((torch.stack(imgs["audio"]) == exact).float().mean())
    lines = [f"{len(clips)} keyword clips of {DATA} [training], seed {a.seed}, streams' gain for "
             f"{a.snr:g} dB (each word scaled to the mean clip power, one unit-RMS noise bed of "
             f"{len(ds.noise_files)} _background_noise_ files); verifier {Path(vpath).name}",
             "",
             "| input | accuracy | mean posterior of the true keyword | "
             + " | ".join(f"true posterior < {t:g}" for t in TAILS) + " |",
             "|---|---:|---:|" + "---:|" * len(TAILS)]
    lines += [f"| {c} | {100 * r['accuracy']:.1f} % | {r['mean_true_posterior']:.3f} | "
              + " | ".join(f"{100 * r['below'][str(t)]:.1f} %" for t in TAILS) + " |"
              for c, r in res.items()]
    q = np.percentile(fsnr, [10, 25, 50, 75, 90])
    inside = float(np.mean((fsnr >= 0) & (fsnr <= 20)))
    lines += ["",
              f"audio-mixed image values equal to exact feature-mixed ones: {100 * same:.1f} %",
              "each word's filter-energy SNR (training's definition), percentiles 10/25/50/75/90: "
              + " / ".join(f"{v:.1f}" for v in q) + f" dB; inside 0-20 dB: {100 * inside:.1f} %"]
    lines += ["", "audio-mixed words by their own SNR (the word's power over its noise's):",
              "", "| word SNR | words | accuracy | true posterior < 0.99 |", "|---|---:|---:|---:|"]
    pa = post["audio"]
    pta = pa[np.arange(len(pa)), truth]
    bins = {}
    for lo, hi in ((-99, 5), (5, 10), (10, 15), (15, 20), (20, 99)):
        m = (lsnr >= lo) & (lsnr < hi)
        name = f"< {hi} dB" if lo == -99 else f">= {lo} dB" if hi == 99 else f"{lo}-{hi} dB"
        if m.any():
            acc, tail = float(np.mean(pa[m].argmax(1) == truth[m])), float(np.mean(pta[m] < 0.99))
            bins[name] = {"words": int(m.sum()), "accuracy": acc, "below_0.99": tail}
            lines.append(f"| {name} | {m.sum()} | {100 * acc:.1f} % | {100 * tail:.1f} % |")
    lines += ["", "where the true keyword's missing posterior goes, words with true posterior "
              "< 0.99 (mean share of 1 - p_true):"]
    dest = {}
    for cname in ("clean", "audio"):
        pc = post[cname]
        ptc = pc[np.arange(len(pc)), truth]
        m = ptc < 0.99
        rest = 1.0 - ptc[m]
        share = {k: float(np.mean(pc[m, labels.index(k)] / rest))
                 for k in ("_unknown_", "_silence_")}
        share["other keywords"] = 1.0 - sum(share.values())
        dest[cname] = share
        lines.append(f"- {cname} ({int(m.sum())} words): " + ", ".join(
            f"{k} {100 * v:.0f} %" for k, v in share.items()))
    text = "\n".join(lines)
    print(text)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "measure.txt").write_text(text + "\n")
    (out / "measure.json").write_text(json.dumps(
        {"results": res, "filter_snr_percentiles": q.tolist(), "inside_0_20": inside,
         "by_word_snr": bins, "missing_mass": dest,
         "clips": len(clips), "snr_db": a.snr, "seed": a.seed}, indent=1) + "\n")


if __name__ == "__main__":
    main()
