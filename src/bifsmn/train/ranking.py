"""How epochs are ranked for ``best.pt``: lexicographic keys compared with a tolerance, and
stored accuracies read back as the exact ratios they approximate.
"""

from __future__ import annotations

import math
from typing import TypeVar, overload

#: keys closer than this rank as equal (the earlier epoch wins): epochs trained before
#: session 69 recorded float32 means, which differ from the exact ratios of later epochs by
#: ~1e-8 for the same counts (balanced accuracy cannot be rebuilt from one count); distinct
#: accuracies of any realistic validation split differ by far more
RANK_TOLERANCE = 1e-6

_T = TypeVar("_T")


def beats(key: tuple[float, ...], best: tuple[float, ...]) -> bool:
    """``key > best`` lexicographically, values within :data:`RANK_TOLERANCE` being equal."""
    for a, b in zip(key, best, strict=True):
        if a > b + RANK_TOLERANCE:
            return True
        if a < b - RANK_TOLERANCE:
            return False
    return False


@overload
def exact_rate(value: float, n: int) -> float: ...
@overload
def exact_rate(value: _T, n: int) -> _T: ...
def exact_rate(value: object, n: int) -> object:
    """``value`` as the exact ratio k / n it approximates (a float32 mean of n correct/wrong
    flags, widened: 0.8999999761581421 for 900 of 1000), else unchanged."""
    if not isinstance(value, float) or not math.isfinite(value) or n < 1:
        return value
    k = round(value * n)
    return k / n if abs(value * n - k) < 1e-3 else value
