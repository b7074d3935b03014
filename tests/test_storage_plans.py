"""Storage plans (``bifsmn export --storage``, :mod:`bifsmn.deploy.plans`) and format version 5
(an int8 record with one scale for the whole record): the file stays bit-identical to its own
deployed PyTorch reference on every path, the records carry the planned dtypes, and the
version is stamped so that older readers refuse the file instead of misreading it."""

from __future__ import annotations

import numpy as np
import pytest

from bifsmn.cli import main
from bifsmn.deploy import fold
from bifsmn.deploy.plans import GROUPS, PLANS, group_of, narrowed_spec, parse_plan
from bifsmn.deploy.storage import dequantize_rows, quantize_record
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.format import encode, file_version, float_array, read_file
from bifsmn.engine.testing import (
    assert_engine_matches_deployed,
    make_checkpoint,
    random_features,
)
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import model_from_checkpoint


def test_quantize_record_one_scale() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(2, 37)) * np.array([[1e-3], [3.0]])
    q, scale = quantize_record(v)
    assert q.dtype == np.int8 and q.shape == v.shape and scale.shape == (1,)
    assert np.abs(q).max() == 127 and scale[0] == np.float32(np.abs(v).max() / 127)
    back = dequantize_rows(q, scale)
    assert np.abs(back - v).max() <= 0.5 * scale[0] * (1 + 1e-6)
    # one scale for both rows: the small row loses (almost) everything, as documented
    assert (q[0] == 0).mean() > 0.9
    zq, zs = quantize_record(np.zeros(5))
    assert zs[0] == 1.0 and not zq.any()


def test_group_of_every_constant(tmp_path) -> None:
    spec = fold(model_from_checkpoint(make_checkpoint(tmp_path / "m.pt", "bifsmnv2",
                                                      seed=41))[0], None)
    groups = {name: group_of(name) for name in spec.constants}
    assert groups["conv1.w"] == groups["conv1.b"] == "conv1"
    assert groups["fc1.tau"] == groups["b0.mem.tau"] == "tau"
    assert groups["conv2.tau2"] == "tau2" and groups["classifier.w"] == "classifier"
    assert groups["b0.fc_out.scale.p0"] == groups["fc1.scale"] == "scale"
    assert groups["b0.fc_out.bias.p0"] == groups["b0.mem.bias"] == "bias"
    assert groups["classifier.b"] is None and groups["act1"] is None
    # every per-channel float constant belongs to a group; only scalars, bits and the
    # classifier bias are left as folded
    for name, c in spec.constants.items():
        if groups[name] is None:
            assert c.dtype == "bits" or c.value.size == 1 or name == "classifier.b", name


def test_parse_plan() -> None:
    assert parse_plan("small") == PLANS["small"]
    plan = parse_plan("tau=i8, bias=i8r")
    assert plan["tau"] == "i8" and plan["bias"] == "i8r" and plan["scale"] == "f32"
    assert set(plan) == set(GROUPS)
    for bad in ("tau=i9", "weights=f16", "tau"):
        with pytest.raises(BifsmnError, match="storage plan item"):
            parse_plan(bad)
    with pytest.raises(BifsmnError, match="names group 'tau' twice"):
        parse_plan("tau=f16,tau=i8")  # not silently the last


@pytest.mark.parametrize("kind", ["bifsmnv2", "bifsmn_v1"])
def test_small_plan_bit_identical(tmp_path, kind) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", kind, seed=43)
    full = export_checkpoint(ckpt, tmp_path / "full.bkws")
    compact = export_checkpoint(ckpt, tmp_path / "compact.bkws", param_dtype="f24",
                                classifier_dtype="i8")
    small = export_checkpoint(ckpt, tmp_path / "small.bkws", storage="small")
    assert small.stat().st_size < compact.stat().st_size < full.stat().st_size
    assert file_version(small) == 5 and file_version(compact) == 4
    recs = read_file(small)
    assert recs["b0.fc_in.bias"].dtype == "i8" and recs["b0.fc_in.bias.qscale"].shape == (1,)
    assert recs["b0.fc_out.bias.p0"].dtype == "i8"
    assert recs["b0.fc_in.scale"].dtype == "f16" and recs["conv1.w"].dtype == "f16"
    assert recs["classifier.w"].dtype == "i8"
    assert recs["classifier.w.qscale"].shape == (recs["classifier.w"].shape[0],)
    if kind == "bifsmnv2":
        assert recs["fc1.tau"].dtype == "i8" and recs["fc1.tau.qscale"].shape == (2,)
    assert recs["act1"].dtype == "f32"
    x = random_features(12, seed=44)
    assert_engine_matches_deployed(small, ckpt, x, storage="small")
    # the Python reader widens the whole-record scale as the engine does
    model, meta = model_from_checkpoint(ckpt)
    spec = fold(model, meta["binary"], storage="small")
    np.testing.assert_array_equal(float_array(recs, "b0.mem.bias"),
                                  spec.constants["b0.mem.bias"].widened())


def test_plan_paths_and_errors(tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=45)
    two = export_checkpoint(ckpt, tmp_path / "two.bkws", blocks=2, storage="tau=i8,bias=i8r")
    assert Engine(two).paths == [2]
    assert_engine_matches_deployed(two, ckpt, random_features(4, seed=46),
                                   storage="tau=i8,bias=i8r")
    teacher = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=47)
    with pytest.raises(BifsmnError, match="binary models"):
        export_checkpoint(teacher, tmp_path / "t.bkws", storage="small")
    model, meta = model_from_checkpoint(ckpt)
    with pytest.raises(BifsmnError, match="sets every dtype"):
        fold(model, meta["binary"], param_dtype="f16", storage="small")
    with pytest.raises(BifsmnError, match="starts from float32"):
        narrowed_spec(fold(model, meta["binary"], param_dtype="f16"), PLANS["small"])
    with pytest.raises(BifsmnError, match="float16 range"):
        narrowed_spec(fold(model, meta["binary"]), PLANS["small"],
                      {"fc1.scale": np.full(fold(model, meta["binary"]).array(
                          "fc1.scale").shape, 1e6)})
    assert main(["export", str(ckpt), "-o", str(tmp_path / "s.bkws"), "--storage", "small"]) == 0
    assert "kind bifsmnv2" in capsys.readouterr().out
    assert main(["export", str(ckpt), "-o", str(tmp_path / "s.bkws"), "--storage", "small",
                 "--compact"]) != 0
    assert "--storage sets every dtype" in capsys.readouterr().err


def test_whole_record_scale_needs_version_5(tmp_path) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=48)
    small = export_checkpoint(ckpt, tmp_path / "small.bkws", storage="small")
    recs = list(read_file(small).values())
    old = tmp_path / "v4.bkws"
    old.write_bytes(encode(recs, version=4))  # the same records stamped version 4
    with pytest.raises(BifsmnError, match="qscale") as info:
        Engine(old)
    assert "\n" not in str(info.value) and str(old) in str(info.value)  # one line, names it
    with pytest.raises(BifsmnError, match="needs format version 5"):
        read_file(old)  # the Python reader refuses it as the engine does
    assert Engine(small).predict(random_features(1, seed=1)).shape == (1, 12)  # v5 loads
