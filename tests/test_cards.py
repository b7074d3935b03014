"""Publishing a run as a committed model with its card."""

from __future__ import annotations

import csv

import torch

from bifsmn.cards import card_paths, publish, thread_counts
from bifsmn.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from bifsmn.train.config import config_from_dict
from bifsmn.train.trainer import Trainer


def test_publish_writes_model_and_card(full_ds, cache_dir, tmp_path):
    cfg = config_from_dict({"data": {"root": str(full_ds), "batch_size": 16,
                                     "cache_dir": str(cache_dir)},
                            "train": {"epochs": 1, "threads": 1, "seed": 3}})
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    out = publish(tmp_path / "run", "teacher_tiny", "bifsmn train --config teacher",
                  dest=tmp_path / "models")
    card = (tmp_path / "models" / "teacher_tiny.md").read_text()
    assert "bifsmn train --config teacher" in card and "| seed | 3 |" in card
    assert "validation accuracy" in card and "1 thread" in card
    # the machine training recorded (summary.json), not the publishing machine's guess
    import json

    from bifsmn.cards import machine_line
    from bifsmn.train.machine import cpu_name

    rec = json.loads((tmp_path / "run" / "summary.json").read_text())["machine"]
    assert rec["device"] == "CPU" and rec["cpu"] == cpu_name()
    assert f"| machine | {cpu_name()}, 1 thread, torch {torch.__version__}, CPU only |" in card
    gpu = {"cpu": "Some CPU", "device": "NVIDIA H100 80GB HBM3 (CUDA)", "torch": "2.13.0+cu128"}
    assert machine_line(gpu, "2 threads") == \
        "Some CPU, 2 threads, torch 2.13.0+cu128, NVIDIA H100 80GB HBM3 (CUDA)"
    # a GPU run resumed on a CPU names both, in order
    assert machine_line([gpu, rec], "2 threads") == (
        f"Some CPU, torch 2.13.0+cu128, NVIDIA H100 80GB HBM3 (CUDA); then {cpu_name()}, "
        f"torch {torch.__version__}, CPU only; 2 threads")
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["machines"] == [rec]
    ckpt = load_checkpoint(out)
    assert "optimizer" not in ckpt and "history" not in ckpt
    model, _ = model_from_checkpoint(out)
    assert sum(p.numel() for p in model.parameters()) == 600_252


def test_card_paths_relative_near_the_working_directory(tmp_path):
    repo, shared = tmp_path / "main", tmp_path / "shared" / "data"
    cfg = {"data": {"root": str(shared / "fbank40"), "negatives": [str(shared / "neg")],
                    "batch_size": 16, "cache_dir": "runs/cache"},
           "far": str(tmp_path.parent / "elsewhere"), "model": {"init": str(repo / "a.pt")}}
    out = card_paths(cfg, repo)
    assert out["data"]["root"] == "../shared/data/fbank40"
    assert out["data"]["negatives"] == ["../shared/data/neg"]
    assert out["data"]["batch_size"] == 16 and out["data"]["cache_dir"] == "runs/cache"
    assert out["model"]["init"] == "a.pt"
    assert out["far"] == str(tmp_path.parent / "elsewhere")  # two levels up: left absolute


def test_publish_card_names_data_relative_to_the_working_directory(full_ds, cache_dir,
                                                                   tmp_path, monkeypatch):
    """A run given absolute data paths gets a card with the repository-relative form."""
    cfg = config_from_dict({"data": {"root": str(full_ds), "batch_size": 16,
                                     "cache_dir": str(cache_dir), "limit_train": 32,
                                     "augment": False},
                            "train": {"epochs": 1, "threads": 1, "seed": 3}})
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    here = full_ds.parent / "checkout"
    here.mkdir()
    monkeypatch.chdir(here)
    publish(tmp_path / "run", "tiny", "bifsmn train", dest=tmp_path / "models")
    card = (tmp_path / "models" / "tiny.md").read_text()
    assert f"`../{full_ds.name}`" in card and f"root: ../{full_ds.name}" in card
    assert str(full_ds) not in card


def test_thread_counts_name_each_span():
    assert thread_counts([], 1) == "1 thread"
    assert thread_counts([{"cpu_threads": 2}] * 3, 1) == "2 threads"
    # epochs from before the column count as config.yaml's value
    hist = [{}, {"cpu_threads": 1}, {"cpu_threads": 2}, {"cpu_threads": 2}]
    assert thread_counts(hist, 1) == "1 thread (epochs 1-2), 2 threads (epochs 3-4)"
    assert thread_counts([{"cpu_threads": 2}, {}], 0) == (
        "2 threads (epoch 1), torch's default threads (epoch 2)")


def test_card_reports_threads_of_a_resumed_run(full_ds, cache_dir, tmp_path):
    """``--resume RUN train.threads=2`` rewrites config.yaml to 2 threads; the card must say
    which epochs ran with which count, also for a run begun before ``cpu_threads`` existed."""
    before = torch.get_num_threads()
    base = {"data": {"root": str(full_ds), "batch_size": 16, "cache_dir": str(cache_dir),
                     "limit_train": 32, "augment": False},
            "train": {"epochs": 1, "threads": 1, "seed": 3}}
    run = tmp_path / "run"
    try:
        Trainer(config_from_dict(base), run, progress=False).fit()
        last = load_checkpoint(run / "last.pt")  # as written by a version without the column
        for row in last["history"]:
            del row["cpu_threads"]
        save_checkpoint(run / "last.pt", last)
        more = {**base, "train": {**base["train"], "epochs": 2, "threads": 2}}
        Trainer(config_from_dict(more), run, progress=False).fit(resume=True)
    finally:
        torch.set_num_threads(before)
    with (run / "metrics.csv").open() as f:
        # the resume filled the old epoch's count from the config it ran with, before
        # config.yaml took the new one
        assert [r["cpu_threads"] for r in csv.DictReader(f)] == ["1", "2"]
    publish(run, "teacher_tiny", "bifsmn train --config teacher", dest=tmp_path / "models")
    card = (tmp_path / "models" / "teacher_tiny.md").read_text()
    assert "1 thread (epoch 1), 2 threads (epoch 2)" in card


def test_publish_the_last_epoch(full_ds, cache_dir, tmp_path):
    """``checkpoint="last.pt"``: the last epoch's weights without the resume state, and a card
    that says it is the last epoch, not the best."""
    import pytest

    cfg = config_from_dict({"data": {"root": str(full_ds), "batch_size": 16,
                                     "cache_dir": str(cache_dir), "limit_train": 32,
                                     "augment": False},
                            "train": {"epochs": 2, "threads": 1, "seed": 3}})
    run = tmp_path / "run"
    Trainer(cfg, run, progress=False).fit()
    out = publish(run, "tiny_last", "bifsmn train", dest=tmp_path / "models",
                  checkpoint="last.pt")
    ckpt, last = load_checkpoint(out), load_checkpoint(run / "last.pt")
    assert ckpt["epoch"] == 2 and not {"optimizer", "history", "schedule", "best"} & set(ckpt)
    assert all(torch.equal(ckpt["state_dict"][k], v) for k, v in last["state_dict"].items())
    card = (tmp_path / "models" / "tiny_last.md").read_text()
    assert "(last epoch 2; published: the last epoch, the best was epoch" in card
    assert "validation accuracy (last epoch)" in card
    with pytest.raises(ValueError, match="best.pt or last.pt"):
        publish(run, "x", "c", dest=tmp_path / "models", checkpoint="other.pt")
