"""`bifsmn train`'s command line: what it refuses before anything is written, where overrides
may stand, and a config.yaml that resumes from any working directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import yaml

from bifsmn.cli import main
from bifsmn.data.download import download_speech_commands
from bifsmn.errors import BifsmnError
from bifsmn.train.config import config_from_dict
from bifsmn.train.trainer import Trainer


def _config(path: Path, cache: Path) -> Path:
    cfg = {"model": {"name": "dfsmn_teacher", "kwargs": {"dropout": 0.0}},
           "data": {"batch_size": 16, "cache_dir": str(cache), "limit_train": 32,
                    "augment": False},
           "optim": {"name": "adam", "lr": 2e-3},
           "train": {"epochs": 1, "seed": 1, "threads": 1, "device": "cpu"}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_overrides_anywhere_absolute_paths_and_resume_flags(full_ds, cache_dir, tmp_path,
                                                             monkeypatch, capsys):
    cfg = _config(tmp_path / "c.yaml", cache_dir)
    monkeypatch.chdir(tmp_path)
    rel = os.path.relpath(full_ds, tmp_path)
    # overrides before and after the options: all of them apply
    assert main(["train", "--config", "c.yaml", "train.seed=2", "--data", rel, "--out", "run",
                 "train.plot_every=1"]) == 0
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["seed"] == 2 and saved["train"]["plot_every"] == 1
    assert saved["data"]["root"] == str(full_ds.resolve())  # absolute: resumes from anywhere
    # the run folder stands for its best.pt wherever a checkpoint is read
    assert main(["eval", "--checkpoint", "run", "--data", rel]) == 0
    assert "accuracy" in capsys.readouterr().out.lower()
    (tmp_path / "run" / "best.pt").rename(tmp_path / "best.bak")
    assert main(["eval", "--checkpoint", "run", "--data", rel]) == 2
    assert "no best.pt yet" in capsys.readouterr().err
    (tmp_path / "best.bak").rename(tmp_path / "run" / "best.pt")
    assert main(["eval", "--checkpoint", str(tmp_path), "--data", rel]) == 2
    assert "not a training run folder" in capsys.readouterr().err
    assert main(["train", "--config", "c.yaml", "--data", rel, "--out", "init",
                 "--teacher", "run"]) == 0  # config.yaml names the file the folder stood for
    saved = yaml.safe_load((tmp_path / "init" / "config.yaml").read_text())
    assert saved["model"]["init"] == str(tmp_path / "run" / "best.pt")
    monkeypatch.chdir(cfg.anchor)
    assert main(["train", "--resume", str(tmp_path / "run")]) == 0  # finished: nothing to do
    capsys.readouterr()
    # a flag that looks as if it changed the resumed run is refused, not dropped
    assert main(["train", "--resume", str(tmp_path / "run"), "--epochs", "3"]) == 2
    assert "--epochs cannot change a resumed run" in capsys.readouterr().err
    # a longer run, as that message says: config.yaml follows, so a plain resume keeps it
    assert main(["train", "--resume", str(tmp_path / "run"), "train.epochs=2"]) == 0
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["epochs"] == 2 and saved["train"]["seed"] == 2
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 3
    with pytest.raises(SystemExit):  # an unknown option stays argparse's error
        main(["train", "--config", str(cfg), "train.seed=3", "--out", str(tmp_path / "x"),
              "--bogus"])
    # --epochs is checked like train.epochs
    assert main(["train", "--config", str(cfg), "--data", str(full_ds), "--out",
                 str(tmp_path / "z"), "--epochs", "0"]) == 2
    assert "train.epochs must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("flag,value", [("--config", "c.yaml"), ("--data", "data"),
                                        ("--epochs", "3"), ("--teacher", "t.pt"),
                                        ("--out", "other"), ("--base", "bifsmnv2")])
def test_flags_beside_resume_are_refused(flag, value, tmp_path, capsys):
    # each would look as if it changed the resumed run: refused with one line naming it,
    # before the run folder is read or touched
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("not: read\n")
    assert main(["train", "--resume", str(run), flag, value]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bifsmn: error:") and "\n" not in err, err
    assert f"{flag} cannot change a resumed run" in err, err
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]
    assert (run / "config.yaml").read_text() == "not: read\n"


def test_bad_setups_fail_before_config_yaml(full_ds, cache_dir, tmp_path, capsys):
    cfg = str(_config(tmp_path / "c.yaml", cache_dir))
    base = ["train", "--config", cfg, "--data", str(full_ds)]
    cases = [(["model.kwargs.n_mels=40"], "the model reads 40 mel bands per step"),
             (["optim.betas=[0.9, 2]"], "optim.betas must be"),
             (["optim.groups=[{match: '(', lr_scale: 0.1}]"], "is not a regular expression")]
    for i, (extra, message) in enumerate(cases):
        run = tmp_path / f"r{i}"
        assert main([*base, "--out", str(run), *extra]) == 2, extra
        assert message in capsys.readouterr().err
        assert not run.exists()  # a failed start leaves no folder behind (not even .lock)
    kept = tmp_path / "kept"
    kept.mkdir()
    assert main([*base, "--out", str(kept), *cases[0][0]]) == 2
    assert kept.is_dir()  # a folder the user made stays, free for a corrected run
    capsys.readouterr()
    (full_ds / "validation_list.txt").write_text("")
    assert main([*base, "--out", str(tmp_path / "noval")]) == 2
    assert "validation split 'validation' is empty" in capsys.readouterr().err


def test_limit_train_draws_every_class(full_ds, cache_dir,
                                        tmp_path):
    # the first 32 items of the list are one or two words; the seeded draw covers the task
    cfg = config_from_dict(yaml.safe_load(_config(tmp_path / "c.yaml", cache_dir).read_text()))
    cfg.data.root = str(full_ds)
    cfg.train.blocks = [8]
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    trainer._model()
    trainer._data()
    assert len(trainer.train_labels) == 32 and len(torch.unique(trainer.train_labels)) >= 6


def test_download_refuses_a_base_url_without_a_scheme(tmp_path):
    with pytest.raises(BifsmnError, match="--base-url must start with http"):
        download_speech_commands("v0.02", tmp_path, base_url="notaurl", progress=False)


@pytest.mark.parametrize("kwargs", [{"num_classes": -3}, {"num_layers": 0}, {"n_mels": 0},
                                    {"hidden": -4}])
def test_create_model_refuses_sizes_torch_cannot_build(kwargs):
    from bifsmn.models import create_model

    with pytest.raises(BifsmnError, match="positive"):
        create_model("dfsmn_teacher", **kwargs)


def test_version_flag(capsys):
    import bifsmn

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"bifsmn {bifsmn.__version__}\n"


def test_recipe_flags_are_checked(full_ds, tmp_path, capsys):
    from bifsmn.recipes import ABLATIONS, recipe_config

    cases = [(["--config", "teacher", "--base", "bifsmnv2_fbank40", "--data", str(full_ds)],
              "--base applies to comparison recipes only"),
             (["--config", "ir_net"], "recipe 'ir_net' needs --data"),
             (["--config", "ir_net", "--base", "teacher", "--data", str(full_ds)],
              "trains a full-precision model")]
    for argv, message in cases:
        assert main(["train", *argv, "--out", str(tmp_path / "r")]) == 2, argv
        assert message in capsys.readouterr().err
        assert not (tmp_path / "r").exists()
    # lr_x4 is relative to the base it modifies, not one absolute rate
    for base, lr in (("bifsmnv2", 0.005), ("bifsmnv2_fbank40", 0.001)):
        cfg = recipe_config("lr_x4", ABLATIONS, str(full_ds), "", None, None, base)
        assert cfg.optim.lr == pytest.approx(4 * lr)
    # the packaged name with --base is the recipe on that base
    teacher = Path(__file__).resolve().parents[1] / "models" / "teacher_fbank40.pt"
    assert main(["train", "--config", "bifsmnv2", "--base", "bifsmnv2_fbank40", "--data",
                 str(full_ds), "--teacher", str(teacher), "--out", str(tmp_path / "b")]) == 2
    assert "40 mel bands" in capsys.readouterr().err  # the fbank40 config, refused on audio
