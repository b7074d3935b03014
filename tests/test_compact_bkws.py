"""Compact .bkws files: float16 per-channel constants (``--param-dtype f16``) and an FP16
classifier, with the engine bit-identical to the deployed PyTorch reference built from the same
float16 values (``bifsmn.deploy.deploy(..., param_dtype="f16", classifier_dtype="f16")``) on
every path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bifsmn.cli import main
from bifsmn.data.features import LogMel
from bifsmn.deploy import predict
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.format import read_file
from bifsmn.engine.testing import (
    assert_engine_matches_deployed,
    make_checkpoint,
    random_features,
    synthetic_audio,
)
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import model_from_checkpoint


def _inputs() -> np.ndarray:
    feats = LogMel()(torch.from_numpy(synthetic_audio(6, seed=8))).numpy()
    return np.concatenate([random_features(8, seed=9), feats,
                           np.full((1, 1, 32, 32), -100.0, np.float32)])


@pytest.mark.parametrize("kind", ["bifsmnv2", "bifsmn_v1"])
@pytest.mark.parametrize("cls_dtype", ["f32", "f16"])
def test_f16_params_bit_identical(tmp_path, kind, cls_dtype) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", kind, seed=31)
    full = export_checkpoint(ckpt, tmp_path / "full.bkws")
    small = export_checkpoint(ckpt, tmp_path / "small.bkws", param_dtype="f16",
                              classifier_dtype=cls_dtype)
    assert small.stat().st_size < full.stat().st_size
    recs = read_file(small)
    assert recs["conv1.w"].dtype == "f16" and recs["b0.fc_in.scale"].dtype == "f16"
    assert all(r.dtype == "f16" for k, r in recs.items() if k.endswith(".tau"))
    assert recs["act1"].dtype == "f32"  # scalars stay f32
    x = _inputs()
    assert_engine_matches_deployed(small, ckpt, x, param_dtype="f16", classifier_dtype=cls_dtype)
    # the default export still equals the default deployed form exactly
    model, _ = model_from_checkpoint(ckpt)
    np.testing.assert_array_equal(Engine(full).predict(x),
                                  predict(model, torch.from_numpy(x), 8).numpy())


def test_f16_params_refused_for_fp_and_out_of_range(tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher", seed=2)
    with pytest.raises(BifsmnError, match="binary models only"):
        export_checkpoint(ckpt, tmp_path / "t.bkws", param_dtype="f16")
    big = make_checkpoint(tmp_path / "b.pt", "bifsmnv2", seed=3)
    ck = torch.load(big, weights_only=False)
    key = next(k for k in ck["state_dict"] if k.endswith("hid_bn.bias"))
    ck["state_dict"][key] = ck["state_dict"][key] + 1e6
    torch.save(ck, big)
    with pytest.raises(BifsmnError, match="float16 range"):
        export_checkpoint(big, tmp_path / "b.bkws", param_dtype="f16")
    ok = make_checkpoint(tmp_path / "ok.pt", "bifsmnv2", seed=4)
    assert main(["export", str(ok), "-o", str(tmp_path / "ok.bkws"), "--param-dtype", "f16",
                 "--classifier-dtype", "f16"]) == 0
    assert "kind bifsmnv2" in capsys.readouterr().out
