"""`bifsmn eval` on a `.bkws` file: the C++ engine scores the file on the features its
checkpoint would be scored on, so a float32 export scores exactly as the checkpoint and a
narrowed export (`--storage small`) gets its own number, and `--against` scores it beside its
checkpoint on the same inputs."""

from __future__ import annotations

import json

import pytest

from bifsmn.cli import main
from bifsmn.data.features import FeatureConfig
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import deploy
from bifsmn.engine import export_checkpoint
from bifsmn.engine.testing import make_checkpoint
from bifsmn.errors import MissingPath
from bifsmn.evaluate import compare_paths, evaluate_checkpoint_paths
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
    assert out["blocks"] == 2 and out["checkpoint"] == out["model"] == str(bkws)
    assert 0.0 <= out["accuracy"] <= 1
    assert main(["eval", "--model", str(bkws), "--data", str(full_ds)]) == 2  # 8: not in it
    assert "8 blocks not in this file" in capsys.readouterr().err


def test_compare_scores_a_file_beside_its_checkpoint(full_ds, cache_dir, tmp_path) -> None:
    """`compare_paths`: a float32 export changes nothing on any path; a narrowed one's
    accuracies, change and changed predictions are those of the two functions computed apart
    (the deployed reference of the narrowed constants, the checkpoint's deployed function)."""
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=5)
    f32 = export_checkpoint(ckpt, tmp_path / "m.bkws")
    small = export_checkpoint(ckpt, tmp_path / "small.bkws", storage="small")
    kw = {"split": "validation", "cache_dir": cache_dir, "progress": False}
    same = compare_paths(f32, ckpt, full_ds, **kw)
    assert sorted(same) == [1, 2, 4, 8]
    assert all(r["changed"] == 0 and r["change_points"] == 0 and r["count"] > 0
               for r in same.values())
    rows = compare_paths(small, ckpt, full_ds, **kw)
    model, meta = model_from_checkpoint(ckpt)
    narrow, exact = (deploy(model, meta["binary"], storage="small"),
                     deploy(model, meta["binary"]))
    x, y, _, _ = split_inputs(full_ds, "validation", feature_config_from_dict(meta["features"]),
                              12, "auto", cache_dir, False)
    for b, r in rows.items():
        p, q = narrow(x, b).argmax(1), exact(x, b).argmax(1)
        assert r["accuracy"] == pytest.approx(float((p == y).float().mean()))
        assert r["against_accuracy"] == pytest.approx(float((q == y).float().mean()))
        assert r["changed"] == int((p != q).sum())
        assert r["change_points"] == pytest.approx(100 * (r["accuracy"] - r["against_accuracy"]))
    assert any(r["changed"] for r in rows.values())  # this seed's rounding flips some clips
    assert list(compare_paths(small, ckpt, full_ds, blocks=[2], **kw)) == [2]


def test_eval_against_cli_and_refusals(full_ds, tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=6)
    small = export_checkpoint(ckpt, tmp_path / "small.bkws", storage="small")
    assert main(["eval", "--model", str(small), "--against", str(ckpt), "--data", str(full_ds),
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["blocks"] for r in rows] == [8, 4, 2, 1]
    assert all(r["model"] == str(small) and r["against"] == str(ckpt) for r in rows)
    assert main(["eval", "--model", str(small), "--against", str(ckpt), "--data", str(full_ds),
                 "--blocks", "2"]) == 0
    out = capsys.readouterr().out
    assert f"{small} against {ckpt}" in out and out.strip().splitlines()[-1].split()[0] == "2"
    # another front end: not the same inputs, so no comparison
    other = make_checkpoint(tmp_path / "other.pt", "bifsmnv2", seed=6,
                            features=dict(FeatureConfig().to_dict(), f_min=20.0))
    assert main(["eval", "--model", str(small), "--against", str(other), "--data",
                 str(full_ds)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(other) in err and "other features" in err
    # files of other path sets: by default the paths both have, in either order
    two = export_checkpoint(ckpt, tmp_path / "two.bkws", blocks="8,2")
    for model, ref in ((small, two), (two, ckpt)):
        assert main(["eval", "--model", str(model), "--against", str(ref), "--data",
                     str(full_ds), "--json"]) == 0
        assert [r["blocks"] for r in json.loads(capsys.readouterr().out)] == [8, 2]
    # a path named that the reference does not hold, and no path in common
    assert main(["eval", "--model", str(small), "--against", str(two), "--data",
                 str(full_ds), "--blocks", "4"]) == 2
    assert "not in this file" in capsys.readouterr().err
    one = export_checkpoint(ckpt, tmp_path / "one.bkws", blocks=1)
    assert main(["eval", "--model", str(one), "--against", str(two), "--data",
                 str(full_ds)]) == 2
    err = capsys.readouterr().err
    assert "has no path in common" in err and "blocks 8, 2 against 1" in err, err


def test_a_narrowed_export_names_the_comparison(tmp_path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=7)
    assert main(["export", str(ckpt), "-o", str(tmp_path / "f32.bkws")]) == 0
    assert "--against" not in capsys.readouterr().out  # the float32 file is the checkpoint's
    for opts in (["--storage", "small"], ["--compact"], ["--classifier-dtype", "i8"]):
        out = tmp_path / "n.bkws"
        assert main(["export", str(ckpt), "-o", str(out), *opts]) == 0
        assert f"bifsmn eval --model {out} --against {ckpt}" in capsys.readouterr().out


def test_export_blocks_that_name_no_path(tmp_path, capsys) -> None:
    """`--blocks ''` (an empty shell variable, say) is refused, not read as every path."""
    ckpt = make_checkpoint(tmp_path / "m.pt", "bifsmnv2", seed=8)
    for empty in ("", " , "):
        assert main(["export", str(ckpt), "-o", str(tmp_path / "e.bkws"), "--blocks",
                     empty]) == 2
        assert "--blocks names no path" in capsys.readouterr().err
    assert not (tmp_path / "e.bkws").exists()
