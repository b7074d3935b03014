"""``bifsmn compare`` on tiny data: two methods, one epoch, a well-formed table, reuse."""

from __future__ import annotations

import csv
import json

from bifsmn.cli import main
from bifsmn.compare import storage_bytes
from bifsmn.train.config import config_from_dict
from bifsmn.train.trainer import Trainer


def test_compare_two_methods(full_ds, cache_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIFSMN_CACHE", str(cache_dir))
    cfg = config_from_dict({
        "model": {"name": "dfsmn_teacher"},
        "data": {"root": str(full_ds), "batch_size": 16},
        "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
        "train": {"epochs": 1, "threads": 1}})
    Trainer(cfg, tmp_path / "teacher", progress=False).fit()
    teacher = str(tmp_path / "teacher" / "best.pt")
    out = tmp_path / "cmp"
    args = ["compare", "--data", str(full_ds), "--teacher", teacher, "--epochs", "1",
            "--methods", "bifsmnv2,bnn", "--out", str(out), "data.batch_size=16",
            "train.threads=1"]
    # a name that is not a method fails before anything trains, naming the right flag
    assert main([*args[:8], "bifsmnv2,no_fid", *args[9:]]) == 2
    assert "'no_fid' (an ablation: add --ablation)" in capsys.readouterr().err
    assert not out.exists()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"bifsmnv2: trained ({out / 'bifsmnv2'})" in printed  # one line per method
    # a subset's tables never replace the full comparison's
    md = (out / "compare-selected.md").read_text()
    rows = list(csv.DictReader((out / "compare-selected.csv").open()))
    assert [r["method"] for r in rows] == ["bifsmnv2", "bnn"]
    for r in rows:
        for b in (8, 4, 2, 1):
            assert 0.0 <= float(r[f"acc_{b}"]) <= 1.0
        assert int(r["params"]) > 600_000
        assert int(r["storage_bytes"]) < 600_252 * 4 / 5  # far below the FP32 teacher
        assert int(r["binary_macs_8"]) > int(r["fp_macs_8"])
    assert int(rows[0]["binary_macs_8"]) == 2 * int(rows[1]["binary_macs_8"])  # dual scale
    assert md.count("\n| bifsmnv2 |") == 1 and "| 8 blocks | 4 blocks |" in md
    # BNN trains with its stabilizers (BN after fc1, clipping), marked and footnoted
    assert "\n| bnn \\*(fc1 BN, clip 5) |" in md and "\n\\* Trained with stabilizers" in md
    assert "seed 0," in md and "Overrides applied to every method: `data.batch_size=16 " \
        "train.threads=1`" in md
    assert (out / "compare-selected.png").is_file()
    assert all((out / m / "best.pt").is_file() for m in ("bifsmnv2", "bnn"))
    capsys.readouterr()
    # a second call reuses the finished runs (a name given twice runs once), also with the
    # teacher spelled as a relative path (training stores it absolute in config.yaml)
    mtime = (out / "bnn" / "best.pt").stat().st_mtime_ns
    monkeypatch.chdir(tmp_path)
    again = [*args[:4], "teacher/best.pt", *args[5:8], "bifsmnv2,bnn,bnn", *args[9:]]
    assert main(again) == 0
    assert "bnn: reused" in capsys.readouterr().out
    assert (out / "bnn" / "best.pt").stat().st_mtime_ns == mtime
    statuses = [r["status"] for r in csv.DictReader((out / "compare-selected.csv").open())]
    assert statuses == ["reused", "reused"]


def test_storage_counts_one_bit_per_binarized_weight(full_ds, cache_dir, tmp_path):
    from bifsmn.binary.convert import binarize
    from bifsmn.models import create_model

    fp = create_model("dfsmn_thinnable")
    fp_bytes = storage_bytes(fp)
    assert fp_bytes == 4 * (606_431 + sum(b.numel() for n, b in fp.named_buffers()
                                          if "running" in n))
    b = storage_bytes(binarize(create_model("dfsmn_thinnable"), "bifsmnv2"))
    assert b < fp_bytes / 5
    ref = storage_bytes(binarize(create_model("dfsmn_thinnable"), "bifsmnv2",
                                 granularity="reference"))
    assert ref > 3 * b  # reference keeps the 1x1 weights in full precision
    # ... and so its MACs: the same layers count as FP in the operation columns
    from bifsmn.compare import method_stats

    ours = method_stats(binarize(create_model("dfsmn_thinnable"), "bifsmnv2"), "bifsmnv2")
    mixed = method_stats(binarize(create_model("dfsmn_thinnable"), "bifsmnv2",
                                  granularity="reference"), "bifsmnv2")
    assert mixed[8]["fp_macs"] > ours[8]["fp_macs"] and mixed[8]["ops"] > ours[8]["ops"]
    # the model's own input size (an fbank40 student reads 40 bands), not 32 x 32
    wide = method_stats(binarize(create_model("dfsmn_thinnable", n_mels=40), "bifsmnv2"),
                        "bifsmnv2")
    assert wide[8]["binary_macs"] > ours[8]["binary_macs"]


def test_train_accepts_recipe_names(full_ds, cache_dir, tmp_path, monkeypatch, capsys):
    import yaml

    monkeypatch.setenv("BIFSMN_CACHE", str(cache_dir))
    cfg = config_from_dict({"data": {"root": str(full_ds), "batch_size": 16},
                            "train": {"epochs": 1, "threads": 1}})
    Trainer(cfg, tmp_path / "teacher", progress=False).fit()
    out = tmp_path / "bnn"
    assert main(["train", "--config", "bnn", "--teacher", str(tmp_path / "teacher" / "best.pt"),
                 "--data", str(full_ds), "--epochs", "1", "--out", str(out),
                 "data.batch_size=16", "train.threads=1"]) == 0
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["binary"]["method"] == "bnn" and resolved["distill"]["kind"] == "none"
    assert resolved["optim"]["grad_clip"] == 5.0 and resolved["train"]["epochs"] == 1
    assert resolved["model"]["kwargs"] == {"fc1_norm": True}
    assert main(["train", "--config", "nonsense", "--data", str(full_ds)]) == 2
    assert "no config file 'nonsense'" in capsys.readouterr().err


def test_fc1_norm_models_load_the_teacher_and_are_not_exported(tmp_path):
    """The unscaled baselines' BatchNorm after fc1 is new (fresh statistics) on top of the
    teacher's weights; the engine has no such layer, so export refuses with a clear error."""
    import pytest
    import torch

    from bifsmn.engine.testing import make_checkpoint
    from bifsmn.errors import BifsmnError
    from bifsmn.models import create_model
    from bifsmn.train.warm_start import init_from_checkpoint

    teacher = make_checkpoint(tmp_path / "t.pt", "dfsmn_teacher")
    model = create_model("dfsmn_thinnable", fc1_norm=True)
    init_from_checkpoint(model, str(teacher))
    assert isinstance(model.norm3, torch.nn.BatchNorm1d)
    src = torch.load(teacher, weights_only=True)["state_dict"]
    assert torch.equal(model.fc1.weight, src["fc1.weight"])
    assert isinstance(create_model("dfsmn_thinnable").norm3, torch.nn.Identity)
    ckpt = make_checkpoint(tmp_path / "b.pt", "bifsmnv2", fc1_norm=True)
    from bifsmn.engine import export_checkpoint

    with pytest.raises(BifsmnError, match="fc1_norm"):
        export_checkpoint(ckpt, tmp_path / "b.bkws")


def test_diverged_runs_are_reported_as_such(tmp_path):
    """A run whose loss went NaN shows "diverged" in the table instead of chance accuracy."""
    from bifsmn.compare import BLOCKS, _diverged, write_tables

    for name, loss in (("ok", "1.5"), ("nan", "nan")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.csv").write_text(f"epoch,train_loss\n1,2.0\n2,{loss}\n")
    assert not _diverged(tmp_path / "ok") and _diverged(tmp_path / "nan")
    row = {"binary": "bifsmnv2", "distill": "fid", "epochs": 1, "grad_clip": 0.0,
           "fc1_norm": False, "status": "trained", "params": 1, "storage_bytes": 1024,
           "binary_macs_8": 1, "fp_macs_8": 1, "ops_8": 1.0, "s_per_epoch": 1.0,
           "teacher_acc": 0.9, **{f"acc_{b}": 0.5 for b in BLOCKS},
           **{f"gap_{b}": 0.4 for b in BLOCKS}}
    rows = [{"method": "ok", **row, "diverged": False},
            {"method": "nan", **row, "diverged": True, "s_per_epoch": None}]
    write_tables(rows, tmp_path / "t", "data", "teacher.pt", 1)
    md = (tmp_path / "t.md").read_text()
    assert "| ok | bifsmnv2 | fid | 50.00 (-40.00) |" in md
    # the markdown's signed difference and the CSV/JSON gap have opposite signs: said once
    assert "this path minus the FP teacher" in md and "teacher minus the path" in md
    assert json.loads((tmp_path / "t.json").read_text())[0]["gap_8"] == 0.4
    assert "| nan | bifsmnv2 | fid | diverged (NaN loss) | diverged (NaN loss) |" in md
    # seconds per epoch: a diverged run has none (wall time / planned epochs read as a speed)
    lines = {ln.split(" | ")[0]: ln for ln in md.splitlines() if ln.startswith("| ")}
    assert lines["| ok"].endswith("| 1.0 |") and lines["| nan"].endswith("| – |"), md
    assert json.loads((tmp_path / "t.json").read_text())[1]["s_per_epoch"] is None


def test_methods_without_an_activation_scale_carry_clipping():
    """BNN, Bi-Real, IR-Net and (since the gradient fix) BiFSMN v1 diverge to NaN in their first
    epoch with the shared recipe; their recipes carry gradient-norm clipping, the scaled
    methods do not (clipping cost BiFSMNv2 accuracy in a trial before the fix)."""
    from bifsmn.recipes import RECIPES

    clipped = {name for name, items in RECIPES.items() if "optim.grad_clip=5" in items}
    assert clipped == {"bnn", "bireal", "ir_net", "bifsmn_v1"}
