"""How often the 8-block validation accuracy ties between epochs in the committed per-epoch
metrics, and which epoch ``train.best_rule=first`` (the default until session 49) and ``ties``
(the default since session 50) keep.

Run from the repository root: ``python docs/results/best-rule/ties.py`` reads every
``docs/results/**/*metrics*.csv`` with a ``val_acc_8`` column and writes ties.txt next to this
file. ``ties`` (session 48, docs/methods.md) breaks an exact tie of the first path by the mean
of the other paths' validation accuracy (earlier epoch on a further tie); single-path runs have
nothing to break a tie with, so both rules keep the first epoch there.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent


def main() -> None:
    lines, files, multi = [], 0, 0
    for f in sorted(RESULTS.rglob("*metrics*.csv")):
        with f.open() as fh:
            rows = list(csv.DictReader(fh))
        if not rows or "val_acc_8" not in rows[0]:
            continue
        files += 1
        others = [k for k in rows[0] if k.startswith("val_acc_") and k != "val_acc_8"]
        multi += bool(others)
        v = [float(r["val_acc_8"]) for r in rows]
        tied = [i for i, x in enumerate(v) if x == max(v)]
        if len(tied) < 2:
            continue

        def mean(i: int, rows: list[dict] = rows, others: list[str] = others) -> float:
            return sum(float(rows[i][k]) for k in others) / len(others) if others else 0.0

        pick = max(tied, key=lambda i: (mean(i), -i))
        what = (f"other paths' mean {100 * mean(tied[0]):.2f} % at epoch {tied[0] + 1}, "
                f"{100 * mean(pick):.2f} % at {pick + 1}" if others else "single path")
        lines.append(f"{f.relative_to(RESULTS)}: 8-block best {100 * max(v):.2f} % at epochs "
                     f"{', '.join(str(i + 1) for i in tied)}; first keeps {tied[0] + 1}, ties "
                     f"keeps {pick + 1} ({what})")
    text = (f"{files} metrics files with val_acc_8 ({multi} with thinner paths); {len(lines)} "
            "with an exact tie of the best 8-block epoch:\n" + "\n".join(lines) + "\n")
    (HERE / "ties.txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
