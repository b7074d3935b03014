"""The verdict of docs/results/fid-at-scale-60/run.sh's rule, read from the scale table it wrote.

Run from the repository root after ``bash docs/results/fid-at-scale-60/run.sh table``:
``python docs/results/fid-at-scale-60/verdict.py`` prints, for each FID run in table.json
(``fid``: alpha 0.1; ``fid_alpha001``: alpha 0.01) against ``no_fid``, the testing-accuracy
differences per path and the rule's verdict, and writes them to verdict.txt beside it.
The rule (fixed in run.sh before the runs): "FID ahead" if FID's testing accuracy is higher on
at least 3 of the 4 paths and the mean difference is at least +0.5 points; "no-FID ahead" if the
same holds the other way; otherwise "not distinguishable at one seed".
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATHS = (8, 4, 2, 1)


def verdict(diffs: list[float]) -> str:
    """The rule on per-path differences (FID minus no-FID, points)."""
    mean = sum(diffs) / len(diffs)
    if sum(d > 0 for d in diffs) >= 3 and mean >= 0.5:
        return "FID ahead"
    if sum(d < 0 for d in diffs) >= 3 and mean <= -0.5:
        return "no-FID ahead"
    return "not distinguishable at one seed"


def main() -> None:
    rows = json.loads((HERE / "table.json").read_text())
    acc = {(r["model"], r["blocks"]): 100 * r["testing_acc"] for r in rows}
    epoch = {r["model"]: r["epoch"] for r in rows}
    lines = []
    for fid in ("fid", "fid_alpha001"):
        if (fid, 8) not in acc:
            lines.append(f"{fid}: not in table.json (not trained yet)")
            continue
        diffs = [acc[(fid, b)] - acc[("no_fid", b)] for b in PATHS]
        per_path = ", ".join(f"{b} blocks {acc[(fid, b)]:.2f} vs {acc[('no_fid', b)]:.2f} "
                             f"({d:+.2f})" for b, d in zip(PATHS, diffs, strict=True))
        lines.append(f"{fid} (best epoch {epoch[fid]}) vs no_fid (best epoch "
                     f"{epoch['no_fid']}), testing: {per_path}; mean "
                     f"{sum(diffs) / len(diffs):+.2f}: {verdict(diffs)}")
    text = "\n".join(lines) + "\n"
    (HERE / "verdict.txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
