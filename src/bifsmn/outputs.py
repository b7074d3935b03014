"""Safe output files: every writer of bifsmn goes through :func:`atomic_write`.

Two promises, whatever the caller:

* **Nothing is destroyed that the user did not ask to replace.** An output path that is a
  directory, a device (``/dev/null``), a FIFO, a socket, a symlink to one of those, or one of the
  writer's own inputs (``bifsmn export m.pt -o m.pt``) is refused with a one-line
  :class:`BifsmnError` before anything is written. A symlink to a regular file is followed: the
  file it points to is replaced and the link stays.
* **Readers see the old file or the new one, never half of one.** Data goes to a temporary file
  in the destination folder, is flushed to disk, then renamed over the destination
  (``os.replace``, atomic on POSIX). Any failure removes the temporary file; an ``OSError``
  (read-only or unwritable folder, ``/proc``, disk full) becomes a one-line error naming the path.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from bifsmn.errors import BifsmnError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"))


def mode_kind(mode: int) -> str | None:
    """What a ``st_mode`` is when it is not a regular file (``"a directory"``, ``"a FIFO (named
    pipe)"``, ...), else None: one wording for the writers' refusals and the readers' errors."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_output(path: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """The real path to write ``path`` to, or a one-line :class:`BifsmnError` if writing there
    would destroy something other than a regular file the user asked to replace.

    ``inputs``: files the writer reads; the output may not be any of them (compared by inode,
    so a different spelling or a hard link is caught too).
    """
    if str(path) == "-":  # many tools' "standard output"; a file named "-" is not what was meant
        raise BifsmnError("'-' (standard output) is not an output here: give a file path "
                          "(a file named '-': ./-)")
    path = Path(path)
    try:
        st = os.stat(path)  # follows symlinks: a link to a FIFO is judged as the FIFO
    except FileNotFoundError:
        if path.is_symlink():
            raise BifsmnError("output path is a dangling symlink; remove it or choose another "
                              "path", path) from None
        parent = path.parent
        if parent.exists() and not parent.is_dir():
            raise BifsmnError(f"cannot write here: {parent} is not a directory", path) from None
        return path
    except OSError as exc:
        raise BifsmnError(f"cannot use as output ({exc.strerror or exc})", path) from None
    kind = mode_kind(st.st_mode)
    if kind is not None:
        link = " (via a symlink)" if path.is_symlink() else ""
        raise BifsmnError(f"output path is {kind}{link}; refusing to replace it (give a file "
                          "path)", path)
    for inp in inputs:
        try:
            same = os.path.samefile(path, inp)
        except OSError:
            continue
        if same:
            raise BifsmnError(f"output path is the input {inp}; refusing to overwrite it "
                              "(choose another output path)", path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_folder_path(path: str | Path, what: str = "run folder") -> None:
    """Refuse, in one line naming it, a folder path that is a file or lies under one (the
    checks a command makes before it decodes any data, so a typo in ``--out`` fails at once
    rather than after minutes of work)."""
    if str(path) == "-":
        raise BifsmnError(f"'-' (standard output) is not a {what}: give a folder path (a "
                          "folder named '-': ./-)")
    path = Path(path)
    try:
        for p in (path, *path.parents):
            if p.exists() and not p.is_dir():
                where = "is a file" if p == path else f"lies under a file ({p})"
                raise BifsmnError(f"{where}, not a {what}", path)
            if p.exists():
                return
    except OSError as exc:  # a name too long, a folder that may not be searched
        raise BifsmnError(f"not usable as a {what} ({exc.strerror or exc})", path) from None


def make_folder(path: str | Path, what: str = "run folder") -> bool:
    """Create the folder ``path`` (and its parents) after :func:`check_folder_path`; an
    ``OSError`` (read-only parent, no permission) becomes a one-line error naming it. Returns
    True if this call created it (a failed start may remove what it made). An existing folder
    loses the temp files killed writers left there long ago (:func:`stale_temp_files`, age
    rule): every command that writes a folder of results opens it here."""
    path = Path(path)
    check_folder_path(path, what)
    made = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BifsmnError(f"cannot create the {what} ({exc.strerror or exc})", path) from None
    if not made:
        remove_stale_temp_files(path)
    return made


#: an :func:`atomic_write` temp file untouched this long was left by a killed writer (a live
#: one is written to, or renamed, within seconds)
STALE_TEMP_SECONDS = 600.0


#: the name :func:`atomic_write` gives its temp file: ``.NAME.PID.XXXXXXXX.tmp`` (the random
#: part is :func:`tempfile.mkstemp`'s); nothing else in a folder is ever taken for one
_TEMP_NAME = re.compile(r"^\.(?P<dest>.+)\.(?P<pid>[0-9]+)\.[a-z0-9_]{8}\.tmp$")


def _alive(pid: int) -> bool:
    """Whether a process of this id runs on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def stale_temp_files(folder: str | Path, min_age_s: float = STALE_TEMP_SECONDS,
                     dead_writers: bool = False,
                     dest: Callable[[str], bool] | None = None) -> list[Path]:
    """The temp files that :func:`atomic_write` left in ``folder`` when its process was killed
    between creating and renaming them (a kill -9 runs no cleanup): files named exactly as it
    names them (``.NAME.PID.XXXXXXXX.tmp``; a user's own ``.notes.tmp`` never is), for a
    destination ``NAME`` that ``dest`` accepts (default: any), last modified at least
    ``min_age_s`` ago (a live writer is seconds old), and with ``dead_writers`` also younger
    ones whose writer's process no longer runs on this machine (only for names no process on
    another machine or in another PID namespace writes: a locked run's own files)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    now, out = time.time(), []
    for p in folder.glob(".*.tmp"):
        m = _TEMP_NAME.match(p.name)
        if m is None or (dest is not None and not dest(m["dest"])):
            continue
        try:
            st = p.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        pid = int(m["pid"])
        if now - st.st_mtime >= min_age_s or (
                dead_writers and pid != os.getpid() and not _alive(pid)):
            out.append(p)
    return sorted(out)


def remove_stale_temp_files(folder: str | Path, min_age_s: float = STALE_TEMP_SECONDS,
                            dead_writers: bool = False,
                            dest: Callable[[str], bool] | None = None) -> tuple[int, int]:
    """Delete :func:`stale_temp_files`; returns ``(files, bytes on disk)``. Files that cannot
    be deleted (a read-only folder) are left, silently: they cost space, never correctness."""
    n = size = 0
    for p in stale_temp_files(folder, min_age_s, dead_writers, dest):
        try:
            blocks = p.stat().st_blocks * 512  # a preallocated .npy: its real size on disk
            p.unlink()
        except OSError:
            continue
        n, size = n + 1, size + blocks
    return n, size


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object],
                 inputs: Iterable[str | Path] = (), mode: int = 0o644) -> Path:
    """Write a file atomically after :func:`check_output`; ``write(f)`` fills the binary file.

    Returns the path written (the symlink target if ``path`` is a link to a regular file).
    """
    path = Path(path)
    dest = check_output(path, inputs)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # the writer's pid in the name: a temp file a kill -9 left is told from a live one
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.{os.getpid()}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise BifsmnError(f"cannot write ({exc.strerror or exc})", path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp makes 0600; published files must be readable
        os.replace(tmp, dest)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise BifsmnError(f"cannot write ({exc.strerror or exc})", path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive OS lock (``fcntl.flock`` on the folder itself: no lock file left in a
    user's folder) while a read-merge-write of a file in ``folder`` runs, so that two processes
    merging into one file (``windows.csv``, a model's operating points) take turns instead of the
    later rename dropping the other's rows. Blocks while another holder merges (those sections
    take milliseconds); released however the holder ends. Not re-entrant: holding it twice on
    one folder in one thread waits forever. A no-op without ``fcntl`` (Windows), where the
    folder cannot be opened (the write itself then reports the problem) or where its file
    system refuses the lock (some NFS mounts)."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):  # a file system without flock: unlocked, as above
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def atomic_write_bytes(path: str | Path, data: bytes, inputs: Iterable[str | Path] = ()) -> Path:
    return atomic_write(path, lambda f: f.write(data), inputs)


def atomic_write_text(path: str | Path, text: str, inputs: Iterable[str | Path] = ()) -> Path:
    """Write text via temp file + rename: readers see the old or the new file, never half."""
    return atomic_write(path, lambda f: f.write(text.encode()), inputs)
