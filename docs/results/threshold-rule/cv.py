"""Speaker-disjoint two-fold check of the threshold rules inside the calibration data.

Why: rules.py scores the rules on the held-out validation speakers, which were also looked at
while the pooled rule was designed; this check never touches them. The training-list speakers
of the dev data (the bundle's calibration speakers) are split in two by a hash of the speaker
id, the negatives' validation share by a hash of the file; each half gets its own 12 x 60-min
streams (6 clean, 6 at 10 dB; seeds 2000-2011 and 3000-3011), each rule calibrates on one half
exactly as ``bifsmn calibrate`` does, and its points are scored on the other half.

    python docs/results/threshold-rule/cv.py --out docs/results/threshold-rule
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rules import (  # noqa: E402
    DATA,
    NEG,
    base_args,
    calibrated_points,
    explain,
    posteriors,
    print_fold,
    reuse,
    score,
    systems,
)

from bifsmn.data.speech_commands import SpeechCommands  # noqa: E402
from bifsmn.detect.evaluate import negative_files  # noqa: E402


def half(key: str) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2


class Half:
    """The data set with only one half of the speakers (same interface as build_stream uses)."""

    def __init__(self, ds: SpeechCommands, fold: int) -> None:
        self.ds, self.fold = ds, fold
        self.root, self.noise_files = ds.root, ds.noise_files

    def items(self, split: str) -> list:
        return [it for it in self.ds.items(split) if it.path is not None
                and half(Path(it.path).name.split("_nohash_")[0]) == self.fold]


def table(result: dict) -> str:
    """Markdown: per system, rule and target, both folds' test hours together: false alarms per
    hour (clean, 10 dB) and miss rates."""
    rows = ["| system | rule | target FA/h | test FA/h clean | test FA/h 10 dB | test miss clean | "
            "test miss 10 dB |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, rules in result.items():
        for rule, folds in rules.items():
            for f in folds["fold0"]["test"]:
                cells = []
                for what in ("fa", "miss"):
                    for k in ("clean", "10 dB"):
                        v = [folds[x]["test"][f][k] for x in ("fold0", "fold1")]
                        if what == "fa":
                            fa = sum(a["false_alarms"] for a in v)
                            cells.append(f"{fa / sum(a['hours'] for a in v):.2f}")
                        else:
                            kw = sum(a["keywords"] for a in v)
                            cells.append(f"{100 * (kw - sum(a['hits'] for a in v)) / kw:.1f} %")
                rows.append(f"| {name} | {rule} | {f} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base_args(ap, "cv.json")
    ap.add_argument("--rules", nargs="+", default=["keyword", "pooled", "shared"])
    ap.add_argument("--systems", nargs="+", default=None,
                    help="only these (e.g. 'cascade 8 blocks')")
    ap.add_argument("--explain", action="store_true",
                    help="print the halves (speakers, negatives, stream reuse) and each test "
                    "half's false alarms at the 1 FA/h point instead of scoring")
    a = ap.parse_args()
    if a.table:
        print(table(json.loads((Path(a.out) / "cv.json").read_text())))
        return
    model, cache = Path(a.model), Path(a.cache)
    ds = SpeechCommands(DATA, 12)
    negs = negative_files(NEG, "validation")
    data = []
    for fold in (0, 1):
        specs = [(s, 2000 + 1000 * fold + i) for i, s in enumerate([math.inf] * 6 + [10.0] * 6)]
        fnegs = [n for n in negs if half(Path(n).name) == fold]
        data.append(posteriors(cache, model, "training", specs, fnegs, Half(ds, fold),
                               f"cv-fold{fold}"))
        if a.explain:
            speakers = {Path(it.path).name.split("_nohash_")[0]
                        for it in Half(ds, fold).items("training")}
            print(f"half {fold}: {len(speakers)} speakers, {len(fnegs)} negative recordings")
            reuse(data[fold][0])
    result = {}
    for name, scorer, _, _, _, _ in systems(model):
        if a.systems and name not in a.systems:
            continue
        for rule in a.rules:
            for fold in (0, 1):
                kept_c, posts_c = data[fold]
                kept_t, posts_t = data[1 - fold]
                pts = calibrated_points(scorer, posts_c[name], kept_c, rule)
                if a.explain:
                    print(f"{name}, {rule} rule, calibrated on {fold}, tested on {1 - fold}:")
                    explain(pts, scorer, posts_t[name], kept_t)
                    continue
                test = score(pts, scorer, posts_t[name], kept_t)
                result.setdefault(name, {}).setdefault(rule, {})[f"fold{fold}"] = {
                    "calibration": {f"{p['fa_per_hour']:g}": {
                        "miss_rate": p["calibration"]["miss_rate"],
                        "false_alarms": p["calibration"]["false_alarms"]} for p in pts},
                    "test": test}
                print_fold(name, rule, 8, fold,
                           result[name][rule][f"fold{fold}"]["calibration"], test)
    if a.out and not a.explain:
        Path(a.out).mkdir(parents=True, exist_ok=True)
        (Path(a.out) / "cv.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
