"""Several networks scored as one: the mean of their logits (a two-network verifier).

Why: no single full-precision verifier trained here since session 27 lowered the two-stage
detector's calibration miss by the 2 points a change must gain (docs/results/verifier-long), but
the bundled verifier and the 80-epoch scratch verifier averaged did: 17.5 % against 21.8 % at
1 FA/h, 8 blocks (docs/results/verifier-ensemble, session 59's probe). Averaging logits is a
geometric mean of the members' posteriors; it needs members that read the same features and
name the same classes, and it costs one network per member on each verified window.

The members share one front end: features come from the first member (an fbank40 ``.bkws``
computes them in the engine, once per window, with the stream's frame cache where the streamer
has one), and each member's network runs on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np

from bifsmn.errors import BifsmnError

if TYPE_CHECKING:
    from bifsmn.detect.scorer import Scorer

#: how the members' outputs are combined (stored in a cascade record's ``verifier``)
COMBINE = "mean_logits"


class MeanLogits:
    """A :class:`~bifsmn.detect.scorer.Scorer` whose logits are its members' mean.

    Members must have the same front end (``feature_config``) and labels: each is run on the
    same feature tensor, so a member with other features would score inputs it was never
    trained on (refused in one line naming it)."""

    def __init__(self, members: Sequence[Scorer]) -> None:
        members = list(members)
        if len(members) < 2:
            raise BifsmnError(f"an ensemble needs at least two members (got {len(members)})")
        first = members[0]
        for m in members[1:]:
            if m.feature_config.to_dict() != first.feature_config.to_dict():
                raise BifsmnError(f"{m.name}: its front end differs from {first.name}'s "
                                  "(ensemble members must read the same features)")
            if list(m.labels) != list(first.labels):
                raise BifsmnError(f"{m.name}: its labels differ from {first.name}'s")
        self.members = members
        self.labels = list(first.labels)
        self.feature_config = first.feature_config
        self.name = "+".join(m.name for m in members)
        self.batch_invariant = all(getattr(m, "batch_invariant", False) for m in members)
        custom = getattr(first, "features", None)
        if callable(custom):
            self.features = custom
        make_stream = getattr(first, "stream_frontend", None)
        if callable(make_stream):
            self.stream_frontend = self._stream_frontend_of(make_stream)

    @staticmethod
    def _stream_frontend_of(make_stream: Callable[[], Callable]) -> Callable[[], Callable]:
        """The first member's stream front end (its frame cache) without its fused
        features-and-network call, which would run that member alone."""

        def make() -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
            inner = make_stream()

            def features(windows: np.ndarray, starts: np.ndarray) -> np.ndarray:
                return inner(windows, starts)

            if hasattr(inner, "cache"):
                features.cache = inner.cache  # type: ignore[attr-defined]
            return features

        return make

    def scores(self, features: np.ndarray) -> np.ndarray:
        outs = [np.asarray(m.scores(features), np.float32) for m in self.members]
        return cast(np.ndarray, np.mean(outs, axis=0, dtype=np.float32))  # an array: axis=0
