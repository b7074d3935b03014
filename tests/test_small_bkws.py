"""Compact .bkws storage (format version 4): 24-bit per-channel constants (``f24``) and a
per-row int8 classifier (``i8`` + ``NAME.qscale``), ``bifsmn export --compact``.

The engine widens both at load; the deployed PyTorch reference
(``bifsmn.deploy.deploy(..., param_dtype="f24", classifier_dtype="i8")``) computes with the same
float32 values, so the two stay bit-identical on every path. Also: the storage arithmetic
itself, the record round trip, the lowest-version rule for writers, and one-line errors for
damaged narrow records. None of this needs the shared data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bifsmn.cli import main
from bifsmn.data.features import LogMel
from bifsmn.deploy.storage import dequantize_rows, quantize_rows, round_f24
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.export import COMPACT
from bifsmn.engine.format import decode, encode, file_version, float_array, make_record, read_file
from bifsmn.engine.testing import (
    assert_engine_matches_deployed,
    make_checkpoint,
    random_features,
    synthetic_audio,
)
from bifsmn.errors import BifsmnError

REPO = Path(__file__).resolve().parents[1]


def _inputs(n_mels: int = 32) -> np.ndarray:
    x = [random_features(8, seed=19, n_mels=n_mels)]
    if n_mels == 32:
        x.append(LogMel()(torch.from_numpy(synthetic_audio(6, seed=18))).numpy())
    return np.concatenate([*x, np.full((1, 1, n_mels, 32), -100.0, np.float32)])


# --------------------------------------------------------------------------- storage
def test_round_f24_is_round_half_even_on_the_low_byte() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(10_000) * 10.0 ** rng.integers(-6, 6, 10_000),
                        [0.0, -0.0, 1.0, -2.5]])
    r = round_f24(x)
    assert r.dtype == np.float32 and not (r.view(np.uint32) & 0xFF).any()
    x32 = x.astype(np.float32)
    assert np.all(np.abs(r - x32) <= np.abs(x32) * 2.0 ** -16)
    # ties: low byte 0x80 rounds to the even neighbour
    base = np.array([0x3F800000, 0x3F800100], np.uint32)
    tie = (base | 0x80).view(np.float32)
    np.testing.assert_array_equal(round_f24(tie).view(np.uint32), [0x3F800000, 0x3F800200])
    assert np.isinf(round_f24(np.array([np.finfo(np.float32).max]))).all()


def test_int8_rows_dequantize_within_half_a_step() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((5, 40))
    w[3] = 0.0
    q, scale = quantize_rows(w)
    assert q.dtype == np.int8 and scale.dtype == np.float32 and np.abs(q).max() <= 127
    assert scale[3] == 1.0 and not q[3].any()
    deq = dequantize_rows(q, scale)
    assert deq.dtype == np.float32
    assert np.all(np.abs(deq - w) <= 0.5 * scale[:, None] * (1 + 1e-6))
    # the widening is one float32 product per element
    np.testing.assert_array_equal(deq, np.float32(q) * scale[:, None])


def test_narrow_records_round_trip() -> None:
    v = round_f24(np.linspace(-3, 3, 24).reshape(2, 12))
    q, scale = quantize_rows(np.arange(-6, 6, dtype=np.float64).reshape(3, 4))
    recs = [make_record("a", v, "f24"), make_record("c", q, "i8"),
            make_record("c.qscale", scale, "f32")]
    data = encode(recs)
    assert int.from_bytes(data[8:12], "little") == 4  # narrow dtypes need version 4
    back = decode(data)
    assert len(back["a"].data) == 3 * 24
    np.testing.assert_array_equal(back["a"].array(), v)
    np.testing.assert_array_equal(float_array(back, "c"), dequantize_rows(q, scale))
    with pytest.raises(ValueError, match="rounded to 24 bits"):
        make_record("x", np.array([1.0 + 2.0 ** -20], np.float32), "f24")
    with pytest.raises(BifsmnError, match="qscale"):
        float_array(decode(encode(recs[:2])), "c")


# --------------------------------------------------------------------------- parity
@pytest.mark.parametrize("kind", ["bifsmnv2", "bifsmn_v1"])
@pytest.mark.parametrize("dtypes", [COMPACT, {"classifier_dtype": "i8"},
                                    {"param_dtype": "f24"}], ids=["compact", "i8", "f24"])
def test_narrow_storage_bit_identical_to_its_reference(tmp_path, kind, dtypes) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", kind, seed=41)
    full = export_checkpoint(ckpt, tmp_path / "full.bkws")
    small = export_checkpoint(ckpt, tmp_path / "small.bkws", **dtypes)
    assert small.stat().st_size < full.stat().st_size
    assert file_version(small) == 4 and file_version(full) == 3
    recs = read_file(small)
    if dtypes.get("classifier_dtype") == "i8":
        assert recs["classifier.w"].dtype == "i8" and recs["classifier.w.qscale"].dtype == "f32"
    if dtypes.get("param_dtype") == "f24":
        assert recs["conv1.w"].dtype == "f24" and recs["b0.fc_in.scale"].dtype == "f24"
        assert recs["act1"].dtype == "f32"  # slopes stay f32
    assert_engine_matches_deployed(small, ckpt, _inputs(), **dtypes)


def test_single_path_compact_files(tmp_path) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=42)
    sizes = []
    for blocks in (8, 4, 2, 1):
        out = export_checkpoint(ckpt, tmp_path / f"b{blocks}.bkws", blocks, **COMPACT)
        assert Engine(out).paths == [blocks]
        assert_engine_matches_deployed(out, ckpt, _inputs(), **COMPACT)
        sizes.append(out.stat().st_size)
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("name", ["bifsmnv2_a01_sc12dev", "bifsmnv2_fbank40"])
def test_committed_models_compact_parity(tmp_path, name) -> None:
    ckpt = REPO / "models" / f"{name}.pt"
    if not ckpt.is_file():
        pytest.skip(f"{ckpt} not in this checkout")
    out = export_checkpoint(ckpt, tmp_path / "c.bkws", **COMPACT)
    full = export_checkpoint(ckpt, tmp_path / "f.bkws")
    assert out.stat().st_size < 0.75 * full.stat().st_size
    assert_engine_matches_deployed(out, ckpt, _inputs(40 if "fbank40" in name else 32), **COMPACT)


# --------------------------------------------------------------------------- refusals
def _compact_bytes(tmp_path) -> bytes:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=43)
    return export_checkpoint(ckpt, tmp_path / "c.bkws", **COMPACT).read_bytes()


def test_damaged_narrow_records_are_one_line_errors_naming_the_file(tmp_path) -> None:
    recs = decode(_compact_bytes(tmp_path))
    no_scale = [r for r in recs.values() if r.name != "classifier.w.qscale"]
    bad_scale = [r if r.name != "classifier.w.qscale" else make_record(r.name, np.ones(5), "f32")
                 for r in recs.values()]
    f16_scale = [r if r.name != "classifier.w.qscale"
                 else make_record(r.name, r.array(), "f16") for r in recs.values()]
    nan_scale = [r if r.name != "classifier.w.qscale"
                 else make_record(r.name, np.full(r.shape, np.nan), "f32")
                 for r in recs.values()]
    cases = {
        "missing qscale": (encode(no_scale), "missing record 'classifier.w.qscale'"),
        "qscale shape": (encode(bad_scale), "'classifier.w.qscale' has shape"),
        "qscale dtype": (encode(f16_scale), "'classifier.w.qscale' has dtype f16"),
        "qscale nan": (encode(nan_scale), "NaN"),
        "v4 dtype in a v3 file": (encode(list(recs.values()), version=3), "needs format version 4"),
    }
    for what, (data, msg) in cases.items():
        path = tmp_path / f"{what.replace(' ', '_')}.bkws"
        path.write_bytes(data)
        with pytest.raises(BifsmnError) as info:
            Engine(path)
        text = str(info.value)
        assert str(path) in text and msg in text and "\n" not in text, (what, text)
    with pytest.raises(BifsmnError, match="needs format version 4"):
        read_file(tmp_path / "v4_dtype_in_a_v3_file.bkws")


def test_oversized_narrow_record_is_refused(tmp_path) -> None:
    """A record whose byte count disagrees with its shape (too large for it) is refused by
    both readers, naming the file."""
    import struct
    import zlib

    data = bytearray(_compact_bytes(tmp_path))
    name = b"classifier.w"
    at = data.index(bytes([len(name)]) + name + bytes([7]))  # the i8 record's header
    dims_at = at + 1 + len(name) + 4
    rows, cols = struct.unpack_from("<II", data, dims_at)
    struct.pack_into("<I", data, dims_at, rows + 1)  # shape now needs more bytes than stored
    struct.pack_into("<I", data, 24, zlib.crc32(bytes(data[32:])))
    struct.pack_into("<I", data, 28, zlib.crc32(bytes(data[:28])))
    path = tmp_path / "big.bkws"
    path.write_bytes(bytes(data))
    for load in (Engine, read_file):
        with pytest.raises(BifsmnError) as info:
            load(path)
        assert str(path) in str(info.value) and "size does not match" in str(info.value)
        assert "\n" not in str(info.value)


def test_cli_compact(tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=44)
    out = tmp_path / "c.bkws"
    assert main(["export", str(ckpt), "-o", str(out), "--compact"]) == 0
    assert "kind bifsmnv2" in capsys.readouterr().out
    recs = read_file(out)
    assert recs["classifier.w"].dtype == "i8" and recs["conv1.b"].dtype == "f24"
    assert main(["export", str(ckpt), "-o", str(out), "--compact", "--param-dtype", "f16"]) != 0
    assert "--compact sets" in capsys.readouterr().err
    teacher = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=45)
    with pytest.raises(BifsmnError, match="i8 applies to binary models only"):
        export_checkpoint(teacher, tmp_path / "t.bkws", classifier_dtype="i8")
    with pytest.raises(BifsmnError, match="f24 applies to binary models only"):
        export_checkpoint(teacher, tmp_path / "t.bkws", param_dtype="f24")
