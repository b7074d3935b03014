"""Two-stage detection: the binary model runs on every window and wakes a verifier.

Why: the bundled 1-bit model's misses and false alarms at low false-alarm rates are confident
confusions between short keywords (docs/results/fa-anatomy) that no rule on its own posteriors
removes; a larger network (the full-precision teacher) separates them, but costs ~6x more per
window. As in production keyword spotters, the cheap model stays always on and the verifier
runs only after it: on the bundle's calibration hours the cascade kept almost all of the
teacher's gain with the teacher on 27 % of the windows the gate lets through
(docs/results/cascade/README.md).

Rule (causal, per stream): a window *wakes* the verifier when the first stage's largest keyword
posterior reaches ``wake``; the verifier scores every window (that the gate lets through) ending
less than ``hold_ms`` after the latest waking window's end, and its posteriors replace the first
stage's there; every other window gets the silence posterior, so only verified windows can fire.
The thresholds of a cascade are therefore its own: ``bifsmn calibrate --verifier`` stores them
with the verifier's name, SHA-256, ``wake`` and ``hold_ms`` beside the model's own points (one
record per verifier file); a detector given a verifier runs with the record of that file, and
refuses a verifier the model's points were not calibrated with. ``"bundled"`` names the verifier
packaged with the bundled model, which stores points calibrated with it.

A verifier may be several networks whose logits are averaged (:mod:`bifsmn.detect.ensemble`):
``A.bkws+B.bkws`` on the command line, a list of files in Python. Its record names each member
file with its SHA-256 and binds the points to the hash of the ordered list of those hashes, so
the points hold only for that set of files. Since session 60 the bundled verifier is such a
pair (``verifier.bkws`` and ``verifier2.bkws``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bifsmn.data.labels import NON_KEYWORDS
from bifsmn.detect.model_files import packaged
from bifsmn.errors import BifsmnError

if TYPE_CHECKING:
    from collections.abc import Callable

    from bifsmn.detect.scorer import Scorer

DEFAULT_WAKE = 0.9
DEFAULT_HOLD_MS = 1000.0
BUNDLED = "bundled"  # --verifier bundled: the packaged verifier
AUTO = "auto"  # the detector's default: the bundled verifier with the bundled model, else none
NONE = "none"  # --verifier none: the model alone
BUNDLED_VERIFIER = ("models_data", "verifier.bkws")  # the bundled verifier's first member
BUNDLED_VERIFIER_MEMBERS = (BUNDLED_VERIFIER, ("models_data", "verifier2.bkws"))
ENSEMBLE_SEP = "+"  # --verifier A.bkws+B.bkws: the mean of the two networks' logits


def check_wake_hold(wake: float | None, hold_ms: float | None) -> None:
    """A verifier's wake threshold and hold, refused in one line (``None``: the record's or
    default value). eval-stream and calibrate call it before building minutes of streams,
    which they did before loading the verifier that checked them."""
    if wake is not None and not 0.0 <= wake <= 1.0:  # NaN fails both comparisons
        raise BifsmnError(f"wake threshold must be in [0, 1] (got {wake})")
    if hold_ms is not None and not (hold_ms > 0 and math.isfinite(hold_ms)):
        raise BifsmnError(f"verifier hold must be a positive number of ms (got {hold_ms})")


@dataclass(frozen=True)
class Verifier:
    """The second stage: its scorer (all blocks of its file), the wake threshold on the first
    stage's keyword posteriors and how long one wake-up lasts."""

    scorer: Scorer
    wake: float = DEFAULT_WAKE
    hold_ms: float = DEFAULT_HOLD_MS
    name: str = ""
    sha256: str = ""
    #: an ensemble's member files ``({"name", "sha256"}, ...)``; empty for one network
    members: tuple[dict, ...] = ()

    def __post_init__(self) -> None:
        check_wake_hold(self.wake, self.hold_ms)

    @classmethod
    def load(cls, path: str | Path | Sequence[str | Path], wake: float = DEFAULT_WAKE,
             hold_ms: float = DEFAULT_HOLD_MS) -> Verifier:
        """A verifier from a file, ``"bundled"``, ``"A+B"`` or a list of files (an ensemble:
        :func:`verifier_files`)."""
        from bifsmn.data.download import sha256_file
        from bifsmn.detect.scorer import load_scorer

        files = verifier_files(path)
        for f in files:
            if not f.is_file():
                raise BifsmnError("verifier model file does not exist", f)
        # all of each network's blocks (8 for every verifier here; a deeper or shallower one
        # runs its own full depth)
        scorers = [load_scorer(f, None) for f in files]
        hashes = [sha256_file(f) for f in files]
        sha = bound_sha256(hashes)
        if len(files) == 1:
            return cls(scorers[0], float(wake), float(hold_ms), files[0].name, sha)
        from bifsmn.detect.ensemble import MeanLogits

        ens = MeanLogits(scorers)
        members = tuple({"name": f.name, "sha256": h} for f, h in zip(files, hashes, strict=True))
        return cls(ens, float(wake), float(hold_ms), ens.name, sha, members)

    def record(self) -> dict:
        """What an operating-point record stores about the verifier it was calibrated with."""
        rec = {"name": self.name, "sha256": self.sha256, "wake": self.wake,
               "hold_ms": self.hold_ms}
        if self.members:
            from bifsmn.detect.ensemble import COMBINE

            rec["combine"] = COMBINE
            rec["members"] = [dict(m) for m in self.members]
        return rec

    def hold_samples(self, sample_rate: int) -> int:
        return max(1, round(self.hold_ms * sample_rate / 1000.0))


_NO_BUNDLED = "pass --verifier FILE, or --verifier none to run the model alone"


def bundled_verifier() -> Path:
    """The bundled verifier's first network (the FP teacher bundled alone in sessions 27-59), or
    a one-line error if this installation has none."""
    return packaged(BUNDLED_VERIFIER, "verifier", _NO_BUNDLED)


def bundled_verifiers() -> list[Path]:
    """The networks of the verifier shipped inside the package (the two FP teachers whose mean
    logits the bundled model's cascade points were calibrated with), or a one-line error naming
    the first one this installation lacks."""
    first = bundled_verifier()
    return [first] + [packaged(m, "verifier", _NO_BUNDLED) for m in BUNDLED_VERIFIER_MEMBERS
                      if m != BUNDLED_VERIFIER]


def bound_sha256(hashes: Sequence[str]) -> str:
    """The SHA-256 a verifier's records are bound to, from its member files' hashes: one
    file's own, or :func:`ensemble_sha256` of several (the one rule :meth:`Verifier.load` and
    :func:`verifier_sha256` share)."""
    return hashes[0] if len(hashes) == 1 else ensemble_sha256(hashes)


def ensemble_sha256(hashes: Sequence[str]) -> str:
    """The hash an ensemble's points are bound to: of its members' SHA-256s in order (the
    same files in another order compute the same mean up to float rounding, but are another
    record), with the combination rule, so it can never equal one file's hash."""
    from bifsmn.detect.ensemble import COMBINE

    text = COMBINE + ":" + ENSEMBLE_SEP.join(hashes)
    return hashlib.sha256(text.encode()).hexdigest()


def default_verifier(verifier: str | Path | Sequence[str | Path] | Verifier | None, model: object
                     ) -> str | Path | Sequence[str | Path] | Verifier | None:
    """What ``verifier`` means for a detector of ``model`` (None: the bundled model).

    ``"auto"`` (the default of :class:`~bifsmn.detect.detector.Detector` and ``bifsmn detect``)
    is the bundled verifier when the model is the bundled one, else no verifier; ``"none"`` is
    no verifier. Why the bundled model runs as a cascade by default: at the points it stores
    for it, the two-stage detector misses about a third as many held-out keywords as the 1-bit
    model alone at the same false-alarm rate (README, "Keyword detection at scale"), for a
    verifier that runs only on the windows the 1-bit model wakes. A model of the user's own
    has no cascade points until ``bifsmn calibrate --verifier``, so it runs alone."""
    if isinstance(verifier, str) and verifier == AUTO:
        return BUNDLED if model is None else None
    if isinstance(verifier, str) and verifier == NONE:
        return None
    return verifier


def verifier_files(verifier: str | Path | Sequence[str | Path]) -> list[Path]:
    """The network files of a verifier argument: ``"bundled"`` -> the packaged ones; a list ->
    its files; ``"A+B"`` -> A and B (unless a file of that very name exists); else one file.
    One-line error for an empty member (``"A+"``) or a file listed twice."""
    if isinstance(verifier, str | Path):
        text = str(verifier)
        if text == BUNDLED:
            return bundled_verifiers()
        if ENSEMBLE_SEP not in text or Path(text).exists():
            return [Path(text)]
        parts: Sequence[str | Path] = text.split(ENSEMBLE_SEP)
    else:
        parts = list(verifier)
    if not parts or any(not str(p) for p in parts):
        raise BifsmnError(f"verifier {verifier!r}: an empty member (give FILE or "
                          f"FILE{ENSEMBLE_SEP}FILE)")
    files = [Path(p) for p in parts]
    if len({f.resolve() for f in files}) < len(files):
        raise BifsmnError(f"verifier {verifier!r}: a file listed twice")
    return files


def resolve_verifier(verifier: str | Path | Sequence[str | Path] | Verifier | None,
                     ops: dict | None,
                     wake: float | None, hold_ms: float | None, explicit_threshold: bool,
                     model_name: str = "model", cascades: list[dict] | None = None,
                     loader: Callable[[str | Path | Sequence[str | Path]], Verifier] | None = None,
                     ) -> tuple[Verifier | None, dict | None]:
    """The verifier a detector runs and the operating-point record it runs with.

    ``ops`` is the model's own record; ``cascades`` the records it stores for cascades (one per
    verifier, :data:`bifsmn.detect.operating.CASCADE_KEY`). A verifier runs with the record
    calibrated with it (same SHA-256), whose ``wake`` and ``hold_ms`` become the defaults;
    without a verifier the model's own record is used. Refused, unless thresholds are given
    explicitly (the thresholds would be another system's): a verifier no record was calibrated
    with while the model has records, and no verifier when the model's own record was
    calibrated with one (a copy written for one cascade). ``loader``: how a verifier file is
    loaded (default :meth:`Verifier.load`; ``eval-stream`` passes a cached one so that a verifier
    shared by several models and paths is read and hashed once)."""
    stored = (ops or {}).get("verifier")
    if verifier is None:
        if stored and not explicit_threshold:
            raise BifsmnError(
                f"{model_name}: its operating points were calibrated with verifier "
                f"{stored.get('name')!r}: pass it (verifier=, --verifier FILE) or give a "
                "threshold (threshold=, --threshold)")
        return None, ops
    given = isinstance(verifier, Verifier)
    if isinstance(verifier, Verifier):
        v = verifier
    else:
        if not isinstance(verifier, str | Path):
            verifier = tuple(verifier)  # a list of files: hashable for a caching loader
        v = (loader or Verifier.load)(verifier)
    # (stored implies ops: a record that names its verifier)
    candidates: list[dict] = ([ops] if ops and stored else []) + list(cascades or [])
    match = next((r for r in candidates if not v.sha256 or not r["verifier"].get("sha256")
                  or r["verifier"]["sha256"] == v.sha256), None)
    if match is not None or explicit_threshold or not (ops or candidates):
        rule = (match or {}).get("verifier") or {}
        if not given or wake is not None or hold_ms is not None:
            # a Verifier object keeps its own rule where none is given; a file takes the record's
            base_wake = v.wake if given else rule.get("wake", DEFAULT_WAKE)
            base_hold = v.hold_ms if given else rule.get("hold_ms", DEFAULT_HOLD_MS)
            v = replace(v, wake=float(wake if wake is not None else base_wake),
                        hold_ms=float(hold_ms if hold_ms is not None else base_hold))
        return v, (match if match is not None else ops)
    if candidates:
        bundled = _bundled_sha256()
        names = ", ".join(sorted({_stored_name(r["verifier"], bundled) for r in candidates}))
        raise BifsmnError(f"verifier {v.name}: not the file {model_name}'s operating points "
                          f"were calibrated with ({names}; SHA-256 differs): calibrate "
                          "with it or give a threshold (threshold=, --threshold)")
    raise BifsmnError(f"{model_name}: its operating points were calibrated without a "
                      "verifier; calibrate with --verifier first or give a threshold "
                      "(threshold=, --threshold)")


def verifier_sha256(verifier: str | Path | Sequence[str | Path]) -> str:
    """The SHA-256 a verifier argument's records are bound to (a file's, or
    :func:`ensemble_sha256` of several), without loading the networks."""
    from bifsmn.data.download import sha256_file

    return bound_sha256([sha256_file(f) for f in verifier_files(verifier)])


def _bundled_sha256() -> str:
    """The packaged verifier's SHA-256 (of both networks), "" where this install has none."""
    try:
        return verifier_sha256(BUNDLED)
    except BifsmnError:
        return ""


def _stored_name(record: dict, bundled_sha256: str) -> str:
    """A record's verifier as a user can pass it: the file name it was calibrated under, and
    where that file is the packaged verifier (same SHA-256), ``--verifier bundled``, since
    the name is that of the file calibration read, which a user may never have seen."""
    name = str(record.get("name"))
    if bundled_sha256 and record.get("sha256") == bundled_sha256:
        return f"{name}, the bundled verifier: --verifier {BUNDLED}"
    return name


def check_compatible(first: Scorer, verifier: Verifier) -> None:
    """Both stages must see the same windows and name the same classes."""
    a, b = first.feature_config, verifier.scorer.feature_config
    if (a.sample_rate, a.clip_samples) != (b.sample_rate, b.clip_samples):
        raise BifsmnError(f"verifier {verifier.name}: windows of {b.clip_samples} samples at "
                          f"{b.sample_rate} Hz, the model's are {a.clip_samples} at "
                          f"{a.sample_rate} Hz")
    if list(first.labels) != list(verifier.scorer.labels):
        raise BifsmnError(f"verifier {verifier.name}: labels differ from the model's")


def wake_mask(kw_max: np.ndarray, ends: np.ndarray | None, hold: int,
              last_wake: int | None, wake: float) -> tuple[np.ndarray, int | None]:
    """Which windows the verifier scores, and the latest waking window's end afterwards.

    Window ``i`` is verified if some window ``j <= i`` of the stream (this call or an earlier
    one: ``last_wake``) had ``kw_max[j] >= wake`` and ``ends[i] - ends[j] < hold``. Without
    window positions (``ends`` None) each window stands alone: verified iff it wakes."""
    woke = np.asarray(kw_max) >= wake
    if ends is None:
        return woke.copy(), last_wake
    ends = np.asarray(ends, np.int64)
    out = np.zeros(len(woke), bool)
    for i in range(len(woke)):
        if woke[i]:
            last_wake = int(ends[i])
        out[i] = last_wake is not None and int(ends[i]) - last_wake < hold
    return out, last_wake


def keyword_columns(labels: list[str]) -> list[int]:
    return [i for i, k in enumerate(labels) if k not in NON_KEYWORDS]
