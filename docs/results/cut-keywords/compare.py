"""Table of eval-stream sweeps: FA/h and miss rate at fixed thresholds, and the best miss rate
within FA/h budgets (threshold chosen on the stream itself, the same rule for every model).

    python docs/results/cut-keywords/compare.py SWEEP.csv [SWEEP.csv ...]
"""

import csv
import sys

FIXED = (0.5, 0.8, 0.9, 0.96, 0.98)
BUDGETS = (1.0, 5.0, 20.0)


def main() -> None:
    print("| system | SNR | " + " | ".join(f"thr {t:g}: miss (FA/h)" for t in FIXED) + " | "
          + " | ".join(f"miss at <= {b:g} FA/h" for b in BUDGETS) + " |")
    print("|---" * (2 + len(FIXED) + len(BUDGETS)) + "|")
    for fn in sys.argv[1:]:
        rows = list(csv.DictReader(open(fn)))  # noqa: SIM115
        for key in dict.fromkeys((r["system"], r["snr_db"]) for r in rows):
            rs = [r for r in rows if (r["system"], r["snr_db"]) == key]
            by = {float(r["threshold"]): r for r in rs}
            cells = []
            for t in FIXED:
                r = by.get(t)
                cells.append("-" if r is None else
                             f"{100 * float(r['miss_rate']):.1f}% ({float(r['fa_per_hour']):.0f})")
            for b in BUDGETS:
                ok = [float(r["miss_rate"]) for r in rs if float(r["fa_per_hour"]) <= b]
                cells.append(f"{100 * min(ok):.1f}%" if ok else "n/a")
            snr = "clean" if key[1] == "inf" else f"{float(key[1]):g} dB"
            print(f"| {key[0]} | {snr} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
