"""Tests for bifsmn.data.download, against a local HTTP server only (no real downloads)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bifsmn.data import download
from bifsmn.data.download import ARCHIVES, MARKER_NAME, download_speech_commands
from bifsmn.errors import BifsmnError

SR = 16000
V1 = "speech_commands_v0.01.tar.gz"
TEST_V1 = "speech_commands_test_set_v0.01.tar.gz"


# ------------------------------------------------------------------------------------ helpers


@dataclass
class Server:
    """A tiny HTTP server on 127.0.0.1 that serves byte strings by file name."""

    files: dict[str, bytes]
    honor_range: bool = True
    truncate_at: int | None = None  # send only this many body bytes, then hang up
    send_length: bool = True  # False: no Content-Length header (the body ends at the close)
    stall_after: int | None = None  # send this many body bytes, then go silent for a while
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    base_url: str = ""

    @property
    def ranges(self) -> list[str]:
        return [r for _, r in self.requests if r is not None]


def _make_handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            range_header = self.headers.get("Range")
            server.requests.append((self.path, range_header))
            body = server.files.get(self.path.rsplit("/", 1)[-1])
            if body is None:
                self.send_error(404)
                return
            start, status = 0, 200
            if range_header is not None and server.honor_range:
                match = re.fullmatch(r"bytes=(\d+)-", range_header)
                assert match, range_header
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            payload = body[start:]
            self.send_response(status)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            if server.send_length:
                self.send_header("Content-Length", str(len(payload)))
            self.send_header("Content-Type", "application/gzip")
            self.end_headers()
            if server.truncate_at is not None:
                payload = payload[: server.truncate_at]
            if server.stall_after is not None:
                self.wfile.write(payload[: server.stall_after])
                self.wfile.flush()
                time.sleep(3)
                return
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start servers on demand (port 0) and shut all of them down after the test."""
    running: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(files: dict[str, bytes], **kwargs: object) -> Server:
        spec = Server(files=files, **kwargs)  # type: ignore[arg-type]
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(spec))
        httpd.daemon_threads = True
        spec.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/data/"
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        running.append((httpd, thread))
        return spec

    yield start
    for httpd, thread in running:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment must not intercept requests to 127.0.0.1."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")


def _wav_bytes(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal(int(SR * seconds)) * 0.1).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, audio, SR, subtype="PCM_16", format="WAV")
    return buf.getvalue()


SAMPLE_FILES: dict[str, bytes] = {
    "yes/abc123_nohash_0.wav": _wav_bytes(0.25, 1),
    "no/def456_nohash_0.wav": _wav_bytes(0.25, 2),
    "_background_noise_/n.wav": _wav_bytes(0.5, 3),
    "validation_list.txt": b"no/def456_nohash_0.wav\n",
    "testing_list.txt": b"yes/abc123_nohash_0.wav\n",
}


def _tar_gz(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    """Build a .tar.gz in memory from (name, data) pairs and raw TarInfo entries."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                name, data = entry
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def archive_bytes() -> bytes:
    return _tar_gz(list(SAMPLE_FILES.items()))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fetch(server: Server, root: Path, data: bytes, **kwargs: object) -> Path:
    kwargs.setdefault("sha256", _sha(data))
    kwargs.setdefault("size", len(data))
    kwargs.setdefault("progress", False)
    return download_speech_commands(
        "v0.01", root, base_url=server.base_url, **kwargs  # type: ignore[arg-type]
    )


def _assert_extracted(dest: Path) -> None:
    assert (dest / MARKER_NAME).is_file()
    for name, data in SAMPLE_FILES.items():
        assert (dest / name).read_bytes() == data
    audio, sr = sf.read(dest / "yes/abc123_nohash_0.wav", dtype="int16")
    assert sr == SR and audio.shape == (SR // 4,)


def _leftovers(root: Path) -> list[str]:
    """What a download left in ``root``, besides its (empty) lock file."""
    return sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) \
        if root.exists() else []


# -------------------------------------------------------------------------------------- tests


def test_archive_table() -> None:
    assert set(ARCHIVES) == {"v0.01", "v0.02", "test-v0.01", "test-v0.02"}
    for key, info in ARCHIVES.items():
        assert info.url == "http://download.tensorflow.org/data/" + info.name
        assert key.removeprefix("test-") in info.name
        assert info.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", info.sha256)
    assert ARCHIVES["v0.01"].folder == "speech_commands_v0.01"
    with pytest.raises(FrozenInstanceError):
        ARCHIVES["v0.01"].size = 1  # type: ignore[misc]


def test_download_verify_extract_then_idempotent(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    server = serve({V1: archive_bytes})
    root = tmp_path / "root"
    dest = _fetch(server, root, archive_bytes, progress=True)

    assert dest == root / "speech_commands_v0.01"
    _assert_extracted(dest)
    assert (root / V1).read_bytes() == archive_bytes
    assert not (root / (V1 + ".part")).exists()
    assert _leftovers(root) == sorted([V1, "speech_commands_v0.01"])  # no temp folders
    assert server.requests == [("/data/" + V1, None)]

    again = _fetch(server, root, archive_bytes)
    assert again == dest
    assert len(server.requests) == 1  # no network on the second call


def test_test_set_folder_name(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    server = serve({"speech_commands_test_set_v0.02.tar.gz": archive_bytes})
    dest = download_speech_commands(
        "v0.02", tmp_path, test_set=True, base_url=server.base_url, progress=False,
        sha256=_sha(archive_bytes), size=len(archive_bytes),
    )
    assert dest == tmp_path / "speech_commands_test_set_v0.02"
    _assert_extracted(dest)


def test_resume_uses_range(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    server = serve({V1: archive_bytes})
    half = len(archive_bytes) // 2
    tmp_path.joinpath(V1 + ".part").write_bytes(archive_bytes[:half])

    dest = _fetch(server, tmp_path, archive_bytes)

    assert server.ranges == [f"bytes={half}-"]
    assert (tmp_path / V1).read_bytes() == archive_bytes
    _assert_extracted(dest)


def test_server_ignoring_range_restarts_from_zero(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    server = serve({V1: archive_bytes}, honor_range=False)
    half = len(archive_bytes) // 2
    tmp_path.joinpath(V1 + ".part").write_bytes(archive_bytes[:half])

    dest = _fetch(server, tmp_path, archive_bytes)

    assert server.ranges == [f"bytes={half}-"]  # asked, but got a full 200 answer
    assert (tmp_path / V1).read_bytes() == archive_bytes
    _assert_extracted(dest)


def test_interrupted_transfer_keeps_part_then_resumes(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    cut = len(archive_bytes) // 3
    broken = serve({V1: archive_bytes}, truncate_at=cut)
    with pytest.raises(BifsmnError, match="resume") as err:
        _fetch(broken, tmp_path, archive_bytes)
    assert broken.base_url + V1 in str(err.value)
    assert tmp_path.joinpath(V1 + ".part").read_bytes() == archive_bytes[:cut]

    good = serve({V1: archive_bytes})
    _assert_extracted(_fetch(good, tmp_path, archive_bytes))
    assert good.ranges == [f"bytes={cut}-"]


def test_a_cut_without_content_length_keeps_the_part_of_a_known_size(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    """No Content-Length: the archive's known size tells a cut transfer (it was verified,
    failed and deleted, so a flaky link never got past its first cut)."""
    cut = len(archive_bytes) // 3
    broken = serve({V1: archive_bytes}, truncate_at=cut, send_length=False)
    with pytest.raises(BifsmnError, match=f"closed after {cut} of {len(archive_bytes)} bytes"):
        _fetch(broken, tmp_path, archive_bytes)
    assert tmp_path.joinpath(V1 + ".part").read_bytes() == archive_bytes[:cut]
    _assert_extracted(_fetch(serve({V1: archive_bytes}), tmp_path, archive_bytes))


def test_a_stall_keeps_what_arrived(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads take what has arrived (read1): a stall or reset inside the first MiB kept
    nothing (read waited for a whole MiB), so a link dropping more often never progressed."""
    import bifsmn.data.download as dl

    monkeypatch.setattr(dl, "TIMEOUT_S", 0.5)
    part = len(archive_bytes) // 4
    with pytest.raises(BifsmnError, match="timed out .* run again to resume"):
        _fetch(serve({V1: archive_bytes}, stall_after=part), tmp_path, archive_bytes)
    assert tmp_path.joinpath(V1 + ".part").read_bytes() == archive_bytes[:part]


def test_empty_response_bad_url_and_missing_link_target_are_one_line(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    empty = serve({V1: b""}, send_length=False)
    with pytest.raises(BifsmnError, match="the server sent an empty file"):
        download_speech_commands("v0.01", tmp_path / "a", base_url=empty.base_url,
                                 progress=False)
    assert _leftovers(tmp_path / "a") == []  # nothing taken for an archive
    with pytest.raises(BifsmnError, match="bad URL"):
        download_speech_commands("v0.01", tmp_path / "b", base_url="http://[::1/x/",
                                 progress=False)
    hard = tarfile.TarInfo("h")
    hard.type, hard.linkname = tarfile.LNKTYPE, "yes/missing.wav"
    data = _tar_gz([("yes/ok.wav", b"RIFF"), hard])
    with pytest.raises(BifsmnError, match="corrupt archive"):
        _fetch(serve({V1: data}), tmp_path / "c", data)


def test_extracted_folder_follows_the_umask(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    """mkdtemp's 0700 was renamed into place: other users could not read a shared data set."""
    old = os.umask(0o022)
    try:
        dest = _fetch(serve({V1: archive_bytes}), tmp_path, archive_bytes)
    finally:
        os.umask(old)
    assert dest.stat().st_mode & 0o777 == 0o755


def test_complete_part_with_known_size_needs_no_network(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    server = serve({V1: archive_bytes})
    tmp_path.joinpath(V1 + ".part").write_bytes(archive_bytes)
    _assert_extracted(_fetch(server, tmp_path, archive_bytes))
    assert server.requests == []


def test_complete_part_with_unknown_size_handles_416(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    server = serve({V1: archive_bytes})
    tmp_path.joinpath(V1 + ".part").write_bytes(archive_bytes)
    _assert_extracted(_fetch(server, tmp_path, archive_bytes, size=None))
    assert server.ranges == [f"bytes={len(archive_bytes)}-"]


def test_wrong_sha256(serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes) -> None:
    server = serve({V1: archive_bytes})
    with pytest.raises(BifsmnError, match="sha256 mismatch") as err:
        _fetch(server, tmp_path, archive_bytes, sha256="0" * 64)
    message = str(err.value)
    assert V1 in message and "0" * 64 in message and _sha(archive_bytes) in message
    assert "\n" not in message
    assert _leftovers(tmp_path) == []  # no .part, no archive, no extracted folder


def test_wrong_size(serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes) -> None:
    server = serve({V1: archive_bytes})
    with pytest.raises(BifsmnError, match="size mismatch") as err:
        _fetch(server, tmp_path, archive_bytes, size=len(archive_bytes) + 7)
    message = str(err.value)
    assert str(len(archive_bytes) + 7) in message and str(len(archive_bytes)) in message
    assert _leftovers(tmp_path) == []


def test_bad_sha256_argument(tmp_path: Path) -> None:
    with pytest.raises(BifsmnError, match="64 hex"):
        download_speech_commands("v0.01", tmp_path, sha256="abc", progress=False)


def test_no_published_checksum_falls_back_to_gzip_check(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes,
    caplog: pytest.LogCaptureFixture
) -> None:
    assert ARCHIVES["test-v0.01"].sha256 is None
    server = serve({TEST_V1: archive_bytes})
    with caplog.at_level("INFO", logger="bifsmn.data"):
        dest = download_speech_commands(
            "v0.01", tmp_path, test_set=True, base_url=server.base_url, progress=False
        )
    _assert_extracted(dest)
    # one line each (no bars, as the CLI asks where stderr is no terminal), the
    # checksum note a bifsmn warning, not a Python warning with its source line
    assert [r.getMessage().split(" ")[0] for r in caplog.records] == [
        "downloading", "warning:", "extracting"]
    assert "no published sha256" in caplog.records[1].getMessage()


def test_no_checksum_corrupt_gzip_is_rejected(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes
) -> None:
    corrupt = bytearray(archive_bytes)
    corrupt[len(corrupt) // 2] ^= 0xFF
    server = serve({TEST_V1: bytes(corrupt)})
    with pytest.raises(BifsmnError, match="corrupt gzip"):
        download_speech_commands(
            "v0.01", tmp_path, test_set=True, base_url=server.base_url, progress=False
        )
    assert _leftovers(tmp_path) == []


def _unsafe_archives(outside: Path) -> dict[str, bytes]:
    benign = ("yes/ok.wav", SAMPLE_FILES["yes/abc123_nohash_0.wav"])

    def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = target
        return info

    device = tarfile.TarInfo("dev/null")
    device.type = tarfile.CHRTYPE
    return {
        "dotdot": _tar_gz([benign, ("../evil.txt", b"pwned")]),
        "nested-dotdot": _tar_gz([benign, ("yes/../../evil.txt", b"pwned")]),
        "absolute": _tar_gz([benign, (str(outside / "abs_evil.txt"), b"pwned")]),
        "symlink-absolute": _tar_gz(
            [benign, link("escape", str(outside)), ("escape/evil.txt", b"pwned")]
        ),
        "symlink-relative": _tar_gz(
            [benign, link("escape", "../../outside"), ("escape/evil.txt", b"pwned")]
        ),
        "symlink-chain": _tar_gz(
            [benign, link("a", "."), link("a/b", ".."), ("a/b/evil.txt", b"pwned")]
        ),
        "hardlink": _tar_gz([benign, link("hard", "../../outside/x", tarfile.LNKTYPE)]),
        "device": _tar_gz([benign, device]),
    }


@pytest.mark.parametrize("use_tar_filter", [True, False], ids=["filter", "own-check-only"])
@pytest.mark.parametrize(
    "case",
    ["dotdot", "nested-dotdot", "absolute", "symlink-absolute", "symlink-relative",
     "symlink-chain", "hardlink", "device"],
)
def test_unsafe_members_are_refused(
    serve: Callable[..., Server],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    use_tar_filter: bool,
) -> None:
    if not use_tar_filter:  # prove the explicit check works on Pythons without filter="data"
        monkeypatch.setattr(download, "_TAR_FILTER", {})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("keep")
    data = _unsafe_archives(outside)[case]
    if case == "absolute":
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert tar.getnames()[-1].startswith("/")
    root = tmp_path / "a" / "root"
    root.parent.mkdir()
    before = sorted(p for p in tmp_path.rglob("*") if root not in p.parents and p != root)
    server = serve({V1: data})

    with pytest.raises(BifsmnError, match="unsafe archive member"):
        _fetch(server, root, data)

    after = sorted(p for p in tmp_path.rglob("*") if root not in p.parents and p != root)
    assert after == before  # nothing written outside root
    assert (outside / "x").read_text() == "keep"
    assert _leftovers(root) == []  # no extracted folder, no temp folder, archive deleted


def test_connection_refused_names_url(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/"
    with pytest.raises(BifsmnError, match="download failed") as err:
        download_speech_commands("v0.01", tmp_path, base_url=base, progress=False)
    assert base + V1 in str(err.value)
    assert not (tmp_path / "speech_commands_v0.01").exists()


def test_http_error_names_url(serve: Callable[..., Server], tmp_path: Path) -> None:
    server = serve({})
    with pytest.raises(BifsmnError, match="HTTP 404") as err:
        download_speech_commands("v0.02", tmp_path, base_url=server.base_url, progress=False)
    assert server.base_url + "speech_commands_v0.02.tar.gz" in str(err.value)


@pytest.mark.parametrize("version", ["v0.03", "0.01", "", "V0.01"])
def test_unknown_version(tmp_path: Path, version: str) -> None:
    with pytest.raises(BifsmnError, match="unknown Speech Commands version"):
        download_speech_commands(version, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_existing_folder_without_marker_is_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "speech_commands_v0.01").mkdir()
    with pytest.raises(BifsmnError, match="marker"):
        download_speech_commands("v0.01", tmp_path, base_url="http://127.0.0.1:9/",
                                 progress=False)


def test_a_second_download_into_the_same_folder_waits_for_the_first(
    serve: Callable[..., Server],
    tmp_path: Path,
    archive_bytes: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two processes fetching one archive into one folder: the second waits for the first's
    lock, then finds its finished extraction (no shared .part, no deleted temp folder)."""
    import fcntl
    import threading

    server = serve({V1: archive_bytes})
    fd = os.open(tmp_path / f".{V1}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)  # "the first process"
    result: list[Path] = []
    second = threading.Thread(target=lambda: result.append(_fetch(server, tmp_path,
                                                                  archive_bytes)))
    second.start()
    second.join(timeout=1.0)
    assert second.is_alive() and not server.requests  # waiting, nothing fetched
    os.close(fd)  # the first process ends
    second.join(timeout=60)
    assert not second.is_alive()
    _assert_extracted(result[0])
    assert "waiting for another bifsmn process downloading" in capsys.readouterr().err
    assert _leftovers(tmp_path) == ["speech_commands_v0.01", V1]


def test_interrupted_extraction_leaves_nothing_and_reuses_archive(
    serve: Callable[..., Server],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    archive_bytes: bytes,
) -> None:
    server = serve({V1: archive_bytes})

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(tarfile.TarFile, "extractall", boom)
        with pytest.raises(KeyboardInterrupt):
            _fetch(server, tmp_path, archive_bytes)
    assert _leftovers(tmp_path) == [V1]  # verified archive kept, no half-extracted folder

    _assert_extracted(_fetch(server, tmp_path, archive_bytes))
    assert len(server.requests) == 1  # the verified archive was reused, not re-downloaded


def test_cli_download_through_mirror(
    serve: Callable[..., Server], tmp_path: Path, archive_bytes: bytes, monkeypatch, capsys
) -> None:
    """``bifsmn data download`` verifies against the table and reports failures in one line."""
    from dataclasses import replace

    from bifsmn import cli
    from bifsmn.data import download as dl

    server = serve({"speech_commands_v0.01.tar.gz": archive_bytes})
    good = replace(dl.ARCHIVES["v0.01"], sha256=_sha(archive_bytes), size=len(archive_bytes))
    monkeypatch.setitem(dl.ARCHIVES, "v0.01", good)
    args = ["data", "download", "--version", "v0.01", "--root", str(tmp_path / "a"),
            "--base-url", server.base_url]
    assert cli.main(args) == 0
    dest = Path(capsys.readouterr().out.strip().splitlines()[-1])
    _assert_extracted(dest)
    monkeypatch.setitem(dl.ARCHIVES, "v0.01", replace(good, sha256="0" * 64))
    args[5] = str(tmp_path / "b")
    assert cli.main(args) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("bifsmn: error:") and "sha256" in last.lower()


def test_file_mirror(tmp_path: Path, archive_bytes: bytes) -> None:
    """``--base-url file://DIR`` (a local mirror, the help's third scheme): urllib's file
    responses carry no HTTP status, and a stale ``.part`` is replaced by the whole file."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / V1).write_bytes(archive_bytes)
    root = tmp_path / "root"
    root.mkdir()
    (root / (V1 + ".part")).write_bytes(b"junk")  # not a prefix: the file URL ignores Range
    dest = download_speech_commands("v0.01", root, base_url=mirror.as_uri(), progress=False,
                                    sha256=_sha(archive_bytes), size=len(archive_bytes))
    _assert_extracted(dest)
    assert (root / V1).read_bytes() == archive_bytes
    with pytest.raises(BifsmnError, match="download failed.*file://"):
        download_speech_commands("v0.02", root, base_url=mirror.as_uri(), progress=False)
