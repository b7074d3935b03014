"""What ``bifsmn eval-stream`` writes and prints: the sweep CSV, the DET plot, the text
summary, ``summary.json`` and each stream's ground truth (docs/detection.md)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from bifsmn.detect.metrics import Score, SystemResult
from bifsmn.detect.mixing import EvalStream, StreamTruth, snr_name
from bifsmn.errors import BifsmnError
from bifsmn.outputs import atomic_write_text

CSV_FIELDS = ("system", "model", "blocks", "snr_db", "threshold", "keywords", "hits", "misses",
              "false_alarms", "duplicates", "miss_rate", "fa_per_hour", "hours",
              "negative_clips", "negative_clips_fired")


def write_csv(results: Sequence[SystemResult], path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_FIELDS)
    for r in results:
        for t, s in zip(r.thresholds, r.scores, strict=True):
            w.writerow([r.name, r.model, r.blocks, r.snr_db, f"{t:g}", s.keywords, s.hits,
                        s.misses, s.false_alarms, s.duplicates, f"{s.miss_rate:.6f}",
                        f"{s.fa_per_hour:.6f}", f"{s.hours:.6f}", s.negatives,
                        s.negatives_fired])
    atomic_write_text(path, buf.getvalue())


def _targets(fa_target: float | Sequence[float]) -> list[float]:
    t = [float(fa_target)] if isinstance(fa_target, int | float) else [float(v) for v in
                                                                        fa_target]
    if not t or not all(math.isfinite(v) and v > 0 for v in t):  # NaN would pass a <= 0 test
        raise BifsmnError("FA targets must be positive finite numbers (got "
                          f"{', '.join(f'{v:g}' for v in t) or 'none'})")
    return sorted(set(t))


def det_limits(results: Sequence[SystemResult], fa_target: float | Sequence[float] = 1.0
               ) -> tuple[float, float, float]:
    """(x_min, x_max, zero_x) of the log FA/h axis.

    Zero false alarms cannot sit on a log axis; such points are drawn at ``zero_x``, below both
    the smallest non-zero rate a stream can show (one event: 1/hours) and the FA target, so the
    picture never suggests that "no false alarm in 10 minutes" is worse than the target. The
    upper limit follows the worst system (untrained models reach 10^4 FA/h).
    """
    fa_target = min(_targets(fa_target))
    hours = min(s.hours for r in results for s in r.scores)
    zero_x = min(0.5 / hours, fa_target / 2)
    nonzero = [s.fa_per_hour for r in results for s in r.scores if s.false_alarms > 0]
    lo = zero_x / 1.5
    hi = max(max(nonzero, default=0.0) * 1.5, fa_target * 10, lo * 100)
    return lo, hi, zero_x


def plot_det(results: Sequence[SystemResult], path: Path,
             fa_target: float | Sequence[float] = 1.0) -> None:
    """DET curve: miss rate against FA/h (log x), every system and SNR in one figure; each
    curve follows the threshold from low (right) to high (left)."""
    from matplotlib import rcParams

    from bifsmn.plots import save_png, subplots

    lo, hi, zero_x = det_limits(results, fa_target)
    fig, ax = subplots(figsize=(7.5, 5))
    styles = ["-", "--", ":", "-."]
    snrs = sorted({r.snr_db for r in results})
    names = list(dict.fromkeys(r.name for r in results))
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    for r in results:
        xs = [s.fa_per_hour if s.false_alarms else zero_x for s in r.scores]
        ys = [100 * s.miss_rate for s in r.scores]
        snr = snr_name(r.snr_db)
        ax.plot(xs, ys, marker=".", ms=3, ls=styles[snrs.index(r.snr_db) % len(styles)],
                color=colors[names.index(r.name) % len(colors)], label=f"{r.name}, {snr}")
    for t in _targets(fa_target):
        ax.axvline(t, color="0.5", lw=0.8)
        ax.text(t, 101, f" {t:g} FA/h", fontsize=7, color="0.4", va="bottom")
    for r in results:  # the model's stored (calibrated) points, as markers
        for _, s in r.stored:
            ax.plot([s.fa_per_hour if s.false_alarms else zero_x], [100 * s.miss_rate],
                    marker="*", ms=9, ls="none",
                    color=colors[names.index(r.name) % len(colors)])
    ax.axvline(zero_x, color="0.8", lw=0.8)
    ax.text(zero_x, 101, "0 FA ", fontsize=7, color="0.4", va="bottom", ha="right")
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, 100)
    ax.set_xlabel("false alarms per hour")
    ax.set_ylabel("miss rate (%)")
    hours = min(s.hours for r in results for s in r.scores)
    ax.set_title(f"DET, threshold sweep ({60 * hours:g} min per stream)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_png(fig, path)


def _neg(s: Score) -> str:
    return f"{100 * s.negative_rate:.1f}%" if s.negatives else "-"


def format_summary(results: Sequence[SystemResult], fa_target: float | Sequence[float] = 1.0
                   ) -> str:
    """One line per system x SNR and FA target: the sweep's best single threshold within the
    target (chosen on this stream) and, where the model stores operating points, the stored
    per-keyword point for that rate (chosen by ``bifsmn calibrate`` on other streams)."""
    lines = [f"{'system':<32} {'SNR':>6} {'FA/h<=':>6} {'miss (FA/h) swept':>22} "
             f"{'threshold':>9} {'neg. clips':>10} {'stored point: miss (FA/h)':>26} "
             f"{'neg. clips':>10} {'net%':>5} {'RTF':>7}"]
    for r in results:
        snr = snr_name(r.snr_db, "")
        stored = dict(r.stored)
        for t in _targets(fa_target):
            op = r.operating_point(t)
            if op is None:
                worst = min(r.scores, key=lambda s: s.fa_per_hour)
                # the lowest FA/h any threshold reached ("min" read as minutes here), in
                # the column's 22 characters
                low = worst.fa_per_hour
                miss = f"n/a (best {low:.3g} FA/h)" if low < 1000 else f"n/a (best {low:.0f}/h)"
                th, neg = "-", "-"
            else:
                th, s = op
                miss = f"{100 * s.miss_rate:.2f}% ({s.fa_per_hour:.3g})"
                th, neg = f"{th:g}", _neg(s)
            sp = stored.get(t)
            smiss = "-" if sp is None else f"{100 * sp.miss_rate:.2f}% ({sp.fa_per_hour:.3g})"
            sneg = "-" if sp is None else _neg(sp)
            lines.append(f"{r.name:<32} {snr:>6} {t:>6g} {miss:>22} {th:>9} {neg:>10} "
                         f"{smiss:>26} {sneg:>10} {100 * r.scored_fraction:5.1f} "
                         f"{r.rtf:7.4f}")
    return "\n".join(lines)



def _snr_tag(snr: float) -> str:
    """An SNR in file names (``truth_10dB.csv``, ``truth_clean.csv``)."""
    return snr_name(snr, "dB")


def _write_truth(stream: EvalStream | StreamTruth, path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["label", "start", "end", "source"])
    for s in stream.segments:
        w.writerow([s.label, f"{s.start:.4f}", f"{s.end:.4f}", s.source])
    atomic_write_text(path, buf.getvalue())


def _score_dict(s: Score) -> dict:
    return {"miss_rate": s.miss_rate, "fa_per_hour": s.fa_per_hour, "hits": s.hits,
            "false_alarms": s.false_alarms, "duplicates": s.duplicates,
            "negative_clips": s.negatives,
            "negative_rate": s.negative_rate if s.negatives else None,
            "per_keyword": {lb: {"keywords": n, "misses": n - h,
                                 "miss_rate": (n - h) / n if n else None, "false_alarms": f}
                            for lb, n, h, f in s.by_keyword}}


def _write_summary(results: Sequence[SystemResult], path: Path,
                   fa_target: float | Sequence[float], stream: EvalStream | StreamTruth,
                   settings: dict | None = None) -> None:
    """``summary.json``; ``settings``: the sweep's smoothing and event rules as given (hop and
    refractory None: each model's stored values), so a reader knows what the rows measured."""
    targets = _targets(fa_target)
    rows = []
    for r in results:
        ops = {}
        for t in targets:
            op = r.operating_point(t)
            ops[f"{t:g}"] = None if op is None else {"threshold": op[0], **_score_dict(op[1])}
        row = {
            "system": r.name, "model": r.model, "blocks": r.blocks,
            # JSON has no infinity: a clean stream is snr_db null and says so
            "snr_db": None if math.isinf(r.snr_db) else r.snr_db,
            "clean": math.isinf(r.snr_db),
            "rtf": r.rtf, "seconds": r.seconds, "scored_fraction": r.scored_fraction,
            "operating_points": ops,
            "stored_points": {f"{t:g}": _score_dict(s) for t, s in r.stored},
        }
        if 1.0 in targets:  # the single point of earlier summaries
            row["operating_point"] = ops["1"]
        rows.append(row)
    doc = {"fa_targets_per_hour": targets, "stream": stream.meta,
           "keywords_per_stream": len(stream.keywords),
           "negative_clips_per_stream": len(stream.negatives),
           "hours_per_stream": stream.hours, "settings": settings or {}, "systems": rows}
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
