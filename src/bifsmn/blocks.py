"""Thinnable paths, spoken as block counts: the one place that converts and validates them.

A thinnable DFSMN of ``L`` layers can run a subset of its blocks: path ``p`` runs block ``j``
iff ``(j + 1) % 2**p == 0``, i.e. ``L >> p`` blocks (8 / 4 / 2 / 1 for the paper's 8 layers).
Users, configs, checkpoints, metric names and ``.bkws`` files (format version 3) name a path by
its **block count**; the path *index* ``p`` exists only inside the model (which BatchNorm set a
block uses) and in old files and configs, which are converted here.

Why one owner: the same conversion used to be written in a dozen places (and in C++ as
``8 >> p``, which is wrong for any layer count but 8), so each could disagree on what a valid
value is and raise a different error for a missing path.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

from bifsmn.errors import BifsmnError, MissingPath

#: the paper's depth; the default wherever the layer count is not known
DEFAULT_LAYERS = 8
#: at most four path sets (8/4/2/1 blocks of 8 layers): the model's ``num_paths`` cap
MAX_PATHS = 4


def counts(num_layers: int = DEFAULT_LAYERS, num_paths: int = MAX_PATHS) -> list[int]:
    """The block counts a model of ``num_layers`` layers with ``num_paths`` path sets offers,
    most blocks first (a path that would run no block does not exist)."""
    return [num_layers >> p for p in range(min(num_paths, MAX_PATHS)) if num_layers >> p >= 1]


def is_boolean(value: object) -> bool:
    """A Python, numpy or torch boolean: never a count or a number here (``True`` is not 1
    block, nor a threshold of 1.0)."""
    return isinstance(value, bool) or str(getattr(value, "dtype", "")) in ("bool", "torch.bool")


def _as_int(value: object) -> int | None:
    """``value`` as an int when it is a whole-number type (a Python or numpy integer, as a
    count read from an array is), else None; booleans are refused (:func:`is_boolean`)."""
    if is_boolean(value):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def to_index(blocks: int, num_layers: int = DEFAULT_LAYERS) -> int:
    """Path index of a block count (``8 -> 0, 4 -> 1, 2 -> 2, 1 -> 3`` for 8 layers).

    Raises :class:`BifsmnError` for a count no path of any model of this depth runs."""
    valid = counts(num_layers)
    n = _as_int(blocks)
    if n is None or n not in valid:
        raise BifsmnError(f"blocks must be one of {', '.join(map(str, valid))}, not {blocks!r}")
    return valid.index(n)


def from_index(path: int, num_layers: int = DEFAULT_LAYERS) -> int:
    """Block count of path index ``path`` (the inverse of :func:`to_index`)."""
    if not 0 <= path < MAX_PATHS or num_layers >> path < 1:
        raise BifsmnError(f"path index {path} does not exist for {num_layers} layers")
    return num_layers >> path


def layers_of(blocks: int, num_layers: int = DEFAULT_LAYERS) -> list[int]:
    """Indices of the layers (blocks) that the path of ``blocks`` blocks runs, in order."""
    step = 2 ** to_index(blocks, num_layers)
    return [j for j in range(num_layers) if (j + 1) % step == 0]


def layers_of_index(path: int, num_layers: int = DEFAULT_LAYERS) -> list[int]:
    """As :func:`layers_of`, by path index (the model's and the file's internal name)."""
    return [j for j in range(num_layers) if (j + 1) % (2**path) == 0]


def parse(value: object, num_layers: int = DEFAULT_LAYERS) -> int:
    """A user's block count (int or text such as ``"4"``), validated."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    return from_index(to_index(value, num_layers), num_layers)  # type: ignore[arg-type]


def check_count(blocks: object) -> int:
    """A block count that can name a path of some model: a positive whole number.

    Which counts a model offers (8 / 4 / 2 / 1 for the paper's 8 layers, 12 / 6 / 3 / 1 for a
    12-layer model) is checked against its own depth when it is loaded (:func:`require`, the
    engine), so that models of any depth the trainer builds can be run."""
    n = _as_int(blocks)
    if n is None or n < 1:
        raise BifsmnError(f"blocks must be a positive whole number, not {blocks!r}")
    return n


def cli_count(text: str) -> int:
    """``--blocks`` on the command line: :func:`check_count` of the text, as argparse's error."""
    import argparse

    value = text.strip()
    try:
        return check_count(int(value) if value.isdigit() else text)
    except BifsmnError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_many(values: Iterable[object] | object, num_layers: int = DEFAULT_LAYERS) -> list[int]:
    """A list of block counts (one value or several), validated, in the given order."""
    items = values if isinstance(values, Iterable) and not isinstance(values, str) \
        else [values]  # one value (4, "4", or a wrong one such as 4.0, which parse names)
    out = [parse(v, num_layers) for v in items]
    for v in out:
        if out.count(v) > 1:
            raise BifsmnError(f"blocks repeat a value: {out} names {v} twice")
    return out


def require(blocks: int, num_layers: int, num_paths: int, what: str = "the model") -> int:
    """Path index of ``blocks`` for a model that has ``num_paths`` path sets; a valid count
    the model lacks raises :class:`MissingPath` (callers that evaluate several paths skip it)."""
    path = to_index(blocks, num_layers)
    if path >= num_paths:
        have = counts(num_layers, num_paths)
        raise MissingPath(f"{blocks} blocks not available: {what} has "
                          f"{num_paths} thinnable path set{'s' * (num_paths != 1)} "
                          f"(blocks {', '.join(map(str, have))})")
    return path


def from_legacy_indices(values: Iterable[int], num_layers: int = DEFAULT_LAYERS) -> list[int]:
    """Block counts of old path indices (``train.paths: [0, 1, 2, 3]`` in configs and
    checkpoints written before block counts, ``.bkws`` format versions 1-2)."""
    out = []
    for p in values:
        if isinstance(p, bool) or not isinstance(p, int):
            raise BifsmnError(f"path index must be an integer, not {p!r}")
        out.append(from_index(p, num_layers))
    return out
