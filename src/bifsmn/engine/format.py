"""The ``.bkws`` container: header, checksum and typed records (see docs/bkws-format.md).

The same layout is parsed by the C++ loader (cpp/src/engine/bkws.cc). Python needs a reader
too: tests corrupt files on purpose and inspect what the exporter wrote, and ``bifsmn export``
prints a summary of the records.

A file is ``header (32 bytes) | payload``; the payload is ``u32 record count`` followed by
records ``u8 name_len | name | u8 dtype | u8 ndim | u16 0 | u32 dims[ndim] | u64 nbytes | data``.
All integers are little-endian. CRC-32 (zlib polynomial) covers the payload, a second CRC-32 the
first 28 header bytes, so a damaged header is reported as such rather than as a bad payload.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bifsmn.errors import BifsmnError
from bifsmn.signatures import BKWS_MAGIC, special_kind

MAGIC = BKWS_MAGIC  # bifsmn.signatures: shared with the loaders that tell file kinds apart
#: 2: record feat.kind names the front end (version 1 files are logmel32);
#: 3: record ``paths`` holds block counts (8/4/2/1), not path indices (versions 1-2: index p
#: means ``layers >> p`` blocks, converted by readers with the file's layer count);
#: 4: record dtypes ``i8`` (per-row int8, scales in ``NAME.qscale``) and ``f24`` (24-bit float).
#: A writer stamps the lowest version that holds its records (:func:`required_version`), so a
#: file without the narrow dtypes stays readable by version 3 readers.
#: 5: an ``i8`` record's ``NAME.qscale`` may hold one scale for the whole record (shape (1,)),
#: written for the per-channel vectors of ``bifsmn export --storage`` plans (dtype ``i8r``).
VERSION = 5
MIN_VERSION = 1
HEADER = struct.Struct("<8sIIQII")  # magic, version, header size, payload size, 2 x crc32
HEADER_SIZE = HEADER.size  # 32
MAX_NAME = 64
MAX_NDIM = 4

DTYPES: dict[str, int] = {"u8": 1, "i32": 2, "f32": 3, "f16": 4, "bits": 5, "f64": 6,
                          "i8": 7, "f24": 8}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_NUMPY = {"u8": np.uint8, "i32": np.int32, "f32": np.float32, "f16": np.float16,
          "f64": np.float64, "i8": np.int8}
#: dtypes that need format version 4
V4_DTYPES = ("i8", "f24")
#: suffix of the per-row scale record of an ``i8`` record
QSCALE = ".qscale"


def _f24_encode(arr: np.ndarray) -> bytes:
    """Upper 3 bytes of each float32 (little-endian); the low byte must already be zero."""
    bits = np.ascontiguousarray(arr, np.float32).view(np.uint32).reshape(-1)
    if (bits & 0xFF).any():
        raise ValueError("f24 values must be rounded to 24 bits first (deploy.storage)")
    return (bits >> 8).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def _f24_decode(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """float32 values of f24 bytes: each value's 3 bytes are the upper bytes of the float32."""
    raw = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.uint32)
    bits = (raw[:, 0] << 8) | (raw[:, 1] << 16) | (raw[:, 2] << 24)
    return bits.view(np.float32).reshape(shape)


@dataclass
class Record:
    """One named, typed array. ``bits`` records hold (rows, K) sign bits: bit 1 <=> negative."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    data: bytes

    def array(self) -> np.ndarray:
        """The record as a numpy array; ``bits`` unpack to a bool (rows, K) array, ``f24`` widen
        to float32, ``i8`` are the int8 codes (:func:`float_array` applies their scales)."""
        if self.dtype == "f24":
            return _f24_decode(self.data, self.shape)
        if self.dtype == "bits":
            rows, k = self.shape
            raw = np.frombuffer(self.data, np.uint8).reshape(rows, (k + 7) // 8)
            return np.unpackbits(raw, axis=1, bitorder="little")[:, :k].astype(bool)
        return np.frombuffer(self.data, _NUMPY[self.dtype]).reshape(self.shape)

    def text(self) -> str:
        return self.data.decode("utf-8")


def record_nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    if dtype == "bits":
        rows, k = shape
        return rows * ((k + 7) // 8)
    if dtype == "f24":
        return int(np.prod(shape, dtype=np.int64)) * 3
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(_NUMPY[dtype]).itemsize


def make_record(name: str, value: np.ndarray | str | bytes, dtype: str | None = None) -> Record:
    """Build a record from an array (dtype given or inferred) or a string (stored as u8)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes):
        return Record(name, "u8", (len(value),), value)
    arr = np.asarray(value)
    if dtype == "bits":
        if arr.ndim != 2:
            raise ValueError(f"{name}: bits need a 2-D (rows, K) array")
        packed = np.packbits(arr.astype(bool), axis=1, bitorder="little")
        return Record(name, "bits", tuple(arr.shape), packed.tobytes())
    if dtype is None:
        raise ValueError(f"{name}: give the record dtype")
    if dtype == "f24":
        return Record(name, "f24", tuple(int(d) for d in arr.shape), _f24_encode(arr))
    arr = np.ascontiguousarray(arr, dtype=np.dtype(_NUMPY[dtype]).newbyteorder("<"))
    return Record(name, dtype, tuple(int(d) for d in arr.shape), arr.tobytes())


def _whole_record_scale(rec: Record, scale: Record | None) -> bool:
    """Whether ``scale`` is one scale for an i8 record of more than one row (version 5)."""
    return (scale is not None and scale.shape == (1,) and bool(rec.shape)
            and rec.shape[0] != 1)


def required_version(records: list[Record]) -> int:
    """The lowest format version that holds ``records``: 5 with an ``i8`` record scaled by
    one value for all its rows, 4 with an ``i8``/``f24`` record, else 3 (what every export
    wrote before version 4)."""
    by_name = {r.name: r for r in records}
    if any(r.dtype == "i8" and _whole_record_scale(r, by_name.get(r.name + QSCALE))
           for r in records):
        return 5
    return 4 if any(r.dtype in V4_DTYPES for r in records) else 3


def encode(records: list[Record], version: int | None = None) -> bytes:
    """Serialise records into a complete file image (header + payload).

    ``version`` defaults to :func:`required_version`; another value is for tests (e.g. a
    version 1 file, which has no ``feat.kind``; versions 1-2 store path indices in ``paths``:
    see :func:`legacy_paths`)."""
    if version is None:
        version = required_version(records)
    names = [r.name for r in records]
    if len(set(names)) != len(names):
        raise ValueError("duplicate record names")
    parts = [struct.pack("<I", len(records))]
    for r in records:
        name = r.name.encode("ascii")
        if not 0 < len(name) <= MAX_NAME or len(r.shape) > MAX_NDIM or any(
                not 0x21 <= c <= 0x7E for c in name):
            raise ValueError(f"bad record {r.name!r}")
        if len(r.data) != record_nbytes(r.dtype, r.shape):
            raise ValueError(f"record {r.name!r}: {len(r.data)} bytes for shape {r.shape}")
        parts.append(struct.pack("<B", len(name)) + name)
        parts.append(struct.pack("<BBH", DTYPES[r.dtype], len(r.shape), 0))
        parts.append(struct.pack(f"<{len(r.shape)}I", *r.shape))
        parts.append(struct.pack("<Q", len(r.data)))
        parts.append(r.data)
    payload = b"".join(parts)
    head = struct.pack("<8sIIQI", MAGIC, version, HEADER_SIZE, len(payload),
                       zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def decode(data: bytes, path: str | Path = "<bytes>") -> dict[str, Record]:
    """Parse and verify a file image; every defect is a one-line :class:`BifsmnError`."""

    def fail(msg: str) -> BifsmnError:
        return BifsmnError(f"not a valid .bkws file: {msg}", path)

    if len(data) < HEADER_SIZE:
        raise fail(f"truncated header ({len(data)} of {HEADER_SIZE} bytes)")
    magic, version, hsize, psize, pcrc, hcrc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise fail("bad magic (not a .bkws model)")
    if zlib.crc32(data[:28]) != hcrc:
        raise fail("header checksum mismatch (corrupt header)")
    if not MIN_VERSION <= version <= VERSION:
        raise BifsmnError(f".bkws format version {version} not supported (this bifsmn reads "
                          f"versions {MIN_VERSION} to {VERSION}); re-export the checkpoint",
                          path)
    if hsize != HEADER_SIZE:
        raise fail(f"header size {hsize}")
    if len(data) - hsize != psize:
        hint = "truncated?" if len(data) - hsize < psize else "trailing bytes after the model?"
        raise fail(f"payload is {len(data) - hsize} bytes, header says {psize} ({hint})")
    payload = memoryview(data)[hsize:]
    if zlib.crc32(payload) != pcrc:
        raise fail("payload checksum mismatch (corrupt file)")
    pos, out = 0, {}

    def take(n: int) -> memoryview:
        nonlocal pos
        if n > len(payload) - pos:
            raise fail("record runs past the end of the payload")
        pos += n
        return payload[pos - n:pos]

    (count,) = struct.unpack("<I", take(4))
    for _ in range(count):
        (nlen,) = struct.unpack("<B", take(1))
        if not 0 < nlen <= MAX_NAME:
            raise fail("bad record name length")
        raw = bytes(take(nlen))
        # the C++ reader's rule (bkws.cc): 0x21-0x7E, so both readers accept the same files
        if any(not 0x21 <= c <= 0x7E for c in raw):
            raise fail("non-printable record name")
        name = raw.decode("ascii")
        code, ndim, _zero = struct.unpack("<BBH", take(4))
        if code not in DTYPE_NAMES or ndim > MAX_NDIM:
            raise fail(f"record {name!r}: bad dtype/ndim")
        shape = struct.unpack(f"<{ndim}I", take(4 * ndim))
        (nbytes,) = struct.unpack("<Q", take(8))
        dtype = DTYPE_NAMES[code]
        if dtype in V4_DTYPES and version < 4:
            raise fail(f"record {name!r}: dtype {dtype} needs format version 4, file says "
                       f"{version}")
        if dtype == "bits" and ndim != 2:
            raise fail(f"record {name!r}: bits must be 2-D")
        if nbytes != record_nbytes(dtype, shape):
            raise fail(f"record {name!r}: size does not match its shape")
        if name in out:
            raise fail(f"duplicate record {name!r}")
        out[name] = Record(name, dtype, tuple(shape), bytes(take(nbytes)))
    if pos != len(payload):
        raise fail("trailing bytes after the last record")
    if version < 5:  # a one-value scale for a many-row i8 record arrived with version 5
        for name, rec in out.items():
            if rec.dtype == "i8" and _whole_record_scale(rec, out.get(name + QSCALE)):
                raise fail(f"record {name + QSCALE!r}: one scale for all rows needs format "
                           f"version 5, file says {version}")
    return out


def legacy_paths(records: list[Record]) -> list[Record]:
    """The records of a version 3 file with ``paths`` rewritten as a version 1-2 file stores
    it (path indices ``p``, ``blocks = layers >> p``); for tests that write old files."""
    layers = int(next(r for r in records if r.name == "arch").array()[8])
    out = []
    for r in records:
        if r.name == "paths":
            counts = [int(b) for b in r.array()]
            r = make_record("paths", np.array([(layers // b).bit_length() - 1 for b in counts]),
                            "i32")
        out.append(r)
    return out


def float_array(records: dict[str, Record], name: str) -> np.ndarray:
    """The float32 values the engine computes with for a float record: f32 as stored, f16
    and f24 widened, i8 times its per-row (or whole-record) scales from ``NAME.qscale``
    (:func:`bifsmn.deploy.storage.dequantize_rows`, the engine's arithmetic)."""
    from bifsmn.deploy.storage import dequantize_rows

    rec = records[name]
    if rec.dtype == "i8":
        scale = records.get(name + QSCALE)
        if (scale is None or scale.dtype != "f32"
                or (scale.shape != rec.shape[:1] and not _whole_record_scale(rec, scale))):
            raise BifsmnError(f"record {name!r}: i8 needs an f32 record {name + QSCALE!r} "
                              f"of shape ({rec.shape[0] if rec.shape else 0},) or (1,)")
        return dequantize_rows(rec.array(), scale.array())
    if rec.dtype not in ("f32", "f16", "f24"):
        raise BifsmnError(f"record {name!r} is {rec.dtype}, not a float record")
    return np.asarray(rec.array(), np.float32)


def file_version(path: str | Path) -> int:
    """The format version in a file's header (checked as :func:`read_file` checks it)."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(HEADER_SIZE)
    if len(head) < HEADER_SIZE or not head.startswith(MAGIC):
        raise BifsmnError("not a valid .bkws file: bad header", path)
    return int(HEADER.unpack_from(head)[1])


def read_file(path: str | Path) -> dict[str, Record]:
    """A file's records after :func:`decode`'s container checks (header, checksums, record
    layout); values and shapes against ``arch`` are the engine's to check
    (``bifsmn.engine.Engine`` loads a file whole)."""
    path = Path(path)
    special = special_kind(path)
    if special is not None:
        raise BifsmnError(f"is {special}, not a .bkws file", path)
    if not path.is_file():
        raise BifsmnError("no such .bkws file", path)
    return decode(path.read_bytes(), path)


#: ``feat.i`` / ``feat.f`` fields per feature kind (docs/bkws-format.md).
FEATURE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "logmel32": (("sample_rate", "clip_samples", "n_fft", "hop_length", "n_mels"),
                 ("f_min", "f_max", "amin")),
    "fbank40": (("sample_rate", "clip_samples", "frame_length", "hop_length", "n_fft", "n_mels",
                 "pool"),
                ("f_min", "f_max", "window_power", "log_scale", "log_offset", "input_scale")),
}


def feature_dict(records: dict[str, Record], path: str | Path = "<bytes>") -> dict:
    """The stored feature settings as a ``features`` dict with its ``kind`` (a file without
    ``feat.kind``, i.e. format version 1, is ``logmel32``); for
    :func:`bifsmn.data.frontends.feature_config_from_dict`."""
    kind = records["feat.kind"].text() if "feat.kind" in records else "logmel32"
    if kind not in FEATURE_FIELDS:
        raise BifsmnError(f"unknown feature kind {kind[:40]!r} (known: "
                          f"{', '.join(FEATURE_FIELDS)})", path)
    ints, floats = FEATURE_FIELDS[kind]
    fi, ff = records["feat.i"].array(), records["feat.f"].array()
    if fi.shape != (len(ints),) or ff.shape != (len(floats),):
        raise BifsmnError(f"feat.i/feat.f do not hold {kind} settings", path)
    out: dict = {"kind": kind}
    out.update({k: int(v) for k, v in zip(ints, fi, strict=True)})
    out.update({k: float(v) for k, v in zip(floats, ff, strict=True)})
    return out
