"""Check that a re-calibrated bundle differs from the bundled model only in its cascade points.

    python docs/results/verifier-ensemble/same_but_cascade.py runs/s60/cascade-ensemble.bkws

Why: the bundle is replaced by the file ``bifsmn calibrate --out`` wrote; its weights, the
model's own operating points and every other record must be the bundled model's, so that only
the two-stage points (and their verifier) change. Prints what differs and exits 1 if anything
other than ``meta.json``'s ``cascade_operating_points`` does.
"""

from __future__ import annotations

import argparse
import json
import sys

from bifsmn.engine.format import read_file

BUNDLE = "src/bifsmn/models_data/bifsmnv2.bkws"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("new")
    ap.add_argument("--old", default=BUNDLE)
    a = ap.parse_args()
    old, new = read_file(a.old), read_file(a.new)
    bad = sorted(set(old) ^ set(new))
    bad += [k for k in sorted(set(old) & set(new))
            if k != "meta.json" and old[k].data != new[k].data]
    mo, mn = json.loads(old["meta.json"].text()), json.loads(new["meta.json"].text())
    bad += [f"meta.json:{k}" for k in sorted(set(mo) | set(mn))
            if k != "cascade_operating_points" and mo.get(k) != mn.get(k)]
    old_v = [r["verifier"]["name"] for r in mo.get("cascade_operating_points", [])]
    new_v = [r["verifier"]["name"] for r in mn.get("cascade_operating_points", [])]
    print(f"{a.old} -> {a.new}: {len(old)} records; cascade records for {old_v} -> {new_v}")
    print("differs elsewhere: " + (", ".join(bad) if bad else "nothing"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
