"""Per-keyword miss rates at the stored 1 FA/h point (the swept one for models without stored
points) from an eval-stream summary.json: `python docs/results/detection-at-scale/per_keyword.py
docs/results/detection-at-scale/summary.json`."""
import json
import sys
from pathlib import Path

d = json.loads(Path(sys.argv[1]).read_text())
for r in d["systems"]:
    sp = (r.get("stored_points") or {}).get("1")
    pts = sp or r.get("operating_point")
    if not pts:
        continue
    items = sorted(pts["per_keyword"].items(), key=lambda kv: kv[1]["miss_rate"])
    snr = "clean" if r["snr_db"] is None else f"{r['snr_db']:g} dB"
    tag = "stored" if sp else "swept"
    rates = ", ".join(f"{k} {100 * v['miss_rate']:.0f}%" for k, v in items)
    print(f"{r['system']} {snr} ({tag}): {rates}")
