"""Run-folder lock: one writer per run folder.

A training run holds an exclusive OS lock (``fcntl.flock``) on ``run_dir/.lock`` for as long as
it writes the folder. The kernel releases it when the process exits, however it exits (normal
end, exception, Ctrl-C, SIGKILL), so a crashed run never leaves a stale lock behind; the file
itself stays (it only carries the holder's pid, for the error message), except in a folder
the lock created and nothing else wrote: a start that fails before its first file leaves no
folder behind. A second
``bifsmn train --out`` / ``--resume`` on the same folder gets a one-line error instead of mixing
its config and checkpoints with the first run's.

On systems without ``fcntl`` (Windows) the lock is a no-op.
"""

from __future__ import annotations

import os
from pathlib import Path

from bifsmn.errors import BifsmnError
from bifsmn.outputs import check_folder_path, make_folder, remove_stale_temp_files

__all__ = ["LOCK_NAME", "RUN_FILES", "RunLock", "check_folder_path", "holds_run"]

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"
#: files whose presence means a run already wrote this folder
RUN_FILES = ("config.yaml", "last.pt", "metrics.csv", "summary.json")


def holds_run(run_dir: str | Path) -> bool:
    """True if ``run_dir`` already holds (part of) a run."""
    return any((Path(run_dir) / name).exists() for name in RUN_FILES)


class RunLock:
    """Exclusive lock of a run folder (context manager, or :meth:`acquire` / :meth:`release`)."""

    def __init__(self, run_dir: str | Path, what: str = "run folder") -> None:
        self.run_dir = Path(run_dir)
        self.what = what  # how messages name the folder ("compare folder" for compare's --out)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None
        self._made = False  # this lock created the folder: a failed start removes it again

    def acquire(self, create: bool = True) -> None:
        """Take the lock or raise a one-line :class:`BifsmnError` naming the folder."""
        if self._fd is not None:
            return
        if create:
            self._made = make_folder(self.run_dir, self.what)
        elif not self.run_dir.is_dir():
            check_folder_path(self.run_dir, self.what)
            raise BifsmnError(f"not a {self.what} (does not exist)", self.run_dir)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BifsmnError(f"cannot lock the {self.what} ({exc.strerror or exc})",
                              self.run_dir) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    holder = os.read(fd, 64).decode(errors="replace").strip()
                finally:
                    os.close(fd)
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise BifsmnError(f"{self.what} is in use by another bifsmn process{who}; wait "
                                  "for it to finish or use another --out", self.run_dir) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        if not create:  # make_folder cleared an existing folder's old temp files already
            remove_stale_temp_files(self.run_dir)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self._remove_if_unused()
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _remove_if_unused(self) -> None:
        """A start that failed before writing anything leaves no folder behind (removed while
        still locked, so no other run can be writing it; never raises over the real error)."""
        if not self._made:
            return
        try:
            if [p.name for p in self.run_dir.iterdir()] == [LOCK_NAME]:
                self.path.unlink()
                self.run_dir.rmdir()
        except OSError:
            pass

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
