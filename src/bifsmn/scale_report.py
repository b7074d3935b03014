"""The at-scale results table: every committed fbank40 model on the same test data, one command.

For each checkpoint and each of its paths: validation accuracy (archive images), testing
accuracy on the archive's images, accuracy on the subset of testing clips that also exist as
WAV files, through the images and through the audio front end (the deployed path), and the share
of negative-speech test windows classified as a keyword (a false accept of the classifier, before
any detector threshold). Written as ``table.md``, ``table.csv`` and ``table.json``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import cast

import torch

from bifsmn.blocks import counts
from bifsmn.data.archive import AudioSource, check_feature_archive
from bifsmn.data.fbank import Fbank40Config, image_to_input
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.labels import SILENCE, UNKNOWN, task_of
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import predict_finite, scoring
from bifsmn.errors import BifsmnError
from bifsmn.outputs import make_folder
from bifsmn.paired import evaluate_paired
from bifsmn.rates import rate
from bifsmn.train.checkpoint import atomic_write_text, checkpoint_labels, model_from_checkpoint


def model_rows(name: str, checkpoint: Path, archive: str, audio: str | None,
               negatives: list[str], cache_dir: Path | None = None) -> list[dict]:
    """One row per path of ``checkpoint``."""
    check_feature_archive(archive)  # its columns are the archive's images
    model, ckpt = model_from_checkpoint(checkpoint)
    fcfg = feature_config_from_dict(ckpt["features"], str(checkpoint))
    num_classes, keywords = task_of(checkpoint_labels(ckpt))
    blocks = counts(cast(int, model.num_layers), getattr(model, "num_paths", 1))
    labels = list(ckpt["labels"])
    not_kw = torch.tensor([labels.index(x) for x in (UNKNOWN, SILENCE) if x in labels])
    data = {s: split_inputs(archive, s, fcfg, num_classes, cache_dir=cache_dir,
                            keywords=keywords)[:2]
            for s in ("validation", "testing")}
    fbank_cfg = cast(Fbank40Config, fcfg)  # split_inputs above refused other feature kinds
    neg = [image_to_input(AudioSource(n).images("testing", fbank_cfg, cache_dir), fbank_cfg)
           for n in negatives]
    neg_x = torch.cat(neg) if neg else None
    paired = (evaluate_paired(checkpoint, archive, audio, tuple(blocks), cache_dir=cache_dir)
              if audio else {})
    rows = []
    scored = scoring(model)  # the deployed arithmetic where the model has one, folded once
    for b in blocks:
        row = {"model": name, "blocks": b, "checkpoint": str(checkpoint),
               "method": ckpt["binary"]["method"], "epoch": ckpt.get("epoch"),
               # what the accuracies count: a 4-class keyword task is not a 12-class one
               "task": f"keywords {', '.join(keywords)} ({num_classes} classes)" if keywords
               else f"{num_classes} classes"}
        for s, (x, y) in data.items():
            logits = predict_finite(scored, x, b, f"the archive's {s} images", checkpoint)
            row[f"{s}_acc"] = rate(logits.argmax(1) == y)
        if paired:
            row["paired_clips"] = paired["pairs"]
            row["paired_images_acc"] = paired[f"images_{b}"]
            row["paired_audio_acc"] = paired[f"audio_{b}"]
        if neg_x is not None:
            pred = predict_finite(scored, neg_x, b, "negative speech", checkpoint).argmax(1)
            row["negative_windows"] = len(neg_x)
            row["negative_keyword_rate"] = rate(~torch.isin(pred, not_kw))
        rows.append(row)
    return rows


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def write_table(rows: list[dict], out: Path, command: str) -> str:
    """Write ``out/table.{md,csv,json}``; return the markdown."""
    if not rows:
        raise BifsmnError("no models to tabulate")
    make_folder(out, "folder for the tables (--out)")
    md = ["| model | blocks | validation (images) | testing (images) | paired clips: images "
          "| paired clips: audio | negative speech called a keyword |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['blocks']} | {_pct(r['validation_acc'])} | "
                  f"{_pct(r['testing_acc'])} | {_pct(r.get('paired_images_acc'))} | "
                  f"{_pct(r.get('paired_audio_acc'))} | {_pct(r.get('negative_keyword_rate'))} |")
    first = rows[0]
    tasks = {r["model"]: r.get("task", "12 classes") for r in rows}
    if set(tasks.values()) != {"12 classes"}:  # name the tasks where they differ
        md += ["", "Tasks the accuracies count: " + "; ".join(f"{m}: {t}"
                                                             for m, t in tasks.items()) + "."]
    md += ["", f"Paired clips: {first.get('paired_clips', 0)} testing clips that exist as images "
           f"and as WAV files; negative speech: {first.get('negative_windows', 0)} 1-s windows of "
           "the negative folders' testing share (argmax is a keyword, no detector threshold).",
           "", f"Command: `{command}`"]
    text = "\n".join(md) + "\n"
    atomic_write_text(out / "table.md", text)
    buf = io.StringIO()
    keys = list(dict.fromkeys(k for r in rows for k in r))
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "table.csv", buf.getvalue())
    atomic_write_text(out / "table.json", json.dumps(rows, indent=2))
    return text
