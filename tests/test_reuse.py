"""When ``compare`` and ``quickstart`` reuse, resume or set aside a run folder
(:mod:`bifsmn.train.reuse`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_run_safety import tiny

from bifsmn.errors import BifsmnError
from bifsmn.train.config import config_from_dict
from bifsmn.train.lock import RunLock
from bifsmn.train.reuse import INPUTS_NAME, same_config, train_or_reuse
from bifsmn.train.runner import run_training


def _cfg(root: Path, cache: Path, **train) -> object:
    d = tiny(root, cache)
    d["train"].update(train)
    return config_from_dict(d)


def test_execution_settings_do_not_make_another_run(full_ds, cache_dir, tmp_path):
    run = tmp_path / "r"
    assert train_or_reuse(_cfg(full_ds, cache_dir), run) == "trained"
    mtime = (run / "best.pt").stat().st_mtime_ns
    other = _cfg(full_ds, cache_dir, threads=2, plot_every=5, device="auto")
    other.data.cache_dir = str(tmp_path / "elsewhere")
    assert same_config(run, other)
    assert train_or_reuse(other, run) == "reused"
    assert (run / "best.pt").stat().st_mtime_ns == mtime
    # what is learnt does change it: set aside, never deleted
    assert train_or_reuse(_cfg(full_ds, cache_dir, seed=2), run) == "trained"
    assert (tmp_path / "r.stale" / "best.pt").is_file()
    assert json.loads((tmp_path / "r.stale" / "summary.json").read_text())["epochs"] == 2
    # asking for the first run again: exchanged back and reused, the other one set aside
    assert train_or_reuse(_cfg(full_ds, cache_dir), run) == "reused"
    assert (run / "best.pt").stat().st_mtime_ns == mtime
    assert same_config(tmp_path / "r.stale", _cfg(full_ds, cache_dir, seed=2))


def test_a_run_resumed_for_more_epochs_and_killed_is_not_finished(full_ds, cache_dir, tmp_path,
                                                                 monkeypatch):
    run = tmp_path / "r"
    assert train_or_reuse(_cfg(full_ds, cache_dir), run) == "trained"
    longer = _cfg(full_ds, cache_dir, epochs=3)
    # `bifsmn train --resume run train.epochs=3`, killed in epoch 3: the old summary goes
    from bifsmn.train import trainer as trainer_mod

    def boom(self, epoch):  # noqa: ANN001, ANN202
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(trainer_mod.Trainer, "_train_epoch", boom)
        with pytest.raises(KeyboardInterrupt):
            run_training(longer, run, resume=True)
    assert not (run / "summary.json").exists()
    assert train_or_reuse(_cfg(full_ds, cache_dir, epochs=3), run) == "resumed"
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3


def test_a_replaced_teacher_is_another_run(full_ds, cache_dir, tmp_path):
    t1 = tmp_path / "t1"
    run_training(_cfg(full_ds, cache_dir), t1)
    t2 = tmp_path / "t2"
    run_training(_cfg(full_ds, cache_dir, seed=5), t2)
    teacher = tmp_path / "teacher.pt"
    shutil.copy(t1 / "best.pt", teacher)
    cfg = _cfg(full_ds, cache_dir)
    cfg.model.init = str(teacher)
    run = tmp_path / "s"
    assert train_or_reuse(cfg, run) == "trained"
    assert json.loads((run / INPUTS_NAME).read_text())["model.init"]
    assert train_or_reuse(cfg, run) == "reused"
    shutil.copy(t2 / "best.pt", teacher)  # same name, other weights
    assert train_or_reuse(cfg, run) == "trained"
    assert (tmp_path / "s.stale").is_dir()


def test_a_run_another_process_writes_is_never_moved(full_ds, cache_dir, tmp_path):
    run = tmp_path / "r"
    assert train_or_reuse(_cfg(full_ds, cache_dir), run) == "trained"
    held = RunLock(run)
    held.acquire(create=False)  # another writer (flock: a second open file conflicts)
    try:
        with pytest.raises(BifsmnError, match="in use by another bifsmn process"):
            train_or_reuse(_cfg(full_ds, cache_dir, seed=2), run)
    finally:
        held.release()
    assert (run / "summary.json").is_file() and not (tmp_path / "r.stale").exists()


def test_two_compares_on_one_folder(full_ds, tmp_path):
    from bifsmn.compare import compare

    out = tmp_path / "cmp"
    held = RunLock(out)
    held.acquire()
    try:
        with pytest.raises(BifsmnError, match="compare folder is in use by another bifsmn process"):
            compare(str(full_ds), str(tmp_path / "no-teacher.pt"), out, epochs=1,
                    methods=["bnn"])
    finally:
        held.release()


def test_quickstart_never_reports_a_run_of_other_data_as_its_own(full_ds, cache_dir, tmp_path,
                                                                 capsys):
    from conftest import make_full_dataset

    from bifsmn.quickstart import _train

    run = tmp_path / "qs" / "teacher"
    _train(_cfg(full_ds, cache_dir), run)
    other = make_full_dataset(tmp_path / "other", seed=3)
    _train(_cfg(other, cache_dir), run)
    out = capsys.readouterr().out
    assert f"{run}: trained; an earlier run with other settings moved to" in out
    from bifsmn.train.config import load_config

    assert load_config(run / "config.yaml").data.root == str(other)


def test_a_run_of_older_training_rules_is_trained_again(full_ds, cache_dir, tmp_path):
    """A finished run made by code that trained differently (its summary.json records older
    training rules, or none: before session 46 the binarizers' gradients carried their scales)
    is moved aside and trained again, not reused as if it were this code's run."""
    from bifsmn.train.trainer import TRAINING_RULES

    run = tmp_path / "r"
    assert train_or_reuse(_cfg(full_ds, cache_dir), run) == "trained"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["training_rules"] == TRAINING_RULES
    del summary["training_rules"]  # as an older bifsmn wrote it
    (run / "summary.json").write_text(json.dumps(summary))
    assert train_or_reuse(_cfg(full_ds, cache_dir), run) == "trained"
    assert json.loads((run / "summary.json").read_text())["training_rules"] == TRAINING_RULES
    assert "training_rules" not in json.loads((tmp_path / "r.stale" / "summary.json").read_text())
    # the set-aside older run is never exchanged back for the current one
    assert train_or_reuse(_cfg(full_ds, cache_dir), run) == "reused"
