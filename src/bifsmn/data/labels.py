"""Label sets of the Speech Commands tasks (README, "Data").

The 12-class order is the reference code's (unknown first, silence second) so that label indices
and confusion matrices read the same as in the BiFSMN papers.

The 37-class task is the 12-class one with each of the 25 other words as a class of its own
(``_unknown_:bed`` ...), appended after the 12. A model trained on it still answers the 12-class
question: :class:`ClassMerge` folds every ``_unknown_:<word>`` class into ``_unknown_`` (log-sum-exp
of their logits, so the softmax of the merged logits is the sum of the merged posteriors). Why:
``_unknown_`` lumps 25 words, several of which sound like keywords (learn/left, dog/down,
tree/three); naming them lets training separate them instead of treating one many-shaped class
as one (docs/results/verifier-words).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bifsmn.errors import BifsmnError

COMMANDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
NON_KEYWORDS: tuple[str, ...] = (UNKNOWN, SILENCE)  # never fire as detections
LABELS_12: tuple[str, ...] = (UNKNOWN, SILENCE, *COMMANDS)
LABELS_35: tuple[str, ...] = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one",
    "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow",
    "yes", "zero",
)
#: the 25 words of Speech Commands v0.02 that are not commands (all ``_unknown_`` at 12 classes)
UNKNOWN_WORDS: tuple[str, ...] = tuple(w for w in LABELS_35 if w not in COMMANDS)
SUB_SEP = ":"  # "_unknown_:bed": a class merged into "_unknown_" at inference
LABELS_37: tuple[str, ...] = (*LABELS_12, *(f"{UNKNOWN}{SUB_SEP}{w}" for w in UNKNOWN_WORDS))
TASKS = {12: LABELS_12, 35: LABELS_35, 37: LABELS_37}


def check_keywords(keywords: Sequence[str]) -> tuple[str, ...]:
    """``keywords`` as a tuple after the checks a word list needs to name classes (one line
    naming the problem): non-empty words, no duplicates, none of the reserved names."""
    words = tuple(str(w) for w in keywords)
    for w in words:
        if not w or w != w.strip() or "/" in w or "\n" in w or w.startswith("_") \
                or SUB_SEP in w:
            raise BifsmnError(f"keyword {w!r} cannot name a class (a word folder's name: no "
                              f"'/', ':', newline or leading '_')")
    dupes = sorted({w for w in words if words.count(w) > 1})
    if dupes:
        raise BifsmnError(f"keywords name {', '.join(dupes)} more than once")
    return words


def labels_for_task(num_classes: int, keywords: Sequence[str] = ()) -> tuple[str, ...]:
    """Return the ordered label names of the ``num_classes`` task.

    ``keywords`` (``data.keywords``): a keyword task of one's own instead of the ten commands,
    ``(_unknown_, _silence_, *keywords)``, with every other word in ``_unknown_``; then
    ``num_classes`` must be ``2 + len(keywords)``. Empty: the task of ``num_classes``."""
    if keywords:
        words = check_keywords(keywords)
        if num_classes != 2 + len(words):
            raise BifsmnError(f"{len(words)} keywords make {2 + len(words)} classes (with "
                              f"{UNKNOWN} and {SILENCE}), not {num_classes}")
        return (UNKNOWN, SILENCE, *words)
    if num_classes not in TASKS:
        raise BifsmnError(f"unsupported task: {num_classes} classes (choose 12, 35 or 37, or "
                          "name your keywords with data.keywords)")
    return TASKS[num_classes]


def task_size(num_classes: int, keywords: Sequence[str]) -> int:
    """The class count of a task: with keywords and the default 12, it follows them
    (``2 + len(keywords)``), as ``data.keywords`` sets ``data.num_classes`` in configs."""
    return 2 + len(keywords) if keywords and num_classes == 12 else num_classes


def task_of(labels: Sequence[str]) -> tuple[int, tuple[str, ...]]:
    """``(num_classes, keywords)`` that rebuild the task a model was trained on from its
    labels (a checkpoint's or ``.bkws`` file's), for :func:`labels_for_task` and the data
    sets: keywords only for a keyword task of one's own, ``()`` for the tasks of the ten
    commands (and for labels of no known shape, read as the task of their count)."""
    labels = tuple(labels)
    if labels in TASKS.values() or labels[:2] != (UNKNOWN, SILENCE):
        return len(labels), ()
    words = labels[2:]
    if any(group_of(w) == UNKNOWN for w in words):
        return len(labels), ()
    return len(labels), check_keywords(words)


def keywords_of(labels: Sequence[str]) -> tuple[str, ...]:
    """The classes of ``labels`` that can fire as a detection: not ``_unknown_`` (or one of
    its sub-classes) nor ``_silence_``. The ten commands for the 12- and 37-class tasks."""
    return tuple(x for x in labels if x not in NON_KEYWORDS and group_of(x) != UNKNOWN)


def label_of_word(labels: Sequence[str], word: str) -> int | None:
    """Index in ``labels`` (a task of :func:`labels_for_task`) of a clip of ``word`` (or
    ``_silence_``); None where the task leaves the word out (silence at 35 classes)."""
    if UNKNOWN in labels:  # 12 or 37 classes, or keywords of one's own
        if word in labels and word != UNKNOWN:
            return labels.index(word)
        sub = f"{UNKNOWN}{SUB_SEP}{word}"
        return labels.index(sub) if sub in labels else labels.index(UNKNOWN)
    return labels.index(word) if word in labels else None


def group_of(label: str) -> str:
    """The label a class is reported as: ``_unknown_:bed`` -> ``_unknown_``, others unchanged."""
    head, sep, _ = label.partition(SUB_SEP)
    return head if sep and head == UNKNOWN else label


class ClassMerge:
    """Folds sub-classes (``_unknown_:<word>``) into their group's class.

    ``labels`` are the merged names (first occurrence order: the 12-class order for the 37-class
    task); ``logits(z)`` maps (..., C) logits to (..., len(labels)) with each group's logit the
    log-sum-exp of its members', so softmax(merged) equals the summed posteriors."""

    def __init__(self, labels: list[str] | tuple[str, ...],
                 groups: Sequence[str] | None = None, order: Sequence[str] | None = None
                 ) -> None:
        self.source = list(labels)
        groups = list(groups) if groups is not None else [group_of(x) for x in self.source]
        self.labels = list(order) if order is not None else list(dict.fromkeys(groups))
        self.members = [[i for i, g in enumerate(groups) if g == name] for name in self.labels]
        self.index = np.asarray([self.labels.index(g) for g in groups], np.int64)

    @classmethod
    def onto(cls, source: Sequence[str], target: Sequence[str]) -> ClassMerge:
        """The merge that answers ``target``'s classes from a model of ``source``'s: each
        source class goes to the target class of its name (or of its group, ``_unknown_:bed``
        -> ``_unknown_``), every other one into ``_unknown_`` (a 12-class teacher for a
        student of keywords ``yes, no``: up ... go count as unknown). One line naming the
        class where that is impossible (a target keyword the source has no class for, or a
        source class with nowhere to go)."""
        source, target = list(source), list(target)
        groups = []
        for x in source:
            g = x if x in target else group_of(x)
            if g not in target:
                if UNKNOWN not in target:
                    raise BifsmnError(f"class {x!r} has no class to go to among {target}")
                g = UNKNOWN
            groups.append(g)
        missing = [t for t in target if t not in groups]
        if missing:
            raise BifsmnError(f"no class among {source} answers {', '.join(missing)}")
        return cls(source, groups, target)

    @property
    def identity(self) -> bool:
        """True when the merged classes are the source's, in its order (nothing to do)."""
        return len(self.labels) == len(self.source) and \
            bool((self.index == np.arange(len(self.source))).all())

    def logits(self, z: np.ndarray) -> np.ndarray:
        """Merged logits of numpy ``z`` (..., C) (float32 in, float32 out)."""
        if self.identity:
            return z
        z = np.asarray(z)
        out = np.empty((*z.shape[:-1], len(self.labels)), z.dtype)
        for j, m in enumerate(self.members):
            if len(m) == 1:
                out[..., j] = z[..., m[0]]
            else:
                part = z[..., m].astype(np.float64)
                top = part.max(axis=-1, keepdims=True)
                top = np.where(np.isfinite(top), top, 0.0)
                out[..., j] = (np.log(np.exp(part - top).sum(axis=-1)) + top[..., 0])
        return out

    def torch_logits(self, z):  # noqa: ANN001, ANN201  (torch is imported by the callers)
        """Merged logits of a torch tensor ``z`` (..., C)."""
        if self.identity:
            return z
        import torch

        return torch.stack([z[..., m[0]] if len(m) == 1 else torch.logsumexp(z[..., m], -1)
                            for m in self.members], -1)

    def widen(self, weight, bias, source_labels: list[str]):  # noqa: ANN001, ANN201
        """A classifier for ``self.source`` from one (``weight`` (K, D), ``bias`` (K,)) trained
        on ``source_labels`` (the merged names): every member of a group starts as a copy of
        the group's row with ``ln(group size)`` taken off its bias, so the merged logits, and
        the model's 12-class answers, are unchanged at the start of training."""
        import torch

        if list(source_labels) != self.labels:
            raise BifsmnError(f"cannot widen a classifier of labels {list(source_labels)} to "
                              f"{self.source}")
        rows = [self.labels.index(group_of(x)) for x in self.source]
        size = {j: len(m) for j, m in enumerate(self.members)}
        w = weight[rows].clone()
        b = bias[rows].clone() - torch.tensor([math.log(size[r]) for r in rows],
                                              dtype=bias.dtype)
        return w, b
