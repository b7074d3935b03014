"""Size and validation accuracy of ``.bkws`` storage choices (docs/bkws-format.md, "Precision
choices"), and the parity check that each file's engine equals its own deployed reference.

Why: narrowing a constant changes the model's function (sign bits near a threshold flip), so
which constants tolerate which storage has to be measured per path, on held-out clips, for
every committed bifsmnv2 model. For each model this script

* exports the file with each storage choice (all paths, then each single path) and records its
  size against the FP32 teacher's float tensors;
* evaluates every path of each all-paths file on the validation split with the file's own
  deployed reference (``bifsmn.deploy.deploy(model, param_dtype=, classifier_dtype=)``) and
  asserts the C++ engine's logits equal it bit for bit on those clips;
* narrows one constant group at a time (the rest float32) and reports the accuracy change per
  path and how many predictions change.

Usage (from the repository root; needs the shared data, about 8 minutes per model on one
core)::

    python docs/results/bkws-sizes/measure.py --out docs/results/bkws-sizes
    python docs/results/bkws-sizes/measure.py --replot   # sizes.md and .png from sizes.json only
    python docs/results/bkws-sizes/measure.py --models bifsmnv2_s47_sc12dev  # re-measure some,
                                              # the others' entries kept from sizes.json
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import DeployedDFSMN, fold
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.train.checkpoint import model_from_checkpoint

SHARED = Path("../shared/data")
MODELS = {  # checkpoint, validation data, FP32 teacher
    "bifsmnv2_a01_sc12dev": ("models/bifsmnv2_a01_sc12dev.pt",
                             SHARED / "speech_commands_test12_v0.02", "models/teacher_sc12dev.pt"),
    "bifsmnv2_fbank40": ("models/bifsmnv2_fbank40.pt",
                         SHARED / "speech_commands_v0.02_fbank40", "models/teacher_fbank40.pt"),
    # the bundled model of sessions 8-10
    "bifsmnv2_fbank40_120": ("models/bifsmnv2_fbank40_120.pt",
                             SHARED / "speech_commands_v0.02_fbank40",
                             "models/teacher_fbank40.pt"),
    # the model behind the bundled src/bifsmn/models_data/bifsmnv2.bkws (since session 11)
    "bifsmnv2_fbank40_120snr": ("models/bifsmnv2_fbank40_120snr.pt",
                                SHARED / "speech_commands_v0.02_fbank40",
                                "models/teacher_fbank40.pt"),
    # trained after session 46's gradient fix (added in session 48): the paper's recipe on the
    # dev data, and the bundle's student fine-tuned with the fix
    "bifsmnv2_s47_sc12dev": ("models/bifsmnv2_s47_sc12dev.pt",
                             SHARED / "speech_commands_test12_v0.02", "models/teacher_sc12dev.pt"),
    "bifsmnv2_fbank40_gradfix30": ("models/bifsmnv2_fbank40_gradfix30.pt",
                                   SHARED / "speech_commands_v0.02_fbank40",
                                   "models/teacher_fbank40.pt"),
}
#: storage choices: name -> export options
CHOICES = {
    "f32 (default)": {},
    "--classifier-dtype i8": {"classifier_dtype": "i8"},
    "--compact (f24 constants, i8 classifier)": {"param_dtype": "f24", "classifier_dtype": "i8"},
    "f16 constants, i8 classifier": {"param_dtype": "f16", "classifier_dtype": "i8"},
    "f16 constants, f16 classifier": {"param_dtype": "f16", "classifier_dtype": "f16"},
    "--storage small (i8 thresholds and biases, f16 scales and conv1, i8 classifier)":
        {"storage": "small"},
}
#: groups the ``small`` storage plan stores as int8 (bifsmn.deploy.plans), narrowed alone
SMALL_GROUPS = {
    "thresholds tau0/tau1 (*.tau)": "i8 (per row)",
    "shared biases (*.bias)": "i8r (per record)",
    "per-path fc_out biases": "i8r (per record)",
}
#: constant groups narrowed one at a time: name -> record-name test
GROUPS = {
    "classifier": lambda n: n == "classifier.w",
    "conv1 (w, b)": lambda n: n.startswith("conv1."),
    "thresholds tau0/tau1 (*.tau)": lambda n: n.endswith(".tau"),
    "conv2.tau2": lambda n: n == "conv2.tau2",
    "shared scales (*.scale)": lambda n: n.endswith(".scale"),
    "shared biases (*.bias)": lambda n: n.endswith(".bias"),
    "per-path fc_out scales": lambda n: ".scale.p" in n,
    "per-path fc_out biases": lambda n: ".bias.p" in n,
}


def narrow_rows() -> list[tuple[str, str, str]]:
    """(export plan, storage label, group) of every one-group row, in the order they are
    measured and printed: the float widths and the int8 classifier, then the ``small`` plan's
    int8 groups."""
    rows = [(storage, storage, group) for storage in ("f24", "f16", "i8") for group in GROUPS
            if (storage == "i8") == (group == "classifier")
            and (storage, group) != ("f24", "classifier")]
    return rows + [("small", storage, group) for group, storage in SMALL_GROUPS.items()]


def _by_path(d: dict) -> dict[int, object]:
    """A per-path dict keyed by block count, largest first, whether its keys are ints (fresh)
    or strings (read back from JSON)."""
    vals = {int(k): v for k, v in d.items()}
    return {b: vals[b] for b in sorted(vals, reverse=True)}


def ordered(r: dict) -> dict:
    """``r`` with its dicts in the measuring order (paths 8, 4, 2, 1; storages and groups as
    measured). Why: sizes.json is written with sorted keys, so entries read back from it
    (``--models``, ``--replot``) come in string order, and markdown() lays out columns and rows
    in iteration order."""
    files = {c: r["files"][c] for c in CHOICES if c in r["files"]}
    for f in files.values():
        f["accuracy"], f["changed"] = _by_path(f["accuracy"]), _by_path(f["changed"])
    names = [f"{group}: {storage}" for _, storage, group in narrow_rows()]
    groups = {g: r["groups"][g] for g in names if g in r["groups"]}
    if len(files) != len(r["files"]) or len(groups) != len(r["groups"]):
        raise ValueError(f"{r['model']}: storages or groups this script does not know")
    for v in groups.values():
        v["delta_points"], v["changed"] = _by_path(v["delta_points"]), _by_path(v["changed"])
    return {**r, "files": files, "groups": groups}


def teacher_bytes(path: str) -> int:
    """Bytes of the teacher's float tensors (the FP32 weights the size ratio counts against)."""
    sd = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    return sum(v.numel() * v.element_size() for v in sd.values() if v.is_floating_point())


def accuracy(ref: DeployedDFSMN, x: torch.Tensor, y: torch.Tensor) -> dict[int, np.ndarray]:
    """Predicted class per clip, per path."""
    with torch.no_grad():
        return {b: torch.cat([ref(x[i:i + 1024], b) for i in range(0, len(x), 1024)]
                             ).argmax(1).numpy() for b in ref.blocks}


def narrowed(base, narrow, test):
    """``base`` with the constants whose names pass ``test`` taken from ``narrow``."""
    spec = copy.copy(base)
    spec.constants = {k: (narrow.constants[k] if test(k) else c)
                      for k, c in base.constants.items()}
    return spec


def measure(name: str, ckpt: str, data: Path, teacher: str, tmp: Path) -> dict:
    model, meta = model_from_checkpoint(ckpt)
    feats, labels, split, _ = split_inputs(data, "validation",
                                           feature_config_from_dict(meta["features"]), 12,
                                           "auto", None, False)
    y = labels.numpy()
    out = {"model": name, "clips": len(y), "split": split, "teacher_bytes": teacher_bytes(teacher),
           "files": {}, "groups": {}}
    base_pred = None
    for choice, opts in CHOICES.items():
        sizes = {}
        for blocks in ("all", 8, 4, 2, 1):
            path = export_checkpoint(ckpt, tmp / f"{name}-{blocks}.bkws", blocks, **opts)
            sizes[str(blocks)] = path.stat().st_size
        path = export_checkpoint(ckpt, tmp / f"{name}.bkws", "all", **opts)
        ref = DeployedDFSMN(fold(model, meta["binary"], **opts))
        pred = accuracy(ref, feats, labels)
        eng = Engine(path)
        for b in eng.paths:  # the file's engine == its own deployed reference, bit for bit
            eng.set_blocks(b)
            with torch.no_grad():
                want = torch.cat([ref(feats[i:i + 1024], b) for i in range(0, len(feats), 1024)])
            assert np.array_equal(eng.predict(feats.numpy()), want.numpy()), (name, choice, b)
        base_pred = base_pred or pred
        out["files"][choice] = {
            "sizes": sizes, "parity": "bit-identical on every validation clip",
            "accuracy": {b: float((p == y).mean()) for b, p in pred.items()},
            "changed": {b: int((p != base_pred[b]).sum()) for b, p in pred.items()}}
        print(name, choice, sizes["all"], out["files"][choice]["accuracy"], flush=True)
    f32 = fold(model, meta["binary"])

    def group_row(group: str, storage: str, narrow) -> None:
        """Accuracy change when only ``group`` takes its constants from ``narrow``."""
        test = GROUPS[group]
        pred = accuracy(DeployedDFSMN(narrowed(f32, narrow, test)), feats, labels)
        out["groups"][f"{group}: {storage}"] = {
            "bytes_f32": int(sum(c.value.size * 4 for k, c in f32.constants.items()
                                 if test(k))),
            "delta_points": {b: 100 * float((p == y).mean() - (base_pred[b] == y).mean())
                             for b, p in pred.items()},
            "changed": {b: int((p != base_pred[b]).sum()) for b, p in pred.items()}}
        print(name, group, storage, out["groups"][f"{group}: {storage}"]["delta_points"],
              flush=True)

    plans = {"f24": {"param_dtype": "f24"},
             "f16": {"param_dtype": "f16", "classifier_dtype": "f16"},
             "i8": {"classifier_dtype": "i8"}, "small": {"storage": "small"}}
    narrow = {k: fold(model, meta["binary"], **o) for k, o in plans.items()}
    for plan, storage, group in narrow_rows():
        group_row(group, storage, narrow[plan])
    return out


def markdown(results: list[dict]) -> str:
    lines = ["# `.bkws` storage choices: size and validation accuracy", "",
             "Produced by `python docs/results/bkws-sizes/measure.py --out "
             "docs/results/bkws-sizes` (the numbers of docs/bkws-format.md, \"Precision "
             "choices\"). Accuracy: validation split, every path computed by the file's own "
             "deployed PyTorch reference, which the C++ engine equals bit for bit on every one "
             "of these clips (asserted). \"changed\": clips whose predicted class differs from "
             "the float32 file's.", ""]
    for r in results:
        t = r["teacher_bytes"]
        lines += [f"## {r['model']} ({r['clips']} {r['split']} clips; FP32 teacher float "
                  f"tensors {t:,} bytes)", "",
                  "| storage | all paths | 8 blocks | 4 | 2 | 1 (bytes, x smaller than the "
                  "teacher) |", "|---|---:|---:|---:|---:|---:|"]
        for choice, f in r["files"].items():
            cells = [f"{f['sizes'][k]:,} ({t / f['sizes'][k]:.1f}x)"
                     for k in ("all", "8", "4", "2", "1")]
            lines.append(f"| {choice} | " + " | ".join(cells) + " |")
        lines += ["", "| storage (all-paths file) | 8 blocks | 4 blocks | 2 blocks | 1 block |",
                  "|---|---:|---:|---:|---:|"]
        base = r["files"]["f32 (default)"]["accuracy"]
        for choice, f in r["files"].items():
            cells = []
            for b, a in f["accuracy"].items():
                d = 100 * (a - base[b])
                cells.append(f"{100 * a:.2f} % ({d:+.2f}, {f['changed'][b]} changed)")
            lines.append(f"| {choice} | " + " | ".join(cells) + " |")
        lines += ["", "One group narrowed, everything else float32 (accuracy change in points, "
                  "clips changed):", "",
                  "| group: storage | f32 bytes | 8 blocks | 4 blocks | 2 blocks | 1 block |",
                  "|---|---:|---:|---:|---:|---:|"]
        for g, v in r["groups"].items():
            cells = [f"{d:+.2f} ({v['changed'][b]})" for b, d in v["delta_points"].items()]
            lines.append(f"| {g} | {v['bytes_f32']:,} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    """Size ratio against the worst path's accuracy change, one point per model and storage:
    the 20.2x line and the -0.2-point line mark the target's corner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for i, r in enumerate(results):
        marker = "osD^vPX*"[i % 8]
        base = r["files"]["f32 (default)"]["accuracy"]
        xs, ys = [], []
        for choice, f in r["files"].items():
            xs.append(r["teacher_bytes"] / f["sizes"]["all"])
            ys.append(min(100 * (a - base[b]) for b, a in f["accuracy"].items()))
            ax.annotate(choice.split(" (")[0], (xs[-1], ys[-1]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        ax.scatter(xs, ys, marker=marker, label=f"{r['model']} ({r['clips']} clips)")
    ax.axvline(20.2, color="grey", ls="--", lw=1)
    ax.axhline(-0.2, color="grey", ls=":", lw=1)
    ax.set_xlabel("all-paths .bkws: x smaller than the FP32 teacher's weights")
    ax.set_ylabel("worst path's validation accuracy change (points)")
    ax.set_title("Storage choices: size vs accuracy (target: right of 20.2x, above -0.2)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/results/bkws-sizes"))
    ap.add_argument("--replot", action="store_true",
                    help="only rewrite sizes.md and sizes.png from the existing sizes.json")
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                    help="measure only these; the other models' entries are kept from the "
                         "existing sizes.json (why: each model takes ~8 minutes on one core)")
    args = ap.parse_args()
    if args.replot:
        results = [ordered(r) for r in json.loads((args.out / "sizes.json").read_text())]
        (args.out / "sizes.md").write_text(markdown(results))
        plot(results, args.out / "sizes.png")
        print(f"wrote {args.out / 'sizes.md'}, sizes.png")
        return
    torch.set_num_threads(1)
    old = {}
    if set(args.models) != set(MODELS) and (args.out / "sizes.json").exists():
        old = {r["model"]: r for r in json.loads((args.out / "sizes.json").read_text())}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (ckpt, data, teacher) in MODELS.items():
            if name in args.models:
                results.append(measure(name, ckpt, data, teacher, Path(tmp)))
            elif name in old:
                results.append(ordered(old[name]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sizes.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    (args.out / "sizes.md").write_text(markdown(results))
    plot(results, args.out / "sizes.png")
    print(f"wrote {args.out / 'sizes.md'}, sizes.json, sizes.png")


if __name__ == "__main__":
    main()
