"""Fetch and unpack the official Google Speech Commands archives.

The archives are large (up to 2.4 GB) and served over plain HTTP, so this module is built
around three guarantees:

* **Resumable**: bytes go to ``<archive>.part``; a rerun continues it with an HTTP ``Range``
  request instead of starting over (and copes with servers that ignore ``Range``).
* **Verified**: size and sha256 are checked before the ``.part`` file is renamed to the
  archive name, so an archive under its final name has always passed verification.
* **Atomic and safe extraction**: members are unpacked into a temporary folder that is
  renamed into place only when complete (with a ``.complete`` marker inside), so an
  interrupted run never leaves a half-written dataset that later looks valid. Members that
  would land outside that folder (absolute paths, ``..``, escaping links, devices) are
  refused.

Only the standard library is used for networking (``urllib``), so no extra dependency is
needed just to fetch data.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import logging
import os
import posixpath
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm

from bifsmn.errors import BifsmnError

__all__ = ["ARCHIVES", "ArchiveInfo", "MARKER_NAME", "download_speech_commands"]

log = logging.getLogger(__name__)

#: File written inside an extracted folder once extraction has fully succeeded.
MARKER_NAME = ".complete"
#: Seconds a connect or a single read may stall before it counts as a network error.
TIMEOUT_S = 60.0
_CHUNK = 1 << 20
_DEFAULT_HOST = "http://download.tensorflow.org/data/"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ArchiveInfo:
    """One downloadable archive.

    ``size`` (bytes) and ``sha256`` are ``None`` where no published value was found; the
    download is then checked only for gzip integrity and a warning is emitted.
    """

    name: str
    url: str
    size: int | None
    sha256: str | None

    @property
    def folder(self) -> str:
        """Name of the folder the archive is extracted into (archive name minus ``.tar.gz``)."""
        return self.name.removesuffix(".tar.gz")


def _info(name: str, size: int | None, sha256: str | None) -> ArchiveInfo:
    return ArchiveInfo(name=name, url=_DEFAULT_HOST + name, size=size, sha256=sha256)


# Where the checksums come from (only values actually found in a source are recorded):
# * speech_commands_v0.01 sha256: torchaudio's SPEECHCOMMANDS dataset
#   (torchaudio/datasets/speechcommands.py, ``_CHECKSUMS``). Its size was not found.
# * speech_commands_v0.02 and speech_commands_test_set_v0.02 size + sha256:
#   tensorflow/datasets, tensorflow_datasets/url_checksums/speech_commands.txt; the v0.02
#   sha256 is also the one in torchaudio's ``_CHECKSUMS``.
# * speech_commands_test_set_v0.01: no published size or sha256 found (looked in torchaudio,
#   tensorflow_datasets url_checksums, the Hugging Face ``speech_commands`` dataset_infos.json
#   -- which lists only HF's re-packed archives -- and lhotse's recipe, which has none).
#   It is verified by reading the whole gzip stream (CRC32 + length) and warns.
ARCHIVES: dict[str, ArchiveInfo] = {
    "v0.01": _info(
        "speech_commands_v0.01.tar.gz",
        None,
        "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
    ),
    "v0.02": _info(
        "speech_commands_v0.02.tar.gz",
        2428923189,
        "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
    ),
    "test-v0.01": _info("speech_commands_test_set_v0.01.tar.gz", None, None),
    "test-v0.02": _info(
        "speech_commands_test_set_v0.02.tar.gz",
        112563277,
        "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df",
    ),
}

_VERSIONS = ("v0.01", "v0.02")


def download_speech_commands(
    version: str,
    root: str | Path,
    *,
    test_set: bool = False,
    base_url: str | None = None,
    progress: bool = True,
    sha256: str | None = None,
    size: int | None = None,
) -> Path:
    """Download, verify and extract one Speech Commands archive; return the dataset folder.

    Args:
        version: ``"v0.01"`` or ``"v0.02"``.
        root: folder that receives the archive and the extracted dataset.
        test_set: fetch the official 12-class test archive instead of the full data set.
        base_url: replaces the host/directory part of the URL (mirrors, tests); the archive
            file name is kept.
        progress: show tqdm progress bars on stderr; False: one log line per step instead
            (what the CLI passes where stderr is no terminal: in a log, a bar redrawn ten
            times a second is one huge line).
        sha256: expected sha256, overriding :data:`ARCHIVES` (e.g. for a mirror).
        size: expected size in bytes, overriding :data:`ARCHIVES`.

    Returns:
        ``root/speech_commands_<version>`` or ``root/speech_commands_test_set_<version>``.
        If that folder already holds the ``.complete`` marker it is returned at once,
        without touching the network, so the call is cheap to repeat.

    Raises:
        BifsmnError: unknown version, network failure (the ``.part`` file is kept so a
            rerun resumes), size/sha256 mismatch (the ``.part`` file is deleted because it
            cannot be salvaged), a corrupt or unsafe archive, or a pre-existing folder that
            was not written by this function. The archive itself is kept after
            extraction; delete it by hand to reclaim disk space.
    """
    if version not in _VERSIONS:
        raise BifsmnError(
            f"unknown Speech Commands version {version!r}; expected one of {', '.join(_VERSIONS)}"
        )
    if base_url is not None and not re.match(r"(?i)(https?|file)://", base_url):
        # urllib would raise a bare ValueError ("unknown url type") deep in the fetch
        raise BifsmnError(f"--base-url must start with http://, https:// or file:// "
                          f"(got {base_url!r})")
    info = ARCHIVES[f"test-{version}" if test_set else version]
    expected_size = size if size is not None else info.size
    expected_sha = _normalise_sha256(sha256) if sha256 is not None else info.sha256
    if expected_size is not None and expected_size < 0:
        raise BifsmnError(f"expected size must be >= 0, got {expected_size}")
    url = info.url if base_url is None else base_url.rstrip("/") + "/" + info.name

    root = Path(root).expanduser()
    dest = root / info.folder
    if (dest / MARKER_NAME).is_file():
        return dest
    if dest.exists():
        raise BifsmnError(
            f"exists but has no {MARKER_NAME} marker, so it is not a complete extraction made "
            "by this tool; delete it (or, if it is complete, create the marker) and retry",
            path=dest,
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BifsmnError(f"cannot create folder: {exc.strerror or exc}", path=root) from exc

    with _root_lock(root, info.name):
        if (dest / MARKER_NAME).is_file():  # another process finished it while we waited
            return dest
        return _fetch_and_extract(info, root, dest, url, expected_size, expected_sha,
                                  progress)


@contextlib.contextmanager
def _root_lock(root: Path, name: str) -> Iterator[None]:
    """One download/extraction of archive ``name`` into ``root`` at a time: a second process
    waits for the first (then finds its result) instead of writing the same ``.part`` file
    and deleting its extraction folder. An OS lock (``fcntl.flock``), released however the
    holder ends; no-op where there is no ``fcntl``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fd = os.open(root / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise BifsmnError(f"cannot lock the download folder: {exc.strerror or exc}",
                          path=root) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(f"waiting for another bifsmn process downloading {name} into {root} ...",
                  file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _fetch_and_extract(info: ArchiveInfo, root: Path, dest: Path, url: str,
                       expected_size: int | None, expected_sha: str | None,
                       progress: bool) -> Path:
    """The download (resumed from ``.part``), verification and extraction, under the lock."""
    archive = root / info.name
    if archive.is_file():
        # A leftover from a run interrupted during extraction (or a manual download): it is
        # re-checked because nothing guarantees it was not modified since, but it is the
        # user's file, so it is never deleted.
        _verify(archive, expected_size, expected_sha, progress=progress, delete_on_failure=False)
    else:
        part = root / (info.name + ".part")
        if not progress:
            size = "" if expected_size is None else f" ({expected_size / 2**20:,.0f} MiB)"
            log.info("downloading %s%s from %s", info.name, size, url)
        _download(url, part, expected_size, progress=progress)
        _verify(part, expected_size, expected_sha, progress=progress, delete_on_failure=True)
        os.replace(part, archive)

    if not progress:
        log.info("extracting %s into %s", archive.name, dest)
    _extract(archive, dest, progress=progress)
    return dest


def _normalise_sha256(value: str) -> str:
    text = value.strip().lower()
    if not _SHA256_RE.match(text):
        raise BifsmnError(f"sha256 must be 64 hex digits, got {value!r}")
    return text


# --------------------------------------------------------------------------------- download


def _download(url: str, part: Path, expected_size: int | None, *, progress: bool) -> None:
    """Fetch ``url`` into ``part``, continuing an existing partial file where possible.

    Any network problem becomes a :class:`BifsmnError` that names the URL; bytes received
    so far stay in ``part`` so the next call resumes instead of starting over.
    """
    offset = part.stat().st_size if part.is_file() else 0
    if expected_size is not None and offset > expected_size:
        # Longer than the real archive: it cannot be a prefix of it.
        part.unlink()
        offset = 0
    if expected_size is not None and offset == expected_size:
        return  # complete from an earlier run that stopped before verification

    try:
        request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    except ValueError as exc:  # e.g. "http://[::1/x": an unbalanced IPv6 bracket
        raise BifsmnError(f"download failed: bad URL {url!r} ({exc})") from None
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Nothing left to send from ``offset``: the partial file is already whole (if
            # it is not, verification will catch it).
            exc.close()
            return
        exc.close()
        raise BifsmnError(f"download failed: HTTP {exc.code} {exc.reason} for {url}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise BifsmnError(f"download failed: {_reason(exc)} for {url}") from exc

    with response:
        status = response.status
        if status is None and url.lower().startswith("file://"):
            status = 200  # a local mirror: urllib gives no status and sends the whole file
        if status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != offset:
                raise BifsmnError(
                    f"download failed: asked for bytes from {offset} but the server sent a "
                    f"range starting at {start} for {url}"
                )
        elif status == 200:
            offset = 0  # server ignored Range (or none was sent): restart from zero
        else:
            raise BifsmnError(f"download failed: unexpected HTTP {status} for {url}")

        length_header = response.headers.get("Content-Length")
        remaining = int(length_header) if length_header and length_header.isdigit() else None
        total = offset + remaining if remaining is not None else expected_size
        try:
            out = part.open("r+b" if offset else "wb")
        except OSError as exc:
            raise BifsmnError(f"cannot write: {exc.strerror or exc}", path=part) from exc
        with out, tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name.removesuffix(".part"),
            file=sys.stderr,
            disable=not progress,
            leave=False,
        ) as bar:
            out.seek(offset)
            out.truncate()
            received = _copy_stream(response, out, url, part, bar)
            try:
                _sync(out)
            except OSError as exc:  # disk full on the last buffered bytes
                raise BifsmnError(f"cannot write: {exc.strerror or exc}", path=part) from None

    # short: the server's length, else the known size of the archive (a server that sends
    # no Content-Length and closes early left a prefix, kept for the next run to resume)
    want = offset + remaining if remaining is not None else expected_size
    if want is not None and offset + received < want:
        raise BifsmnError(
            f"download interrupted: connection closed after {offset + received} of "
            f"{want} bytes from {url}; run again to resume"
        )
    if offset + received == 0:  # an empty 200 response is no archive (and never complete)
        part.unlink(missing_ok=True)
        raise BifsmnError(f"download failed: the server sent an empty file for {url}")


def _copy_stream(
    response: http.client.HTTPResponse, out: BinaryIO, url: str, part: Path, bar: tqdm
) -> int:
    """Copy the body to ``out`` chunk by chunk; return the number of bytes received."""
    received = 0
    while True:
        try:
            # read1: what has arrived, up to a chunk (read() waited for a whole MiB, so a
            # stall, reset or Ctrl-C lost up to 1 MiB and the bar froze between MiBs)
            chunk = response.read1(_CHUNK) if hasattr(response, "read1") else \
                response.read(_CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            with contextlib.suppress(OSError):
                out.flush()  # keep what arrived so the next run can resume from it
            raise BifsmnError(
                f"download interrupted: {_reason(exc)} for {url}; run again to resume"
            ) from exc
        if not chunk:
            return received
        try:
            out.write(chunk)
        except OSError as exc:
            raise BifsmnError(f"cannot write: {exc.strerror or exc}", path=part) from exc
        received += len(chunk)
        bar.update(len(chunk))


def _content_range_start(header: str | None) -> int | None:
    """Start offset of a ``Content-Range: bytes START-END/TOTAL`` header, or ``None``."""
    match = re.match(r"\s*bytes\s+(\d+)-\d+/(?:\d+|\*)\s*$", header or "")
    return int(match.group(1)) if match else None


def _reason(exc: BaseException) -> str:
    """Short, single-line description of a network exception."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {TIMEOUT_S:g} s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _sync(f: BinaryIO) -> None:
    """Flush ``f`` to disk so a crash right after a rename cannot expose missing bytes."""
    f.flush()
    with contextlib.suppress(OSError):  # e.g. file systems without fsync
        os.fsync(f.fileno())


# ------------------------------------------------------------------------------- verification


def _verify(
    path: Path,
    expected_size: int | None,
    expected_sha: str | None,
    *,
    progress: bool,
    delete_on_failure: bool,
) -> None:
    """Check size and sha256 of ``path`` (or, without a sha256, gzip integrity).

    On failure ``path`` is deleted when ``delete_on_failure`` (a corrupt ``.part`` cannot
    be resumed usefully) and a one-line :class:`BifsmnError` names the file.
    """

    def fail(message: str) -> BifsmnError:
        if delete_on_failure:
            path.unlink(missing_ok=True)
            message += "; the partial download was deleted, run again to restart"
        else:
            message += "; delete it to download again"
        return BifsmnError(message, path=path)

    actual_size = path.stat().st_size
    if expected_size is not None and actual_size != expected_size:
        raise fail(f"size mismatch: expected {expected_size} bytes, got {actual_size}")

    if expected_sha is not None:
        actual_sha = sha256_file(path, progress=progress)
        if actual_sha != expected_sha:
            raise fail(f"sha256 mismatch: expected {expected_sha}, got {actual_sha}")
        return

    log.warning("warning: no published sha256 for %s; only checking gzip integrity (CRC32 "
                "and length)", path.name.removesuffix(".part"))
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(_CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise fail(f"corrupt gzip data: {exc}") from exc


def sha256_file(path: Path, *, progress: bool = False) -> str:
    """SHA-256 hex digest of a file, read in chunks (archives, model files)."""
    digest = hashlib.sha256()
    with path.open("rb") as f, tqdm(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="sha256",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    ) as bar:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


# --------------------------------------------------------------------------------- extraction


def _extract(archive: Path, dest: Path, *, progress: bool) -> None:
    """Unpack ``archive`` into ``dest`` atomically.

    Members go to a hidden temporary folder next to ``dest`` (same file system, so the
    final rename is atomic); the ``.complete`` marker is written inside it last and only
    then is it renamed to ``dest``. Any failure removes the temporary folder.
    """
    # Temp folders of runs killed mid-extraction would otherwise pile up (gigabytes each).
    for stale in dest.parent.glob(f".{dest.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = _checked_members(tar, tmp, archive)
                if progress:
                    members = iter(
                        tqdm(members, desc=f"extract {archive.name}", unit=" files",
                             file=sys.stderr, leave=False)
                    )
                tar.extractall(tmp, members=members, **_TAR_FILTER)
        except BifsmnError:
            raise
        except _tar_filter_errors() as exc:
            raise _unsafe(archive, str(exc)) from exc
        except (tarfile.TarError, EOFError, zlib.error, KeyError) as exc:
            # KeyError: a hard link to a member the archive does not hold
            raise BifsmnError(f"corrupt archive: {exc}; delete it to download again",
                              path=archive) from exc
        except OSError as exc:
            raise BifsmnError(f"extraction failed: {exc}", path=archive) from exc
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would shut other users out of the data
        marker = tmp / MARKER_NAME
        with marker.open("wb") as f:
            f.write(f"{archive.name}\n".encode())
            _sync(f)
        try:
            os.rename(tmp, dest)
        except OSError as exc:
            raise BifsmnError(f"cannot move extracted data into place: {exc}",
                              path=dest) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


#: ``filter="data"`` where supported (3.11.4+): tarfile's own defence against unsafe
#: members, used in addition to :func:`_checked_members`.
_TAR_FILTER: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _tar_filter_errors() -> tuple[type[BaseException], ...]:
    filter_error = getattr(tarfile, "FilterError", None)
    return (filter_error,) if filter_error is not None else ()


def _unsafe(archive: Path, why: str) -> BifsmnError:
    # A tampered archive is useless and would fail the same way on every rerun.
    archive.unlink(missing_ok=True)
    return BifsmnError(f"unsafe archive member refused ({why}); archive deleted", path=archive)


def _checked_members(tar: tarfile.TarFile, dest: Path, archive: Path) -> Iterator[tarfile.TarInfo]:
    """Yield the members of ``tar``, refusing any that could write outside ``dest``.

    This runs regardless of the Python version (``filter="data"`` is not available
    everywhere). Members are checked lazily, right before each is extracted, so real paths
    reflect links already created by earlier members and a chain of innocent-looking
    symlinks cannot be used to escape.
    """
    base = os.path.realpath(dest)

    def inside(path: str) -> bool:
        real = os.path.realpath(path)
        return os.path.commonpath([base, real]) == base

    def lexically_unsafe(name: str) -> bool:
        pure = name.replace("\\", "/")
        return (
            pure.startswith("/")
            or os.path.isabs(name)
            or bool(re.match(r"^[A-Za-z]:", pure))
            or ".." in pure.split("/")
        )

    for member in tar:
        name = member.name
        if lexically_unsafe(name):
            raise _unsafe(archive, f"{name!r}: absolute path or '..'")
        if not inside(os.path.join(dest, name)):
            raise _unsafe(archive, f"{name!r}: resolves outside the destination")
        if member.isdev():  # character/block device or FIFO
            raise _unsafe(archive, f"{name!r}: device or FIFO")
        if member.issym():
            # Relative targets with '..' can be legitimate (``a/b -> ../c``); what matters is
            # where the link really resolves, given the links extracted so far.
            target = member.linkname
            if target.startswith("/") or os.path.isabs(target):
                raise _unsafe(archive, f"{name!r}: symlink to absolute path {target!r}")
            parent = posixpath.dirname(name)
            if not inside(os.path.join(dest, parent, target)):
                raise _unsafe(archive, f"{name!r}: symlink to {target!r} points outside")
        elif member.islnk():
            target = member.linkname
            if lexically_unsafe(target) or not inside(os.path.join(dest, target)):
                raise _unsafe(archive, f"{name!r}: hard link to {target!r} points outside")
        elif not (member.isfile() or member.isdir()):
            raise _unsafe(archive, f"{name!r}: unsupported member type")
        yield member
