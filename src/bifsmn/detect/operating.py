"""Operating points stored with a model: per-keyword thresholds for a few false-alarm rates.

``bifsmn calibrate`` (:mod:`bifsmn.detect.calibrate`) measures them; this module reads, writes
and picks them, and has no heavy imports. The record (a plain JSON-able dict) lives under the key
``operating_points`` of a ``.pt`` checkpoint and of the ``meta.json`` record of a ``.bkws`` file
(so the binary format does not change)::

    {"format": "bifsmn-operating-points", "version": 1, "default_fa_per_hour": 1.0,
     "refractory_ms": 1000.0, "hop_ms": 100.0, "gate": {...}, "data": {...description...},
     "paths": {"8": [{"fa_per_hour": 0.5, "smooth_ms": 500.0, "thresholds": {"yes": 0.97, ...},
                      "calibration": {"hits": ..., "keywords": ..., "false_alarms": ...,
                                      "hours": ..., "miss_rate": ..., "reached": true}}, ...]}}

A cascade's record (``bifsmn calibrate --verifier``) also holds ``"verifier": {"name": ...,
"sha256": ..., "wake": 0.9, "hold_ms": 1000.0}`` (:mod:`bifsmn.detect.cascade`). It is stored
beside the model's own record, in the list under ``cascade_operating_points`` (one record per
verifier file, matched by SHA-256), so one model file carries its points alone and with each
verifier it was calibrated with. (Files written by session 14's ``calibrate --verifier --out``
hold a cascade's record as their own record; they still load.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from bifsmn.detect.model_files import sniff
from bifsmn.engine.format import encode, file_version, make_record, read_file
from bifsmn.errors import BifsmnError
from bifsmn.outputs import atomic_write_bytes

FORMAT = "bifsmn-operating-points"
VERSION = 1
OWN_KEY = "operating_points"
CASCADE_KEY = "cascade_operating_points"
DEFAULT_FA_PER_HOUR = 1.0
#: the smoothing of a point that names none, and of a detector without points
DEFAULT_SMOOTH_MS = 500.0


def check(ops: dict, where: str | Path = "") -> dict:
    """Validate a record (one-line error on anything malformed)."""
    if not isinstance(ops, dict) or ops.get("format") != FORMAT:
        raise BifsmnError("operating points: not a bifsmn-operating-points record", where)
    if ops.get("version") != VERSION:
        raise BifsmnError(f"operating points version {ops.get('version')} not supported", where)
    paths = ops.get("paths")
    if not isinstance(paths, dict):
        raise BifsmnError("operating points: no 'paths'", where)
    ver = ops.get("verifier")
    if ver is not None and not (
            isinstance(ver, dict) and isinstance(ver.get("name"), str)
            and isinstance(ver.get("sha256"), str)
            and isinstance(ver.get("wake"), int | float) and 0.0 <= ver["wake"] <= 1.0
            and isinstance(ver.get("hold_ms"), int | float) and ver["hold_ms"] > 0):
        raise BifsmnError("operating points: malformed 'verifier' (name, sha256, wake in "
                          "[0, 1], hold_ms > 0)", where)
    for b, pts in paths.items():
        for p in pts:
            th = p.get("thresholds")
            if not isinstance(th, dict) or not all(
                    isinstance(v, int | float) and 0.0 <= v <= 1.0 for v in th.values()):
                raise BifsmnError(f"operating points: bad thresholds for {b} blocks", where)
            if not isinstance(p.get("fa_per_hour"), int | float):
                raise BifsmnError("operating points: point without fa_per_hour", where)
    return ops


def stored_points(ops: dict | None, blocks: int) -> list[dict]:
    """The stored points of one thinnable path (empty if none)."""
    if not ops:
        return []
    return list(ops.get("paths", {}).get(str(int(blocks)), []))


def pick(ops: dict | None, blocks: int, fa_per_hour: float | None = None) -> dict | None:
    """The point for ``fa_per_hour`` (default: the record's default, 1 FA/h); None if the model
    has no points for this path and none was asked for; an error if an absent rate was asked
    for."""
    pts = stored_points(ops, blocks)
    if not pts:
        if fa_per_hour is not None:
            raise BifsmnError(f"this model has no stored operating points for {blocks} blocks "
                              "(run `bifsmn calibrate`); give a threshold instead (threshold=, "
                              "--threshold)")
        return None
    want = float(fa_per_hour if fa_per_hour is not None
                 else (ops or {}).get("default_fa_per_hour", DEFAULT_FA_PER_HOUR))
    for p in pts:
        if math.isclose(float(p["fa_per_hour"]), want, rel_tol=1e-6):
            return p
    have = ", ".join(f"{p['fa_per_hour']:g}" for p in pts)
    if fa_per_hour is None:  # the default rate was not calibrated: take the nearest stored one
        return min(pts, key=lambda p: abs(math.log(float(p["fa_per_hour"]) / want)))
    raise BifsmnError(f"no stored operating point at {want:g} FA/h for {blocks} blocks "
                      f"(stored: {have})")


def describe(point: dict | None, smooth_ms: float | None = None) -> str:
    """One short line for users: which operating point is in use and what it cost on its
    calibration streams (what those streams were: :func:`calibration_data`). ``smooth_ms``:
    the smoothing in use where the caller overrides the point's (both are named then)."""
    if point is None:
        return "no stored operating points: default threshold"
    cal = point.get("calibration", {})
    extra = ""
    if cal:
        extra = (f"; calibration: miss {100 * cal.get('miss_rate', float('nan')):.1f}% at "
                 f"{cal.get('false_alarms', '?')} FA in {cal.get('hours', 0):.2f} h")
        if cal.get("reached") is False:  # older records lack the key: no claim either way
            extra += (f"; NOT certified: too little calibration audio to show <= "
                      f"{point['fa_per_hour']:g} FA/h (calibrate on more hours)")
    stored = float(point.get("smooth_ms", DEFAULT_SMOOTH_MS))
    smoothing = (f"{stored:g} ms" if smooth_ms is None or float(smooth_ms) == stored
                 else f"{float(smooth_ms):g} ms, calibrated at {stored:g} ms")
    return f"operating point {point['fa_per_hour']:g} FA/h (smoothing {smoothing}{extra})"


def calibration_data(ops: dict | None) -> str:
    """The stored description of the streams the operating points were chosen on ("" if the
    record has none). A line of its own: it runs to a few hundred characters (speakers, words,
    negatives, noise, rule), too long to ride on the operating-point line."""
    return str((ops or {}).get("data", {}).get("description", ""))


def stored_setting(ops: dict | None, key: str, given: float | None, default: float,
                   note: Callable[[str], None] | None = None) -> float:
    """A stream setting a record was calibrated with (``hop_ms``, ``refractory_ms``: its false
    alarms were counted at them): ``given`` if not None, else the record's, else ``default``.
    Where a given value differs from the record's, ``note`` (if any) is told that the stored
    rates were measured at another value."""
    stored = (ops or {}).get(key)
    stored = float(stored) if isinstance(stored, int | float) and not isinstance(stored, bool) \
        else None
    if given is None:
        return default if stored is None else stored
    if note is not None and stored is not None and float(given) != stored:
        note(f"the operating points were calibrated with {key.replace('_ms', '')} {stored:g} "
             f"ms; at {float(given):g} ms their false-alarm rates may not hold")
    return float(given)


# ------------------------------------------------------------------ files
def _kind(path: Path) -> str:
    return sniff(path)


def _stored(path: Path) -> dict:
    """The stored-points part of a file: its ``meta.json`` (``.bkws``) or checkpoint dict."""
    if _kind(path) == "bkws":
        recs = read_file(path)
        return json.loads(recs["meta.json"].text()) if "meta.json" in recs else {}
    from bifsmn.train.checkpoint import load_checkpoint  # lazy: torch (see the docstring)

    return load_checkpoint(path)


def read(path: str | Path) -> dict | None:
    """The model's own operating points in a ``.pt`` or ``.bkws`` file (None if none)."""
    path = Path(path)
    ops = _stored(path).get(OWN_KEY)
    return None if ops is None else check(ops, path)


def check_cascades(records: object, where: str | Path = "") -> list[dict]:
    """Validate the list of a model's cascade records (each names its verifier)."""
    if records is None:
        return []
    if not isinstance(records, list):
        raise BifsmnError(f"operating points: {CASCADE_KEY!r} is not a list", where)
    for r in records:
        check(r, where)
        if not r.get("verifier"):
            raise BifsmnError(f"operating points: a record in {CASCADE_KEY!r} names no "
                              "verifier", where)
    return records


def read_cascades(path: str | Path) -> list[dict]:
    """The records calibrated with a verifier that a file stores beside its own."""
    path = Path(path)
    return check_cascades(_stored(path).get(CASCADE_KEY), path)


def _merged(stored: dict, ops: dict, only_cascade: bool = False) -> dict:
    """``stored`` with ``ops`` in its place: the own record, or (a cascade's) the list entry
    of the same verifier file, replaced; ``only_cascade``: every other verifier's too."""
    out = dict(stored)
    ver = ops.get("verifier")
    if ver is None:
        out[OWN_KEY] = ops
        return out
    kept = [r for r in check_cascades(stored.get(CASCADE_KEY))
            if not only_cascade and r["verifier"].get("sha256") != ver.get("sha256")]
    out[CASCADE_KEY] = [*kept, ops]
    return out


def write(path: str | Path, ops: dict, only_cascade: bool = False) -> None:
    """Store ``ops`` in a ``.pt`` (re-saved) or ``.bkws`` (``meta.json`` rewritten) file,
    atomically: a reader sees the old file or the new one, never half of either. Everything else
    in the file is kept byte for byte (``.bkws``: every other record). A record calibrated with
    a verifier goes into the cascade list (replacing that verifier's earlier one), so the
    model's own points stay as they are. ``only_cascade``: the cascade list keeps this record
    alone (a model re-bundled with a new verifier: records of verifiers it no longer ships with
    would otherwise stay beside it)."""
    path = Path(path)
    check(ops, path)
    if _kind(path) == "bkws":
        version = file_version(path)  # kept: a version 2 file's path indices stay indices
        recs = read_file(path)
        meta = json.loads(recs["meta.json"].text()) if "meta.json" in recs else {}
        meta = _merged(meta, ops, only_cascade)
        new = make_record("meta.json", json.dumps(meta, sort_keys=True, default=str))
        records = [new if r.name == "meta.json" else r for r in recs.values()]
        if "meta.json" not in recs:
            records.append(new)
        atomic_write_bytes(path, encode(records, version))
    else:
        from bifsmn.train.checkpoint import load_checkpoint, save_checkpoint  # lazy: torch

        save_checkpoint(path, _merged(load_checkpoint(path), ops, only_cascade))
