"""Accuracy, per-class accuracy and confusion matrix of a checkpoint on a data split.

The one checkpoint evaluation of the package: ``bifsmn eval``, ``bifsmn compare`` and the
quickstart call it. Scoring is :func:`bifsmn.deploy.predict` (the deployed arithmetic for a
binary model that has one), so the number is what the engine computes. A ``.bkws`` file is
scored by the C++ engine itself on the same features: that is how a narrowed export
(``--compact``, ``--storage small``), whose function differs from its checkpoint's, gets its own
accuracy (docs/bkws-format.md, "Precision choices").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from bifsmn import blocks as blocks_mod
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.labels import ClassMerge, task_of
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import predict_paths
from bifsmn.errors import BifsmnError, NonFiniteError
from bifsmn.signatures import file_kind
from bifsmn.train.checkpoint import checkpoint_labels, model_from_checkpoint


def confusion(pred: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """Rows: true class, columns: predicted class."""
    return torch.bincount(target * n + pred, minlength=n * n).reshape(n, n)


def metrics_from_logits(logits: torch.Tensor, labels: torch.Tensor,
                        names: list[str]) -> dict:
    """Accuracy, per-class accuracy and confusion matrix; a 37-class model is scored as the
    12 classes it reports (:class:`~bifsmn.data.labels.ClassMerge`), like the detector uses it."""
    merge = ClassMerge(names)
    if not merge.identity:
        logits, labels = merge.torch_logits(logits), torch.as_tensor(merge.index)[labels]
        names = merge.labels
    pred = logits.argmax(1)
    cm = confusion(pred, labels, len(names))
    support = cm.sum(1)
    per_class = {n: (cm[i, i] / support[i]).item() if support[i] else None
                 for i, n in enumerate(names)}
    return {"accuracy": (pred == labels).float().mean().item() if len(labels) else float("nan"),
            "count": len(labels), "per_class": per_class, "confusion": cm.tolist(),
            "labels": names}


def evaluate_checkpoint_paths(checkpoint: str | Path, data: str | Path,
                              split: str | None = None, blocks: list[int] | None = None,
                              protocol: str = "auto", cache_dir: Path | None = None,
                              progress: bool = True) -> dict[int, dict]:
    """Metrics (see :func:`metrics_from_logits`) of a checkpoint on a split for each block
    count in ``blocks`` (default: every path the model has), the model folded once.

    ``split=None`` picks the layout's default. A feature archive is read as images; audio goes
    through the checkpoint's own front end (for an fbank40 model that is the deployed path:
    :mod:`bifsmn.data.sources`). Non-finite logits raise :class:`NonFiniteError`.
    ``checkpoint`` may also be a ``.bkws`` file: :func:`evaluate_bkws_paths`."""
    if Path(checkpoint).is_file() and file_kind(Path(checkpoint)) == "bkws":
        return evaluate_bkws_paths(checkpoint, data, split, blocks, protocol, cache_dir, progress)
    model, ckpt = model_from_checkpoint(checkpoint)
    layers = getattr(model, "num_layers", blocks_mod.DEFAULT_LAYERS)
    num_paths = getattr(model, "num_paths", 1)
    if blocks is None:
        blocks = blocks_mod.counts(layers, num_paths)
    blocks = blocks_mod.parse_many(blocks, layers)
    for b in blocks:
        blocks_mod.require(b, layers, num_paths, str(checkpoint))
    return _score_paths(checkpoint, checkpoint_labels(ckpt), list(ckpt["labels"]),
                        ckpt["features"], lambda x: predict_paths(model, x, blocks), data,
                        split, protocol, cache_dir, progress)


def evaluate_bkws_paths(path: str | Path, data: str | Path, split: str | None = None,
                        blocks: list[int] | None = None, protocol: str = "auto",
                        cache_dir: Path | None = None, progress: bool = True,
                        batch: int = 256) -> dict[int, dict]:
    """Metrics of a ``.bkws`` file per block count (default: every path it holds), computed by
    the C++ engine on the features the checkpoint path would use (the Python front end of the
    file's feature config, the same inputs as :func:`evaluate_checkpoint_paths`): so a float32
    export scores exactly as its checkpoint, and a narrowed one shows what its rounding did."""
    from bifsmn.engine import Engine  # the native module loads only for a .bkws

    engine = Engine(path)
    blocks = list(engine.paths) if blocks is None else [int(b) for b in blocks]
    for b in blocks:
        engine.set_blocks(b)  # MissingPath naming the file's paths, before any data is read

    def predict(feats: torch.Tensor) -> dict[int, torch.Tensor]:
        x, out = feats.numpy(), {}
        for b in blocks:
            engine.set_blocks(b)
            out[b] = torch.cat([torch.from_numpy(engine.predict(x[i:i + batch]))
                                for i in range(0, len(x), batch)])
        return out

    return _score_paths(path, engine.labels, list(engine.labels), engine.feature_config,
                        predict, data, split, protocol, cache_dir, progress,
                        {"engine": {"kernel": engine.kernel, "file_bytes": engine.file_bytes}})


def _score_paths(src: str | Path, task_labels: list[str], names: list[str], features: dict,
                 predict: Callable[[torch.Tensor], dict[int, torch.Tensor]], data: str | Path,
                 split: str | None, protocol: str, cache_dir: Path | None, progress: bool,
                 extra: dict | None = None) -> dict[int, dict]:
    """The split's inputs for a model of these labels and front end, ``predict`` on them
    (block count -> logits), and :func:`metrics_from_logits` per block count: the one scoring
    of a checkpoint and of a ``.bkws`` file."""
    num_classes, keywords = task_of(task_labels)
    feats, labels, split, source = split_inputs(
        data, split, feature_config_from_dict(features, str(src)), num_classes, protocol,
        cache_dir, progress, keywords)
    if len(labels) == 0:
        raise BifsmnError(f"split '{split}' is empty", data)
    out = {}
    for b, logits in predict(feats).items():
        if not torch.isfinite(logits).all():  # once per path: NaN never becomes an accuracy
            raise NonFiniteError(f"model gives non-finite logits (NaN or inf) on split "
                                 f"'{split}' of {data} (diverged or corrupt model?)", src)
        m = metrics_from_logits(logits, labels, names)
        m.update({"checkpoint": str(src), "data": str(data), "split": split, "blocks": b,
                  "source": source, **(extra or {})})
        out[b] = m
    return out


def evaluate_checkpoint(checkpoint: str | Path, data: str | Path, split: str | None = None,
                        blocks: int = 8, protocol: str = "auto",
                        cache_dir: Path | None = None, progress: bool = True) -> dict:
    """Metrics of a checkpoint on one path (``blocks``): :func:`evaluate_checkpoint_paths`."""
    return evaluate_checkpoint_paths(checkpoint, data, split, [blocks], protocol, cache_dir,
                                     progress)[blocks]


def accuracies(checkpoint: str | Path, data: str | Path, blocks: list[int] | None = None,
               split: str = "validation", cache_dir: Path | None = None,
               progress: bool = False) -> dict[int, float]:
    """Accuracy per block count (what compare and the quickstart tabulate)."""
    return {b: m["accuracy"] for b, m in evaluate_checkpoint_paths(
        checkpoint, data, split, blocks, cache_dir=cache_dir, progress=progress).items()}


def format_report(m: dict) -> str:
    names = m["labels"]
    lines = [f"{m['checkpoint']} on {m['data']} [{m['split']}, {m['blocks']} blocks]: "
             f"accuracy {100 * m['accuracy']:.2f}% of {m['count']} clips", "",
             "per-class accuracy:"]
    for n in names:
        v = m["per_class"][n]
        lines.append(f"  {n:<10} {'-' if v is None else f'{100 * v:6.2f}%'}")
    w = max(len(n) for n in names)
    lines += ["", "confusion (rows true, columns predicted):",
              " " * (w + 1) + " ".join(f"{n[:5]:>5}" for n in names)]
    for n, row in zip(names, m["confusion"], strict=True):
        lines.append(f"{n:<{w}} " + " ".join(f"{v:5d}" for v in row))
    return "\n".join(lines)
