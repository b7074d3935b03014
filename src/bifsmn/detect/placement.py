"""Where the clips of a synthetic evaluation stream go: one seeded rule for audio streams
(:func:`bifsmn.detect.mixing.build_stream`) and fbank40 row streams
(:func:`bifsmn.detect.feature_streams.build_feature_stream`).

Why one function: the two builders must draw the same kind of sequence (a pause uniform in
``gap`` seconds, then a negative-speech clip with probability ``negative_fraction`` when there
are any, else a keyword with probability ``keyword_fraction``, else an unknown word), and a
stream is identified by its seed in committed results, so the order of the random draws is part
of the contract. Kept here once, the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

import numpy as np

T = TypeVar("T")
Pool = Literal["negative", "keyword", "unknown"]


def draw_placements(rng: np.random.Generator, length: int, per_second: float,
                    gap: tuple[float, float], keywords: Sequence[T], unknowns: Sequence[T],
                    keyword_fraction: float, negatives: Sequence[T],
                    negative_fraction: float, size: Callable[[Pool, T], int],
                    ) -> list[tuple[int, Pool, T]]:
    """``(start, pool, item)`` of each clip that fits in ``length`` units, in stream order.

    ``per_second``: units per second (samples, or feature rows); ``size(pool, item)``: the
    item's length in units. Draws stop at the first clip that would run past ``length``.
    Clips are drawn with replacement. Each step draws, in this order: the pause, then (only if
    ``negatives``) whether the clip is negative speech and which, else (only if ``unknowns``)
    whether it is a keyword, then which clip of its pool."""
    out: list[tuple[int, Pool, T]] = []
    pos = 0
    while True:
        pos += int(round(rng.uniform(*gap) * per_second))
        pool: Pool
        if negatives and rng.random() < negative_fraction:
            pool, item = "negative", negatives[int(rng.integers(len(negatives)))]
        else:
            is_kw = not unknowns or rng.random() < keyword_fraction
            items = keywords if is_kw else unknowns
            pool, item = ("keyword" if is_kw else "unknown"), items[int(rng.integers(len(items)))]
        n = size(pool, item)
        if pos + n > length:
            return out
        out.append((pos, pool, item))
        pos += n
