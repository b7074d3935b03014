"""Do feature-archive calibration streams give stored points that hold better on new speakers?

The speaker-disjoint two-fold check of docs/results/threshold-rule/cv.py (the bundle's
calibration speakers, the dev data's training list, split in two by speaker hash; each half's
12 x 60-min audio streams calibrate, the other half's are scored), with three calibration sets
per fold:

* ``audio``: the half's 12 audio hours (what cv.py measured for the pooled rule);
* ``audio+archive``: those plus 12 feature-domain hours (6 clean, 6 at 10 dB; seeds 4000-4011
  for fold 0, 5000-5011 for fold 1) from the fbank40 archive's validation split and the same
  half's negative recordings (bifsmn.detect.feature_streams; ``bifsmn calibrate --archive``);
* ``archive``: the 12 feature-domain hours alone (does the feature-domain approximation
  calibrate audio at all?).

Every system of the bundle (8 and 2 blocks, alone and as the bundled two-stage detector's first
stage), the pooled rule and the defaults of ``bifsmn calibrate``. The audio posteriors come from
cv.py's cache (``runs/threshold-rule/cv-fold*.pkl``, rebuilt if missing); the archive streams'
are cached beside them. Never touches the validation speakers.

    python docs/results/archive-calibration/cv.py --out docs/results/archive-calibration
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "threshold-rule"))
from cv import Half, half  # noqa: E402
from rules import (  # noqa: E402
    DATA,
    NEG,
    base_args,
    calibrated_points,
    posteriors,
    print_fold,
    score,
    systems,
    timing,
)

from bifsmn.data.fbank import Fbank40Config  # noqa: E402
from bifsmn.data.speech_commands import SpeechCommands  # noqa: E402
from bifsmn.detect.calibrate import _Kept  # noqa: E402
from bifsmn.detect.evaluate import negative_files  # noqa: E402
from bifsmn.detect.feature_streams import (  # noqa: E402
    ArchiveClips,
    audio_energies,
    build_feature_stream,
    feature_posteriors,
)

ARCHIVE = "../shared/data/speech_commands_v0.02_fbank40"
SETS = ("audio", "audio+archive", "archive")


def archive_posteriors(cache: Path, model: Path, fold: int, negs: list[str], ds) -> tuple:
    """Kept truth and every system's posteriors on one fold's 12 feature-domain hours."""
    f = cache / f"archive-fold{fold}.pkl"
    if f.exists():
        return pickle.loads(f.read_bytes())
    cfg = Fbank40Config()
    clips = ArchiveClips.load(ARCHIVE, "validation")
    neg_e = audio_energies(negs, cfg)
    noise_e = list(audio_energies(ds.noise_files, cfg).values())
    syst = systems(model)
    kept, posts = [], {s[0]: [] for s in syst}
    for i, snr in enumerate([math.inf] * 6 + [10.0] * 6):
        t0 = time.time()
        sd = 4000 + 1000 * fold + i
        st = build_feature_stream(clips, 60.0, snr, sd, neg_e, noise_e, cfg)
        kept.append(_Kept(list(st.segments), st.hours, st.snr_db))
        for name, scorer, ver, gate, _, _ in syst:
            hop, _ = timing(scorer)
            post, *_ = feature_posteriors(scorer, st, hop, gate, ver)
            posts[name].append(post)
        print(f"archive fold {fold} snr={snr} seed={sd}: {time.time() - t0:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    f.write_bytes(pickle.dumps((kept, posts)))
    return kept, posts


def table(result: dict) -> str:
    """Markdown: per system, calibration set and target, both folds' test hours together."""
    rows = ["| system | calibrated on | target FA/h | test FA/h clean | test FA/h 10 dB | "
            "test miss clean | test miss 10 dB |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, sets in result.items():
        for which, folds in sets.items():
            for f in folds["fold0"]["test"]:
                agg: dict = {}
                for fold in folds.values():
                    for snr, v in fold["test"][f].items():
                        a = agg.setdefault(snr, [0, 0, 0, 0.0])
                        a[0] += v["keywords"]
                        a[1] += v["hits"]
                        a[2] += v["false_alarms"]
                        a[3] += v["hours"]
                c, n = agg["clean"], agg["10 dB"]
                rows.append(f"| {name} | {which} | {f} | {c[2] / c[3]:.2f} | {n[2] / n[3]:.2f} | "
                            f"{100 * (1 - c[1] / c[0]):.1f} % | {100 * (1 - n[1] / n[0]):.1f} % |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base_args(ap, "cv.json")
    ap.add_argument("--archive-cache", default="runs/archive-calibration")
    ap.add_argument("--systems", nargs="+", default=None)
    a = ap.parse_args()
    if a.table:
        print(table(json.loads((Path(a.out) / "cv.json").read_text())))
        return
    model = Path(a.model)
    ds = SpeechCommands(DATA, 12)
    negs = negative_files(NEG, "validation")
    audio, arch = [], []
    for fold in (0, 1):
        specs = [(s, 2000 + 1000 * fold + i) for i, s in enumerate([math.inf] * 6 + [10.0] * 6)]
        fnegs = [n for n in negs if half(Path(n).name) == fold]
        audio.append(posteriors(Path(a.cache), model, "training", specs, fnegs, Half(ds, fold),
                                f"cv-fold{fold}"))
        arch.append(archive_posteriors(Path(a.archive_cache), model, fold, fnegs, ds))
    result: dict = {}
    for name, scorer, _, _, _, _ in systems(model):
        if a.systems and name not in a.systems:
            continue
        for which in SETS:
            for fold in (0, 1):
                (ka, pa), (kf, pf) = audio[fold], arch[fold]
                kept = {"audio": ka, "archive": kf, "audio+archive": ka + kf}[which]
                posts = {"audio": pa[name], "archive": pf[name],
                         "audio+archive": pa[name] + pf[name]}[which]
                pts = calibrated_points(scorer, posts, kept, "pooled")
                kept_t, posts_t = audio[1 - fold]
                test = score(pts, scorer, posts_t[name], kept_t)
                result.setdefault(name, {}).setdefault(which, {})[f"fold{fold}"] = {
                    "calibration": {f"{p['fa_per_hour']:g}": {
                        "miss_rate": p["calibration"]["miss_rate"],
                        "false_alarms": p["calibration"]["false_alarms"],
                        "hours": p["calibration"]["hours"]} for p in pts},
                    "test": test}
                print_fold(name, which, 13, fold,
                           result[name][which][f"fold{fold}"]["calibration"], test)
    if a.out:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "cv.json").write_text(json.dumps(result, indent=1))
        (Path(a.out) / "cv-table.md").write_text(table(result) + "\n")


if __name__ == "__main__":
    main()
