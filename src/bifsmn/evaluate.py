"""Accuracy, per-class accuracy and confusion matrix of a checkpoint on a data split.

The one checkpoint evaluation of the package: ``bifsmn eval``, ``bifsmn compare`` and the
quickstart call it. Scoring is :func:`bifsmn.deploy.predict` (the deployed arithmetic for a
binary model that has one), so the number is what the engine computes. A ``.bkws`` file is
scored by the C++ engine itself on the same features: that is how a narrowed export
(``--compact``, ``--storage small``), whose function differs from its checkpoint's, gets its own
accuracy (docs/bkws-format.md, "Precision choices"), and :func:`compare_paths` scores it beside
its checkpoint on the same inputs (``bifsmn eval --model FILE --against REF``): what the smaller
file costs, per path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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


def _merged(logits: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, ClassMerge]:
    """Logits over the classes a model reports (a 37-class model's merged into its 12) and
    the merge."""
    merge = ClassMerge(names)
    return (logits if merge.identity else merge.torch_logits(logits)), merge


def metrics_from_logits(logits: torch.Tensor, labels: torch.Tensor,
                        names: list[str]) -> dict:
    """Accuracy, per-class accuracy and confusion matrix; a 37-class model is scored as the
    12 classes it reports (:class:`~bifsmn.data.labels.ClassMerge`), like the detector uses it."""
    logits, merge = _merged(logits, names)
    if not merge.identity:
        labels, names = torch.as_tensor(merge.index)[labels], merge.labels
    pred = logits.argmax(1)
    cm = confusion(pred, labels, len(names))
    support = cm.sum(1)
    # exact ratios of counts in Python floats (a float32 mean printed 0.3333333432674408 for
    # 1 of 3 in the JSON output)
    per_class = {n: int(cm[i, i]) / int(support[i]) if support[i] else None
                 for i, n in enumerate(names)}
    correct = int((pred == labels).sum())
    return {"accuracy": correct / len(labels) if len(labels) else float("nan"),
            "count": len(labels), "per_class": per_class, "confusion": cm.tolist(),
            "labels": names}


@dataclass(frozen=True)
class _Scorer:
    """What scoring one model needs: its task and reported labels, its front end, the block
    counts to run and ``predict`` (inputs -> block count -> logits)."""

    src: str
    task_labels: list[str]
    names: list[str]
    features: dict
    blocks: list[int]
    predict: Callable[[torch.Tensor], dict[int, torch.Tensor]]
    extra: dict = field(default_factory=dict)
    #: how training built its audio splits ({"protocol", "seed"}; empty for older files)
    split_rule: dict = field(default_factory=dict)


def _checkpoint_scorer(checkpoint: str | Path, blocks: list[int] | None) -> _Scorer:
    """A checkpoint scored by :func:`bifsmn.deploy.predict_paths` (deployed arithmetic), the
    model folded once; ``blocks`` None: every path the model has."""
    model, ckpt = model_from_checkpoint(checkpoint)
    layers = getattr(model, "num_layers", blocks_mod.DEFAULT_LAYERS)
    num_paths = getattr(model, "num_paths", 1)
    if blocks is None:
        blocks = blocks_mod.counts(layers, num_paths)
    blocks = blocks_mod.parse_many(blocks, layers)
    for b in blocks:
        blocks_mod.require(b, layers, num_paths, str(checkpoint))
    rule = ckpt.get("data")
    return _Scorer(str(checkpoint), checkpoint_labels(ckpt), list(ckpt["labels"]),
                   ckpt["features"], blocks, lambda x: predict_paths(model, x, blocks),
                   split_rule=rule if isinstance(rule, dict) else {})


def _bkws_scorer(path: str | Path, blocks: list[int] | None, batch: int = 256) -> _Scorer:
    """A ``.bkws`` file scored by the C++ engine; ``blocks`` None: every path it holds."""
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

    rule = engine.metadata.get("data")
    return _Scorer(str(path), engine.labels, list(engine.labels), engine.feature_config,
                   blocks, predict,
                   {"engine": {"kernel": engine.kernel, "file_bytes": engine.file_bytes}},
                   split_rule=rule if isinstance(rule, dict) else {})


def _scorer(src: str | Path, blocks: list[int] | None) -> _Scorer:
    """The scorer of a checkpoint, run folder or ``.bkws`` file."""
    if Path(src).is_file() and file_kind(Path(src)) == "bkws":
        return _bkws_scorer(src, blocks)
    return _checkpoint_scorer(src, blocks)


def evaluate_checkpoint_paths(checkpoint: str | Path, data: str | Path,
                              split: str | None = None, blocks: list[int] | None = None,
                              protocol: str = "auto", cache_dir: Path | None = None,
                              progress: bool = True, rule: dict | None = None
                              ) -> dict[int, dict]:
    """Metrics (see :func:`metrics_from_logits`) of a checkpoint on a split for each block
    count in ``blocks`` (default: every path the model has), the model folded once.

    ``split=None`` picks the layout's default. A feature archive is read as images; audio goes
    through the checkpoint's own front end (for an fbank40 model that is the deployed path:
    :mod:`bifsmn.data.sources`). Non-finite logits raise :class:`NonFiniteError`.
    ``checkpoint`` may also be a ``.bkws`` file: :func:`evaluate_bkws_paths`. ``rule``
    ({"protocol", "seed"}) replaces the split rule the file records: tables that set several
    models side by side score them all on one split."""
    s = _scorer(checkpoint, blocks)
    if rule is not None:
        s = replace(s, split_rule=dict(rule))
    return _score_paths(s, data, split, protocol, cache_dir, progress)


def evaluate_bkws_paths(path: str | Path, data: str | Path, split: str | None = None,
                        blocks: list[int] | None = None, protocol: str = "auto",
                        cache_dir: Path | None = None, progress: bool = True,
                        batch: int = 256) -> dict[int, dict]:
    """Metrics of a ``.bkws`` file per block count (default: every path it holds), computed by
    the C++ engine on the features the checkpoint path would use (the Python front end of the
    file's feature config, the same inputs as :func:`evaluate_checkpoint_paths`): so a float32
    export scores exactly as its checkpoint, and a narrowed one shows what its rounding did."""
    return _score_paths(_bkws_scorer(path, blocks, batch), data, split, protocol, cache_dir,
                        progress)


def split_rule(s: _Scorer, protocol: str) -> tuple[str, int]:
    """The protocol and seed to build an audio split with: ``protocol`` when given, else the
    one the model was trained with (its checkpoint or ``.bkws`` records it since session 68),
    else ``auto``; the seed is the recorded one (only the standard protocol uses it:
    :class:`~bifsmn.data.speech_commands.SpeechCommands`)."""
    rule = s.split_rule
    if protocol == "auto" and isinstance(rule.get("protocol"), str):
        protocol = rule["protocol"]
    seed = rule.get("seed", 0)
    return protocol, seed if isinstance(seed, int) and seed >= 0 else 0


def _inputs(s: _Scorer, data: str | Path, split: str | None, protocol: str,
            cache_dir: Path | None, progress: bool
            ) -> tuple[torch.Tensor, torch.Tensor, str, str]:
    """The split's inputs and labels for a model of ``s``'s labels and front end."""
    num_classes, keywords = task_of(s.task_labels)
    protocol, seed = split_rule(s, protocol)
    feats, labels, split, source = split_inputs(
        data, split, feature_config_from_dict(s.features, s.src), num_classes, protocol,
        cache_dir, progress, keywords, seed)
    if len(labels) == 0:
        raise BifsmnError(f"split '{split}' is empty", data)
    return feats, labels, split, source


def _finite(logits: torch.Tensor, s: _Scorer, split: str, data: str | Path) -> torch.Tensor:
    """``logits``, or :class:`NonFiniteError` naming the model: NaN never becomes an
    accuracy."""
    if not torch.isfinite(logits).all():
        raise NonFiniteError(f"model gives non-finite logits (NaN or inf) on split "
                             f"'{split}' of {data} (diverged or corrupt model?)", s.src)
    return logits


def _score_paths(s: _Scorer, data: str | Path, split: str | None, protocol: str,
                 cache_dir: Path | None, progress: bool) -> dict[int, dict]:
    """The split's inputs, ``s.predict`` on them and :func:`metrics_from_logits` per block
    count: the one scoring of a checkpoint and of a ``.bkws`` file."""
    feats, labels, split, source = _inputs(s, data, split, protocol, cache_dir, progress)
    out = {}
    for b, logits in s.predict(feats).items():
        m = metrics_from_logits(_finite(logits, s, split, data), labels, s.names)
        # "model" as in --against's output; "checkpoint", its older name, kept for scripts
        m.update({"model": s.src, "checkpoint": s.src, "data": str(data), "split": split,
                  "blocks": b, "source": source, **s.extra})
        out[b] = m
    return out


def compare_paths(model: str | Path, against: str | Path, data: str | Path,
                  split: str | None = None, blocks: list[int] | None = None,
                  protocol: str = "auto", cache_dir: Path | None = None,
                  progress: bool = True) -> dict[int, dict]:
    """``model`` scored beside ``against`` on the same inputs, per block count (default: every
    path both have): both accuracies, the change in points and the clips whose reported
    class differs. Why: a narrowed export (``--compact``, ``--storage``) computes another
    function than its checkpoint, and what a user trades for the smaller file is exactly this
    (docs/bkws-format.md, "Precision choices"). Either may be a checkpoint, run folder or
    ``.bkws`` file; they must share the front end and labels, else a one-line error naming
    ``against``."""
    return compare_many([model], against, data, split, blocks, protocol, cache_dir,
                        progress)[0]


def compare_many(models: Sequence[str | Path], against: str | Path, data: str | Path,
                 split: str | None = None, blocks: list[int] | None = None,
                 protocol: str = "auto", cache_dir: Path | None = None,
                 progress: bool = True) -> list[dict[int, dict]]:
    """:func:`compare_paths` of each of ``models`` against one reference, whose inputs and
    predictions are computed once (the storage search of ``bifsmn export --max-drop`` scores
    several files against one checkpoint). ``blocks`` default: the paths the first model and
    ``against`` both have (a partial export against its checkpoint, in either order)."""
    scorers = [_scorer(models[0], blocks)]
    sa = _scorer(against, blocks)
    if blocks is None:
        common = [b for b in scorers[0].blocks if b in sa.blocks]
        if not common:
            raise BifsmnError(f"has no path in common with {scorers[0].src} (blocks "
                              f"{', '.join(map(str, sa.blocks))} against "
                              f"{', '.join(map(str, scorers[0].blocks))})", against)
        scorers[0], sa = replace(scorers[0], blocks=common), replace(sa, blocks=common)
    scorers += [_scorer(m, scorers[0].blocks) for m in models[1:]]
    want = feature_config_from_dict(sa.features, sa.src)
    for sm in scorers:
        if feature_config_from_dict(sm.features, sm.src) != want:
            raise BifsmnError(f"computes other features than {sm.src}, so the two cannot be "
                              "scored on the same inputs", against)
        if sa.task_labels != sm.task_labels:
            raise BifsmnError(f"has other labels than {sm.src} ({', '.join(sa.task_labels)} "
                              f"against {', '.join(sm.task_labels)})", against)
    feats, labels, split, source = _inputs(sa, data, split, protocol, cache_dir, progress)
    ref = sa.predict(feats)
    ref_metrics = {b: metrics_from_logits(_finite(ref[b], sa, split, data), labels, sa.names)
                   for b in sa.blocks}
    ref_pred = {b: _merged(ref[b], sa.names)[0].argmax(1) for b in sa.blocks}
    results = []
    for sm in scorers:
        got, out = sm.predict(feats), {}
        for b in sm.blocks:
            m = metrics_from_logits(_finite(got[b], sm, split, data), labels, sm.names)
            a = ref_metrics[b]
            out[b] = {"model": sm.src, "against": sa.src, "data": str(data), "split": split,
                      "source": source, "blocks": b, "count": m["count"],
                      "accuracy": m["accuracy"], "against_accuracy": a["accuracy"],
                      "change_points": 100 * (m["accuracy"] - a["accuracy"]),
                      "changed": int((_merged(got[b], sm.names)[0].argmax(1)
                                      != ref_pred[b]).sum())}
        results.append(out)
    return results


def format_comparison(rows: dict[int, dict]) -> str:
    """:func:`compare_paths`' result as a table, one line per path."""
    first = next(iter(rows.values()))
    lines = [f"{first['model']} against {first['against']} on {first['data']} "
             f"[{first['split']}, {first['count']} clips]",
             f"{'blocks':>6}  {'model':>8}  {'against':>8}  {'change':>7}  predictions changed"]
    for b, r in rows.items():
        lines.append(f"{b:>6}  {100 * r['accuracy']:7.2f}%  {100 * r['against_accuracy']:7.2f}%"
                     f"  {r['change_points']:+7.2f}  {r['changed']}")
    return "\n".join(lines)


def evaluate_checkpoint(checkpoint: str | Path, data: str | Path, split: str | None = None,
                        blocks: int = 8, protocol: str = "auto",
                        cache_dir: Path | None = None, progress: bool = True) -> dict:
    """Metrics of a checkpoint on one path (``blocks``): :func:`evaluate_checkpoint_paths`."""
    return evaluate_checkpoint_paths(checkpoint, data, split, [blocks], protocol, cache_dir,
                                     progress)[blocks]


def accuracies(checkpoint: str | Path, data: str | Path, blocks: list[int] | None = None,
               split: str = "validation", cache_dir: Path | None = None,
               progress: bool = False, rule: dict | None = None) -> dict[int, float]:
    """Accuracy per block count (what compare and the quickstart tabulate); ``rule``: see
    :func:`evaluate_checkpoint_paths`."""
    return {b: m["accuracy"] for b, m in evaluate_checkpoint_paths(
        checkpoint, data, split, blocks, cache_dir=cache_dir, progress=progress,
        rule=rule).items()}


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
