"""Reusing a finished training run instead of training it again.

``bifsmn compare`` and ``bifsmn quickstart`` train several runs into fixed folders and are rerun
to resume: a run folder is reused only when it holds *the run asked for*: the same config (apart
from how it was executed: threads, device, compilation, plot interval, cache folder, which do
not change what is learnt on the CPU), the same teacher and initial weights (by content, not by
path: a checkpoint replaced under the same name is another teacher), and a ``summary.json``
written at the end of that many epochs by this code's training rules (``training_rules``: a
change that alters what training computes, such as session 46's gradients, retires older
runs). A run of the same config that stopped early is resumed;
a folder holding anything else is moved aside to ``NAME.stale`` (never deleted), under the
folder's lock, so a run another process is writing is never moved; a ``NAME.stale`` that holds
the run asked for is exchanged back.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from bifsmn.data.download import sha256_file
from bifsmn.errors import BifsmnError, TrainingDiverged
from bifsmn.outputs import atomic_write_text
from bifsmn.train.config import Config, absolute_paths
from bifsmn.train.lock import RunLock
from bifsmn.train.runner import run_training
from bifsmn.train.trainer import TRAINING_RULES

#: settings that change how a run executes, not what it learns (CPU training is exact for any
#: thread count; a resume may change them too)
EXECUTION_KEYS = (("train", "threads"), ("train", "device"), ("train", "compile"),
                  ("train", "plot_every"), ("data", "cache_dir"))
#: the run folder's record of its input checkpoints' contents
INPUTS_NAME = "inputs.json"


def _comparable(config: dict) -> dict:
    out = copy.deepcopy(config)
    for section, key in EXECUTION_KEYS:
        if isinstance(out.get(section), dict):
            out[section].pop(key, None)
    return out


def same_config(run: Path, cfg: Config) -> bool:
    """True if ``run/config.yaml`` describes the run ``cfg`` asks for (execution settings
    aside)."""
    try:
        stored = yaml.safe_load((run / "config.yaml").read_text())
        wanted = yaml.safe_load(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(stored, dict) and _comparable(stored) == _comparable(wanted)


def _sha256(path: str) -> str | None:
    try:
        return sha256_file(Path(path))
    except OSError:
        return None


def input_digests(cfg: Config) -> dict[str, str | None]:
    """sha256 of the checkpoints the run starts from or distils from (by config key)."""
    return {key: _sha256(path) for key, path in (("model.init", cfg.model.init),
                                                 ("distill.teacher", cfg.distill.teacher))
            if path}


def same_inputs(run: Path, cfg: Config) -> bool:
    """True unless ``run`` recorded other input checkpoints' contents (a run of an older
    version, with no record, counts as the same: it gets one the first time it is reused)."""
    try:
        stored = json.loads((run / INPUTS_NAME).read_text())
    except (OSError, ValueError):
        return True
    return stored == input_digests(cfg)


def _record_inputs(run: Path, cfg: Config) -> None:
    if run.is_dir():
        atomic_write_text(run / INPUTS_NAME, json.dumps(input_digests(cfg), indent=2) + "\n")


def _summary(run: Path) -> dict | None:
    """``run/summary.json`` as a dict, None if it is missing or unreadable."""
    try:
        summary = json.loads((run / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def current_rules(run: Path) -> bool:
    """False if ``run`` finished under other training rules than this code's (a summary from
    before the revisions were recorded counts as revision 1; a partial run, with no summary,
    is resumed as it is)."""
    summary = _summary(run)
    return summary is None or summary.get("training_rules", 1) == TRAINING_RULES


def finished(run: Path, cfg: Config) -> bool:
    """True if ``run`` holds a summary written at the end of ``cfg``'s epoch count."""
    summary = _summary(run)
    return summary is not None and summary.get("epochs") == cfg.train.epochs


def move_aside(run: Path) -> Path:
    """Rename ``run`` to ``run.stale`` while holding its lock (one line if another process
    is writing it, or if an earlier ``.stale`` is in the way)."""
    stale = run.with_name(run.name + ".stale")
    if stale.exists():
        raise BifsmnError(f"{run} holds a run with another config and {stale} exists; "
                          "remove one of them")
    lock = RunLock(run)
    lock.acquire(create=False)
    try:
        run.rename(stale)
    finally:
        lock.release()
    return stale


def _swap_back(run: Path, cfg: Config) -> bool:
    """If ``run.stale`` holds the run ``cfg`` asks for (moved aside by an earlier call with
    other settings), exchange it with ``run`` (both locked) and return True: asking for A,
    then B, then A again reuses A instead of refusing or training it a third time."""
    stale = run.with_name(run.name + ".stale")
    if not (stale.is_dir() and (run / "config.yaml").is_file()
            and same_config(stale, cfg) and same_inputs(stale, cfg) and current_rules(stale)):
        return False
    swap = run.with_name(run.name + ".swap")
    if swap.exists():
        raise BifsmnError(f"{swap} is left from an interrupted exchange of {run} and {stale}: "
                          "check and remove it")
    locks = [RunLock(run), RunLock(stale)]
    for lock in locks:
        lock.acquire(create=False)
    try:
        run.rename(swap)
        stale.rename(run)
        swap.rename(stale)
    finally:
        for lock in locks:
            lock.release()
    return True


def train_or_reuse_noting(cfg: Config, run: Path) -> tuple[str, Path | None]:
    """:func:`train_or_reuse`, plus where an earlier run of other settings was moved (None:
    nothing moved), for callers that tell the user."""
    stale = run.with_name(run.name + ".stale")
    had_stale = stale.exists()
    how = train_or_reuse(cfg, run)
    return how, stale if stale.exists() and not had_stale else None


def train_or_reuse(cfg: Config, run: Path) -> str:
    """Train ``cfg`` in ``run`` unless that finished run is there; resume if it is partial.

    Returns ``reused``, ``resumed``, ``trained`` or ``diverged`` (a run that stopped at a
    non-finite loss; reused as such on the next call). ``cfg``'s paths are made absolute first
    (as training stores them), in place."""
    absolute_paths(cfg)
    same = same_config(run, cfg) and same_inputs(run, cfg) and current_rules(run)
    if not same and _swap_back(run, cfg):
        same = True
    if same and finished(run, cfg):
        _record_inputs(run, cfg)
        return "reused"
    try:
        if same and (run / "config.yaml").is_file():
            run_training(cfg, run, resume=True)  # resumes from last.pt, or starts afresh
            how = "resumed"
        else:
            if (run / "config.yaml").is_file():  # another run trained here: keep it aside
                move_aside(run)
            run_training(cfg, run)
            how = "trained"
    except TrainingDiverged:
        how = "diverged"
    _record_inputs(run, cfg)
    return how
