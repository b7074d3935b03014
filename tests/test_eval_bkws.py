"""`bifsmn eval` on a `.bkws` file: the C++ engine scores the file on the features its
checkpoint would be scored on, so a float32 export scores exactly as the checkpoint and a
narrowed export (`--storage small`) gets its own number."""

from __future__ import annotations

import json

import pytest

from bifsmn.cli import main
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import deploy
from bifsmn.engine import export_checkpoint
from bifsmn.engine.testing import make_checkpoint
from bifsmn.errors import MissingPath
from bifsmn.evaluate import evaluate_checkpoint_paths
from bifsmn.train.checkpoint import model_from_checkpoint


def test_bkws_scores_as_its_checkpoint_and_narrowed_files_as_themselves(full_ds, cache_dir,
                                                                        tmp_path) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=3)
    f32 = export_checkpoint(ckpt, tmp_path / "m.bkws")
    small = export_checkpoint(ckpt, tmp_path / "small.bkws", storage="small")
    kw = {"split": "validation", "cache_dir": cache_dir, "progress": False}
    ref = evaluate_checkpoint_paths(ckpt, full_ds, **kw)
    got = evaluate_checkpoint_paths(f32, full_ds, **kw)
    assert sorted(got) == sorted(ref) == [1, 2, 4, 8]
    for b in ref:  # the same predictions clip for clip, so the same confusion matrix
        assert got[b]["confusion"] == ref[b]["confusion"] and got[b]["count"] > 0
        assert got[b]["engine"]["file_bytes"] == f32.stat().st_size
    # the narrowed file is scored as what it computes: its deployed reference's predictions
    model, meta = model_from_checkpoint(ckpt)
    narrow = deploy(model, meta["binary"], storage="small")
    got_small = evaluate_checkpoint_paths(small, full_ds, blocks=[8, 2], **kw)
    x, y, _, _ = split_inputs(full_ds, "validation", feature_config_from_dict(meta["features"]),
                              12, "auto", cache_dir, False)
    for b in (8, 2):
        pred = narrow(x, b).argmax(1)
        assert got_small[b]["accuracy"] == pytest.approx(float((pred == y).float().mean()))
    with pytest.raises(MissingPath, match="exported"):
        evaluate_checkpoint_paths(export_checkpoint(ckpt, tmp_path / "m8.bkws", blocks=8),
                                  full_ds, blocks=[2], **kw)


def test_eval_cli_takes_a_bkws(full_ds, tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=4)
    bkws = export_checkpoint(ckpt, tmp_path / "m.bkws", blocks=2)
    assert main(["eval", "--model", str(bkws), "--data", str(full_ds), "--blocks", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["blocks"] == 2 and out["checkpoint"] == str(bkws) and 0.0 <= out["accuracy"] <= 1
    assert main(["eval", "--model", str(bkws), "--data", str(full_ds)]) == 2  # 8: not in it
    assert "8 blocks not in this file" in capsys.readouterr().err
