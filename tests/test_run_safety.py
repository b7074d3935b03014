"""Run folders: exact resume after a kill at any write, the run-folder lock, divergence stops."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import bifsmn.outputs as outputs
from bifsmn.cli import main
from bifsmn.errors import BifsmnError, TrainingDiverged
from bifsmn.train.checkpoint import load_checkpoint
from bifsmn.train.config import config_from_dict
from bifsmn.train.lock import RunLock
from bifsmn.train.trainer import Trainer

TIMES = ("epoch_time_s", "data_time_s", "model_time_s", "eval_time_s")


def tiny(root: Path, cache: Path, epochs: int = 2, **optim) -> dict:
    return {"model": {"name": "dfsmn_teacher", "kwargs": {"dropout": 0.0}},
            "data": {"root": str(root), "batch_size": 16, "cache_dir": str(cache),
                     "limit_train": 32, "augment": False},
            "optim": {"name": "adam", "lr": 2e-3, "weight_decay": 0.0, **optim},
            "sched": {"name": "cosine"},
            # CPU: bit-exact resume needs deterministic kernels (CUDA's are not, by default)
            "train": {"epochs": epochs, "seed": 1, "threads": 1, "plot_every": 1,
                      "device": "cpu"}}


def _rows(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as f:
        return [{k: v for k, v in r.items() if k not in TIMES} for r in csv.DictReader(f)]


def _same_numbers(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert float(a[k]) == pytest.approx(float(b[k]), rel=1e-6, abs=1e-7), k


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


DEAD_PID = _dead_pid()


class Killed(Exception):
    """Stands for the process dying at a write boundary."""


def test_resume_is_exact_after_a_kill_at_every_write(full_ds, cache_dir, tmp_path, monkeypatch):
    cfg = tiny(full_ds, cache_dir)
    written: list[str] = []
    real = outputs.atomic_write

    def counting(path, write, inputs=(), mode=0o644):
        written.append(Path(path).name)
        return real(path, write, inputs, mode)

    monkeypatch.setattr(outputs, "atomic_write", counting)
    Trainer(config_from_dict(cfg), tmp_path / "ref", progress=False).fit()
    ref = tmp_path / "ref"
    # every kind of run-folder file is among the boundaries, including the last epoch's writes
    assert {"config.yaml", "best.pt", "last.pt", "metrics.csv", "curves.png",
            "summary.json"} <= set(written)
    boundaries = list(written)

    for k, name in enumerate(boundaries):
        run = tmp_path / f"kill{k}"
        count = {"n": 0}

        def dying(path, write, inputs=(), mode=0o644, k=k, count=count):
            if count["n"] == k:
                raise Killed(f"killed before write {k} ({Path(path).name})")
            count["n"] += 1
            return real(path, write, inputs, mode)

        monkeypatch.setattr(outputs, "atomic_write", dying)
        with pytest.raises(Killed):
            Trainer(config_from_dict(cfg), run, progress=False).fit()
        monkeypatch.setattr(outputs, "atomic_write", real)
        # what a kill -9 inside that write leaves: its temp file (no cleanup runs), named
        # with the pid of its writer, which is gone
        if run.is_dir():
            left = run / f".{name}.{DEAD_PID}.k{k:07d}.tmp"
            left.write_bytes(b"half a file")
            if name == "best.pt":  # calibrate may rewrite it live: cleared by age alone
                os.utime(left, (1_000_000_000, 1_000_000_000))
        # the repair: --resume (a folder killed before its config was written is simply new)
        resume = (run / "config.yaml").is_file()
        Trainer(config_from_dict(cfg), run, progress=False).fit(resume=resume)
        assert not list(run.glob(".*.tmp")), (k, name)  # the start (lock held) removed it

        ra, rb = _rows(ref), _rows(run)
        assert len(ra) == len(rb) == 2, (k, name)
        for a, b in zip(ra, rb, strict=True):
            _same_numbers(a, b)
        sa, sb = (json.loads((r / "summary.json").read_text()) for r in (ref, run))
        assert (sa["best_epoch"], sa["epochs"]) == (sb["best_epoch"], sb["epochs"]), (k, name)
        assert sa["best_val_acc"] == pytest.approx(sb["best_val_acc"], rel=1e-6)
        for f in ("best.pt", "last.pt"):
            ca, cb = load_checkpoint(ref / f), load_checkpoint(run / f)
            assert ca["epoch"] == cb["epoch"], (k, name, f)
            for key, t in ca["state_dict"].items():
                assert torch.allclose(t.float(), cb["state_dict"][key].float(), atol=1e-6), key
        hist = load_checkpoint(run / "last.pt")["history"]
        assert [{k2: v for k2, v in h.items() if k2 not in TIMES} for h in hist] == \
            [{k2: float(v) if k2 != "epoch" else int(v) for k2, v in r.items()} for r in rb]
        assert (run / "curves.png").is_file()


# ------------------------------------------------------------------------------- lock
HOLDER = """
import sys
from bifsmn.train.lock import RunLock
lock = RunLock(sys.argv[1]); lock.acquire()
print("locked", flush=True)
sys.stdin.readline()
"""


def test_two_writers_on_one_run_folder(full_ds, cache_dir, tmp_path, capsys):
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny(full_ds, cache_dir, epochs=1)))
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["train", "--config", str(cfg_path), "--out", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert "in use by another bifsmn process" in err and f"pid {holder.pid}" in err, err
        assert "\n" not in err and not (run / "config.yaml").exists()
        # a folder that already holds a run and is being written: the holder is named too
        (run / "metrics.csv").write_text("epoch\n")
        assert main(["train", "--config", str(cfg_path), "--out", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert f"pid {holder.pid}" in err and "\n" not in err, err
        (run / "metrics.csv").unlink()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # the holder exited: the OS released its lock, the folder is free
    assert main(["train", "--config", str(cfg_path), "--out", str(run)]) == 0
    assert (run / "last.pt").is_file()
    # now the folder holds a run: a new run is refused, a resume works
    assert main(["train", "--config", str(cfg_path), "--out", str(run)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_lock_is_released_when_training_crashes(full_ds, cache_dir, tmp_path, monkeypatch):
    run = tmp_path / "run"

    def crash(self, epoch):
        raise RuntimeError("crash in epoch")

    monkeypatch.setattr(Trainer, "_train_epoch", crash)
    with pytest.raises(RuntimeError):
        Trainer(config_from_dict(tiny(full_ds, cache_dir)), run, progress=False).fit()
    # free again; while held (here, by this process), a trainer on the folder is refused
    with RunLock(run), pytest.raises(BifsmnError, match="in use"):
        Trainer(config_from_dict(tiny(full_ds, cache_dir)), run, progress=False).fit(resume=True)


def test_folder_with_only_a_config_holds_a_run(full_ds, cache_dir, tmp_path, capsys):
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny(full_ds, cache_dir, epochs=1)))
    for name in ("config.yaml", "last.pt", "metrics.csv", "summary.json"):
        run = tmp_path / f"only-{name}"
        run.mkdir()
        (run / name).write_text("x\n")
        assert main(["train", "--config", str(cfg_path), "--out", str(run)]) == 2
        assert "already holds a run" in capsys.readouterr().err
        assert (run / name).read_text() == "x\n"


def test_resume_never_restarts_over_trained_epochs(full_ds, cache_dir, tmp_path, capsys):
    """A run that saved epochs but lost last.pt is refused by --resume (starting over would
    replace its best.pt, metrics and summary); a run killed before its first saved epoch
    (config.yaml alone) still starts afresh; settings that do not fit the saved state, and a
    file or missing folder as the run, are one-line errors that leave the folder as it was."""
    run = tmp_path / "run"
    Trainer(config_from_dict(tiny(full_ds, cache_dir, epochs=1)), run, progress=False).fit()
    capsys.readouterr()
    kept = {n: (run / n).read_bytes() for n in ("best.pt", "metrics.csv", "summary.json",
                                                "config.yaml")}
    (run / "last.pt").rename(tmp_path / "last.pt")
    for gone in ((), ("summary.json",), ("metrics.csv",)):
        for name in gone:
            (run / name).rename(tmp_path / name)
        assert main(["train", "--resume", str(run), "train.epochs=2"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "nothing to resume: no last.pt" in err, err
        assert "trained epochs" in err and str(run) in err
        for name in gone:
            (tmp_path / name).rename(run / name)
        assert {n: (run / n).read_bytes() for n in kept} == kept
    (tmp_path / "last.pt").rename(run / "last.pt")
    for override, why in (("optim.name=sgd", "optim.name cannot change a resumed run"),
                          ("model.name=dfsmn_thinnable", "model.name cannot change"),
                          ("data.num_classes=35", "does not fit the resumed settings")):
        assert main(["train", "--resume", str(run), "train.epochs=2", override]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and why in err, err
        assert "last.pt" in err
        assert (run / "config.yaml").read_bytes() == kept["config.yaml"]
    assert main(["train", "--resume", str(run / "metrics.csv")]) == 2
    assert "is a file, not a run folder" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "none")]) == 2
    assert "not a run folder (does not exist)" in capsys.readouterr().err
    # killed before its first epoch: config.yaml alone resumes as a fresh run
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.yaml").write_bytes(kept["config.yaml"])
    assert main(["train", "--resume", str(fresh)]) == 0
    assert len(_rows(fresh)) == 1


def test_out_that_is_a_file_fails_before_any_data(tmp_path, capsys, monkeypatch):
    """--out naming a file, or a path under one, is refused in one line before the data is
    read (a missing --data folder would otherwise be the first error)."""
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny(tmp_path / "no-data", tmp_path / "cache")))
    target = tmp_path / "a.wav"
    target.write_bytes(b"x")
    for out, why in ((target, "is a file, not a run folder"),
                     (target / "sub", "lies under a file")):
        assert main(["train", "--config", str(cfg_path), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert why in err and err.count("\n") == 1, err
    assert target.read_bytes() == b"x"
    with pytest.raises(BifsmnError, match="cannot create the run folder"):
        RunLock(Path("/proc/bifsmn-no-such-run")).acquire()


# ------------------------------------------------------------------------------- divergence
def _nan_from_epoch(monkeypatch, first: int, where: str = "loss") -> None:
    """Make training go non-finite from 0-based epoch ``first`` on: every loss (``loss``), or
    one weight written NaN after the epoch while every loss stays finite (``weight``)."""
    real = Trainer._train_epoch

    def epoch(self, e):
        if e >= first and where == "loss":
            objective = self.step_objective

            def nan_loss(net, x, y):
                loss, logits = objective(net, x, y)
                return loss * math.nan, logits

            monkeypatch.setattr(self, "step_objective", nan_loss)
        out = real(self, e)
        assert all(math.isfinite(v) for v in out)
        if e >= first and where == "weight":
            with torch.no_grad():
                next(self.model.parameters()).view(-1)[0] = math.nan
        return out

    monkeypatch.setattr(Trainer, "_train_epoch", epoch)


def _finite_first_epoch_kept(run: Path) -> None:
    """Epoch 1 finished finite: one finite metrics row, a finite best.pt and last.pt."""
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == ["1"]
    assert all(math.isfinite(float(v)) for v in rows[0].values() if v != "")
    for name in ("best.pt", "last.pt"):
        state = load_checkpoint(run / name)
        assert state["epoch"] == 1
        for t in state["state_dict"].values():
            assert torch.isfinite(t.float()).all()


def test_diverged_training_stops_with_one_line_and_compare_says_so(full_ds, cache_dir, tmp_path,
                                                                   capsys, monkeypatch):
    from bifsmn.compare import _diverged, write_tables
    from bifsmn.train.reuse import train_or_reuse

    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny(full_ds, cache_dir, epochs=3)))
    run = tmp_path / "run"
    with monkeypatch.context() as m:  # epoch 1 finite, the loss NaN from epoch 2 on
        _nan_from_epoch(m, 1)
        assert main(["train", "--config", str(cfg_path), "--out", str(run)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    # epoch 1's progress line, then one error line
    assert lines[0].startswith("epoch 1/3 ") and len(lines) == 2, lines
    err = lines[-1]
    assert err.startswith("bifsmn: error:") and "diverged" in err, err
    assert "non-finite loss" in err and "epoch 2" in err, err
    assert "last.pt keeps the last finite epoch" in err, err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["diverged"] is True and summary["diverged_epoch"] == 2
    assert math.isfinite(summary["best_val_acc"]) and summary["final"]["epoch"] == 1
    _finite_first_epoch_kept(run)

    cfg = config_from_dict({**tiny(full_ds, cache_dir, epochs=3),
                            "optim": {"name": "adam", "lr": 1e6, "weight_decay": 0.0}})
    with pytest.raises(TrainingDiverged, match="no epoch finished, so there is no last.pt"):
        Trainer(cfg, tmp_path / "direct", progress=False).fit()
    assert not (tmp_path / "direct" / "last.pt").exists()
    assert train_or_reuse(cfg, tmp_path / "cmp") == "diverged"
    assert train_or_reuse(cfg, tmp_path / "cmp") == "reused"
    assert _diverged(tmp_path / "cmp")
    row = {"binary": "none", "distill": "none", "epochs": 3, "grad_clip": 0.0,
           "fc1_norm": False, "status": "diverged", "params": 1, "storage_bytes": 1024,
           "binary_macs_8": 1, "fp_macs_8": 1, "ops_8": 1.0, "s_per_epoch": 1.0,
           "teacher_acc": 0.9, "diverged": True,
           **{f"acc_{b}": math.nan for b in (8, 4, 2, 1)},
           **{f"gap_{b}": math.nan for b in (8, 4, 2, 1)}}
    write_tables([{"method": "x", **row}], tmp_path / "t", "d", "t.pt", 3)
    assert "diverged (NaN loss)" in (tmp_path / "t.md").read_text()
    assert json.loads((tmp_path / "t.json").read_text())[0]["acc_8"] is None


def test_non_finite_weights_after_a_finite_epoch_are_a_divergence(full_ds, cache_dir, tmp_path,
                                                                   monkeypatch):
    # every loss finite, one weight NaN after epoch 2: Trainer._check_weights stops the run
    # before validation (whose NaN logits would be a different error) or any checkpoint
    _nan_from_epoch(monkeypatch, 1, where="weight")
    run = tmp_path / "run"
    trainer = Trainer(config_from_dict(tiny(full_ds, cache_dir, epochs=3)), run, progress=False)
    with pytest.raises(TrainingDiverged, match="non-finite after epoch 2") as info:
        trainer.fit()
    name = next(iter(trainer.model.named_parameters()))[0]
    assert f"parameter {name} is non-finite" in str(info.value)
    assert "\n" not in str(info.value)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["diverged"] is True and summary["diverged_epoch"] == 2
    _finite_first_epoch_kept(run)


def test_non_finite_validation_logits_are_a_divergence(full_ds, cache_dir, tmp_path,
                                                       monkeypatch):
    # finite weights whose activations overflow: an argmax over NaN must not become an
    # accuracy, a best.pt or a compare row
    from bifsmn.train import trainer as trainer_mod

    real = trainer_mod.predict_paths

    def nan_logits(*args, **kwargs):
        return {b: torch.full_like(lg, math.nan) for b, lg in real(*args, **kwargs).items()}

    monkeypatch.setattr(trainer_mod, "predict_paths", nan_logits)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="non-finite validation logits after epoch 1"):
        Trainer(config_from_dict(tiny(full_ds, cache_dir, epochs=2)), run, progress=False).fit()
    assert json.loads((run / "summary.json").read_text())["diverged"] is True
    assert not (run / "best.pt").exists()


def test_paths_the_model_has_no_batchnorm_set_for_fail_before_any_data(full_ds, cache_dir,
                                                                       tmp_path):
    """The teacher has one path set: training its 4-block path died after decoding the data,
    with config.yaml written (the folder then "held a run")."""
    cfg = tiny(full_ds, cache_dir)
    cfg["train"].update({"blocks": [8, 4], "path_weights": [1.0, 0.5]})
    with pytest.raises(BifsmnError, match="train.blocks: 4 blocks not available: model "
                                          "dfsmn_teacher has 1 thinnable path set"):
        Trainer(config_from_dict(cfg), tmp_path / "run", progress=False).fit()
    assert not (tmp_path / "run").exists()
