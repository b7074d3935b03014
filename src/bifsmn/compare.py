"""``bifsmn compare``: train every method on the same data, split, seed and schedule, then
tabulate validation accuracy per thinnable path with parameters, operations and storage.

Each method trains in its own run folder under ``out``; a finished run (``summary.json`` present
and the same resolved config) is reused, an interrupted one resumes from ``last.pt``. So the
command can be killed and re-run at any time, and adding a method trains only that method.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import torch

from bifsmn.binary.convert import apply_binary
from bifsmn.binary.methods import method_record
from bifsmn.blocks import counts
from bifsmn.errors import BifsmnError, NonFiniteError
from bifsmn.evaluate import accuracies
from bifsmn.models import create_model
from bifsmn.models.summary import is_binary_layer, layer_stats
from bifsmn.recipes import ABLATIONS, RECIPES, recipe_config
from bifsmn.train.checkpoint import atomic_write_text, model_from_checkpoint
from bifsmn.train.config import Config
from bifsmn.train.lock import RunLock
from bifsmn.train.reuse import train_or_reuse_noting

BLOCKS = tuple(counts())  # the four thinnable paths of the paper's 8 layers


def storage_bytes(model: torch.nn.Module) -> int:
    """Bytes to store the model: 1 bit per binarized weight, 4 bytes per other parameter.

    Everything that is not a binarized weight (first conv, classifier, biases, BatchNorm,
    PReLU, thresholds, LPB alphas) counts at full precision, the most conservative way to count
    size (docs/binary-arithmetic.md, "Costs"); BatchNorm running statistics count too (they are
    needed at inference).
    """
    binary_ids = set()
    bits = 0
    for mod in model.modules():
        if is_binary_layer(mod):  # reference granularity's pointwise weights stay FP
            binary_ids.add(id(mod.weight))
            bits += mod.weight.numel() + 32 * mod.out_channels  # signs + per-channel scale
    other = sum(p.numel() for p in model.parameters() if id(p) not in binary_ids)
    other += sum(b.numel() for n, b in model.named_buffers() if "running" in n)
    return bits // 8 + 4 * other


def method_stats(model: torch.nn.Module, method: str) -> dict[int, dict]:
    """Per path: binary MACs (x2 for dual-scale: two popcount GEMMs), FP MACs, OPs."""
    passes = 2 if method_record(method).dual_scale else 1
    out = {}
    for blocks in BLOCKS:
        stats = layer_stats(model, blocks)
        b = sum(s.macs for s in stats if s.binary) * passes
        f = sum(s.macs for s in stats if not s.binary)
        out[blocks] = {"binary_macs": b, "fp_macs": f, "ops": f + b / 64}
    return out


def compare(data: str, teacher: str, out: Path, epochs: int | None = None,
            methods: list[str] | None = None, ablation: bool = False,
            extra: list[str] | None = None, base: str = "bifsmnv2",
            log: Callable[[str], None] | None = None) -> list[dict]:
    """Train (or reuse) each method and write ``out/compare.{md,csv,json,png}`` (or
    ``ablation.*``; ``compare-selected.*`` / ``ablation-selected.*`` when ``methods`` names a
    subset, so that a partial rerun never replaces the full table). ``log`` gets one line per
    method (reused, resumed, trained, diverged); default: the ``bifsmn`` logger."""
    log = log or logging.getLogger("bifsmn").info
    table = ABLATIONS if ablation else RECIPES
    names = list(dict.fromkeys(methods)) if methods else list(table)  # once each, in order
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BifsmnError("--out is a file, not a folder for the method runs", out)
    # every name and the base checked before hours of training (and before the teacher)
    cfgs = {name: recipe_config(name, table, data, teacher, epochs, extra, base)
            for name in names}
    # one compare per --out at a time: a second one would move the first's live runs aside
    lock = RunLock(out, what="compare folder")
    lock.acquire()
    try:
        return _compare_runs(cfgs, out, data, teacher, epochs, extra, ablation, methods, log,
                             table, base)
    finally:
        lock.release()


def _compare_runs(cfgs: dict[str, Config], out: Path, data: str, teacher: str,
                  epochs: int | None, extra: list[str] | None, ablation: bool,
                  methods: list[str] | None, log: Callable[[str], None], table: dict,
                  base: str) -> list[dict]:
    """:func:`compare`'s work under its lock: each run trained or reused, then the tables."""
    rows = []
    # every model of the table on one split: the one the method runs train and select on
    # (a teacher trained on another protocol or seed records its own, which eval would use)
    first = next(iter(cfgs.values()))
    rule = {"protocol": first.data.protocol, "seed": first.train.seed}
    teacher_acc = accuracies(Path(teacher), data, [8], rule=rule)[8]
    for name, cfg in cfgs.items():
        run = out / name
        how, stale = train_or_reuse_noting(cfg, run)
        moved = f"; an earlier run with another config moved to {stale.name}" if stale else ""
        summary = json.loads((run / "summary.json").read_text())
        diverged = _diverged(run)
        accs = {b: math.nan for b in BLOCKS}
        if summary.get("diverged") or not (run / "best.pt").is_file():
            model = _untrained(cfg)  # for the size columns; accuracies are not reported
        else:
            model, _ = model_from_checkpoint(run / "best.pt")
            try:
                accs = accuracies(run / "best.pt", data, list(BLOCKS), rule=rule)
            except NonFiniteError:  # a run of an older version that trained on past it
                diverged = True
        log(f"{name}: {'diverged' if diverged else how} ({run}){moved}")
        stats = method_stats(model, cfg.binary.method)
        own = recipe_config(name, table, data, teacher, epochs, None, base)  # no user overrides
        rows.append({"method": name, "binary": cfg.binary.method, "distill": cfg.distill.kind,
                     "epochs": cfg.train.epochs, "seed": cfg.train.seed,
                     "limit_train": cfg.data.limit_train, "grad_clip": cfg.optim.grad_clip,
                     "fc1_norm": bool(cfg.model.kwargs.get("fc1_norm", False)),
                     "recipe_grad_clip": own.optim.grad_clip,
                     "recipe_fc1_norm": bool(own.model.kwargs.get("fc1_norm", False)),
                     "diverged": diverged, "status": how,
                     **{f"acc_{b}": accs[b] for b in BLOCKS},
                     **{f"gap_{b}": teacher_acc - accs[b] for b in BLOCKS},
                     "params": sum(p.numel() for p in model.parameters()),
                     "storage_bytes": storage_bytes(model),
                     **{f"binary_macs_{b}": stats[b]["binary_macs"] for b in BLOCKS},
                     **{f"fp_macs_{b}": stats[b]["fp_macs"] for b in BLOCKS},
                     **{f"ops_{b}": stats[b]["ops"] for b in BLOCKS},
                     # a diverged run stopped early: wall time / planned epochs is no speed
                     "s_per_epoch": (None if diverged else
                                     summary["train_wall_s"] / max(1, cfg.train.epochs)),
                     "teacher_acc": teacher_acc})
    write_tables(rows, table_stem(out, ablation, bool(methods)), data, teacher, epochs, extra)
    return rows


def table_stem(out: Path, ablation: bool, selected: bool) -> Path:
    """Where :func:`compare` writes its tables (``.md``, ``.csv``, ``.json``, ``.png``)."""
    return Path(out) / (("ablation" if ablation else "compare") + ("-selected" if selected else ""))


def _untrained(cfg: Config) -> torch.nn.Module:
    """The model a config describes (binarized as configured), for parameter/size counts."""
    model = create_model(cfg.model.name, num_classes=cfg.data.num_classes, **cfg.model.kwargs)
    apply_binary(model, {"method": cfg.binary.method, "keep_fp": cfg.binary.keep_fp,
                         "options": cfg.binary.options})
    return model


def _diverged(run: Path) -> bool:
    """True if training stopped at a non-finite loss (summary.json says so) or, for runs of
    older versions that trained on, any epoch ended with a non-finite training loss."""
    try:
        if json.loads((run / "summary.json").read_text()).get("diverged"):
            return True
    except (OSError, ValueError, AttributeError):
        pass
    if not (run / "metrics.csv").is_file():
        return False
    with (run / "metrics.csv").open() as f:
        return any(not math.isfinite(float(r["train_loss"])) for r in csv.DictReader(f))


def _stabilizers(row: dict) -> str:
    """`` *(fc1 BN, clip 5)`` for rows whose recipe carries a stabilizer, else ``""`` (a user's
    own override is listed once under the table instead)."""
    fc1 = row.get("recipe_fc1_norm", row.get("fc1_norm"))
    clip = row.get("recipe_grad_clip", row.get("grad_clip"))
    parts = (["fc1 BN"] if fc1 else []) + ([f"clip {clip:g}"] if clip else [])
    return f" \\*({', '.join(parts)})" if parts else ""


def _seconds(value: float | None) -> str:
    """A table cell for seconds per epoch: "–" where there is none (a diverged run)."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.1f}"


def write_tables(rows: list[dict], stem: Path, data: str, teacher: str,
                 epochs: int | None, extra: list[str] | None = None) -> None:
    # a diverged run has no accuracy: empty in the CSV, null in the JSON (never NaN)
    plain = [{k: None if isinstance(v, float) and not math.isfinite(v) else v
              for k, v in r.items()} for r in rows]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(plain)
    atomic_write_text(stem.with_suffix(".csv"), buf.getvalue())
    atomic_write_text(stem.with_suffix(".json"), json.dumps(plain, indent=2, allow_nan=False))
    t = rows[0]["teacher_acc"]
    seeds = sorted({r.get("seed", 0) for r in rows})
    limits = sorted({r.get("limit_train") or 0 for r in rows})
    limited = (f", training limited to {', '.join(map(str, limits))} clips (data.limit_train)"
               if any(limits) else "")
    lines = [
        f"Validation accuracy (%) per thinnable path; data `{data}`, teacher `{teacher}` "
        f"({100 * t:.2f}% on validation), {rows[0]['epochs']} epoch"
        f"{'s' * (rows[0]['epochs'] != 1)} each, seed "
        f"{', '.join(map(str, seeds))}{limited}, gradient-norm clipping off unless marked. "
        "Accuracy of each run's best epoch (chosen on 8-block validation accuracy)."
        + (f" Overrides applied to every method: `{' '.join(extra)}`." if extra else ""),
        "",
        "| method | binarizer | distillation | 8 blocks | 4 blocks | 2 blocks | 1 block | "
        "params | storage (KiB) | binary MACs (8 bl.) | FP MACs (8 bl.) | OPs (8 bl.) | "
        "s/epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    marked = False
    for r in rows:
        mark = _stabilizers(r)
        marked = marked or bool(mark)
        accs = " | ".join(f"{100 * r[f'acc_{b}']:.2f} ({-100 * r[f'gap_{b}']:+.2f})"
                          for b in BLOCKS)
        if r.get("diverged"):
            accs = " | ".join(["diverged (NaN loss)"] * len(BLOCKS))
        lines.append(
            f"| {r['method']}{mark} | {r['binary']} | {r['distill']} | {accs} | {r['params']:,} | "
            f"{r['storage_bytes'] / 1024:.1f} | {r['binary_macs_8']:,} | {r['fp_macs_8']:,} | "
            f"{r['ops_8']:,.0f} | {_seconds(r.get('s_per_epoch'))} |")
    lines += ["", "In parentheses: this path minus the FP teacher (points; negative = below it; "
              "the CSV/JSON `gap_*` columns are the teacher minus the path, as fractions). "
              "Storage counts binarized "
              "weights at 1 bit plus one FP32 scale per output channel and every other parameter "
              "and BatchNorm statistic at FP32. OPs = FP MACs + binary MACs / 64; dual-scale "
              "layers count two binary passes."]
    if marked:
        lines += ["", "\\* Trained with stabilizers the method needs on this architecture (it "
                  "diverges to NaN in the first epoch without them): fc1 BN = a BatchNorm after "
                  "fc1, clip = gradient-norm clipping at that value. See docs/methods.md."]
    atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    _plot(rows, stem.with_suffix(".png"))


def _plot(rows: list[dict], path: Path) -> None:
    from bifsmn.plots import save_png, subplots  # lazy: matplotlib costs ~1 s to import

    fig, ax = subplots(figsize=(9, 4))
    width = 0.8 / len(BLOCKS)
    for i, b in enumerate(BLOCKS):
        ax.bar([k + i * width for k in range(len(rows))], [100 * r[f"acc_{b}"] for r in rows],
               width, label=f"{b} block{'s' if b > 1 else ''}")
    ax.axhline(100 * rows[0]["teacher_acc"], color="k", ls="--", lw=1, label="FP teacher")
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(rows))])
    ax.set_xticklabels([r["method"] + (" (diverged)" if r.get("diverged") else "")
                        for r in rows], rotation=30, ha="right")
    ax.set_ylabel("validation accuracy (%)")
    ax.legend(fontsize=8, ncol=5)
    ax.grid(axis="y", alpha=0.3)
    save_png(fig, path)
