"""User-facing errors.

Every problem a user can cause (bad data, bad config, bad model file) is raised as a
:class:`BifsmnError` whose message is one line naming the culprit. The CLI prints that line
alone (full traceback only with ``--debug``), so messages must stand on their own.
"""

from __future__ import annotations

from pathlib import Path


class BifsmnError(Exception):
    """An error caused by user input; its message is a single self-contained line."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        text = f"{self.path}: {message}" if self.path is not None else message
        super().__init__(" ".join(text.split()))


def naming(err: BifsmnError, path: str | Path) -> BifsmnError:
    """``err`` with ``path`` in front if it names no file yet (same class, so callers that
    catch e.g. :class:`MissingPath` still can): for errors raised deep in a build from a
    file's contents, which only the caller knows the file of."""
    if err.path is not None:
        return err
    return type(err)(str(err), path)


class NonFiniteError(BifsmnError):
    """A model produced NaN or infinite scores (a diverged or corrupt model, or an input far
    outside the range it was trained on). Never turned into a prediction, event or metric."""


class TrainingDiverged(BifsmnError):
    """Training stopped at the first non-finite loss (the run folder records it)."""


class MissingPath(BifsmnError):
    """A thinnable path (8/4/2/1 blocks) that the model or file does not have: the same error
    from PyTorch checkpoints and ``.bkws`` files, so callers that evaluate several paths can skip
    a missing one without reading the message."""
