"""The smallest ``.bkws`` storage within an accuracy budget: ``bifsmn export --max-drop``.

Why: narrowing a binary model's constants changes its function by amounts that differ per
model and path (docs/bkws-format.md, "Precision choices": ``--storage small`` keeps every path
within 0.2 points on three of six committed models and costs up to 1.71 points on another), so
which file a user can ship has to be measured on their own model and data. This exports every
storage of :data:`LADDER`, scores each against the checkpoint on the given split and keeps the
smallest file whose every path is at most ``max_drop`` points below the checkpoint; the float32
file, the checkpoint's own function, always qualifies.

The choice is made on that split, so the chosen file's accuracy there is an optimistic
estimate: confirm it on clips the choice did not see (``bifsmn eval --model FILE --against
CHECKPOINT --split testing``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from bifsmn.engine.export import COMPACT, check_export_output, export_checkpoint
from bifsmn.errors import BifsmnError
from bifsmn.evaluate import compare_many
from bifsmn.train.checkpoint import load_checkpoint

#: storages tried, smallest file first: (the export options a user would type, their kwargs)
LADDER: list[tuple[str, dict[str, str]]] = [
    ("--storage small", {"storage": "small"}),
    ("--param-dtype f16 --classifier-dtype i8", {"param_dtype": "f16", "classifier_dtype": "i8"}),
    ("--compact", dict(COMPACT)),
    ("--classifier-dtype i8", {"classifier_dtype": "i8"}),
    ("float32 (no option)", {}),
]


@dataclass(frozen=True)
class Trial:
    """One storage tried: its options, file size and :func:`~bifsmn.evaluate.compare_paths`
    rows (block count -> accuracy, change in points, predictions changed)."""

    label: str
    options: dict[str, str]
    bytes: int
    rows: dict[int, dict]

    @property
    def worst_change(self) -> float:
        """The largest drop over the paths, in points (negative: a drop)."""
        return min(r["change_points"] for r in self.rows.values())

    def within(self, max_drop: float) -> bool:
        return self.worst_change >= -max_drop


def smallest_within(checkpoint: str | Path, output: str | Path, blocks: str | None,
                    data: str | Path, max_drop: float, split: str | None = None
                    ) -> tuple[Path, Trial, list[Trial]]:
    """Write to ``output`` the smallest file of :data:`LADDER`'s storages whose every path of
    ``blocks`` (export's ``--blocks``) is at most ``max_drop`` points below ``checkpoint`` on
    ``data``'s ``split``; return the file, the chosen trial and every trial, in
    :data:`LADDER`'s order. All candidates are scored in one pass against the checkpoint (its
    inputs and predictions computed once). ``blocks`` None: every path (``"all"``)."""
    blocks = blocks or "all"  # None reached export as the text 'None'
    if not max_drop >= 0:  # also refuses NaN
        raise BifsmnError(f"--max-drop must be 0 or more points, not {max_drop}")
    check_export_output(checkpoint, output)  # a refused output fails before the scoring
    binary = load_checkpoint(checkpoint).get("binary") or {}
    if binary.get("method", "none") == "none":
        raise BifsmnError("--max-drop applies to binary models only (a full-precision model "
                          "is the FP32 baseline)", checkpoint)
    with tempfile.TemporaryDirectory(prefix="bifsmn-storage-") as tmp:
        files = []
        for i, (_, options) in enumerate(LADDER):
            files.append(export_checkpoint(checkpoint, Path(tmp) / f"{i}.bkws", blocks,
                                           **options))
        scored = compare_many(files, checkpoint, data, split, progress=False)
        trials = [Trial(label, options, path.stat().st_size, rows)
                  for (label, options), path, rows in zip(LADDER, files, scored, strict=True)]
    chosen = min((t for t in trials if t.within(max_drop)), key=lambda t: t.bytes)
    return export_checkpoint(checkpoint, output, blocks, **chosen.options), chosen, trials
