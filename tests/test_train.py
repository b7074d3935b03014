"""Training loop: learning happens, runs resume exactly, DDP matches one process, eval works."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bifsmn.cli import main
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import load_checkpoint
from bifsmn.train.config import config_from_dict
from bifsmn.train.trainer import Trainer, epoch_seed, eta_seconds


def tiny_config(root: Path, cache: Path, epochs: int = 3, **train) -> dict:
    return {
        "model": {"name": "dfsmn_teacher", "kwargs": {"dropout": 0.0}},
        "data": {"root": str(root), "batch_size": 16, "cache_dir": str(cache)},
        "optim": {"name": "adam", "lr": 2e-3, "weight_decay": 0.0},
        "sched": {"name": "cosine"},
        "train": {"epochs": epochs, "seed": 1, "threads": 1, "plot_every": 1, **train},
    }


def read_metrics(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def test_loss_falls_in_a_few_steps(full_ds, cache_dir, tmp_path):
    cfg = config_from_dict(tiny_config(full_ds, cache_dir, epochs=4))
    summary = Trainer(cfg, tmp_path / "run", progress=False).fit()
    rows = read_metrics(tmp_path / "run")
    assert float(rows[-1]["train_loss"]) < 0.8 * float(rows[0]["train_loss"])
    assert summary["best_val_acc"] > 1 / 12
    for name in ("config.yaml", "metrics.csv", "last.pt", "best.pt", "curves.png",
                 "summary.json"):
        assert (tmp_path / "run" / name).is_file()
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["labels"][:2] == ["_unknown_", "_silence_"] and "optimizer" not in best


def test_resume_reaches_the_same_result(full_ds, cache_dir, tmp_path, monkeypatch):
    # on the CPU: CUDA's atomic-add and cuDNN kernels make two fresh runs with one seed differ
    # (train loss 10.8919 vs 10.8924 after one epoch on an H200), so exactness is a CPU property
    cfg = tiny_config(full_ds, cache_dir, epochs=3, device="cpu")
    Trainer(config_from_dict(cfg), tmp_path / "a", progress=False).fit()

    calls = {"n": 0}
    original = Trainer._save

    def crash_after_first(self, *a, **k):
        original(self, *a, **k)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt  # the run dies after epoch 1 was saved

    monkeypatch.setattr(Trainer, "_save", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config_from_dict(cfg), tmp_path / "b", progress=False).fit()
    monkeypatch.setattr(Trainer, "_save", original)
    assert len(read_metrics(tmp_path / "b")) == 1
    Trainer(config_from_dict(cfg), tmp_path / "b", progress=False).fit(resume=True)

    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert len(a) == len(b) == 3
    for ra, rb in zip(a, b, strict=True):
        for key in ("train_loss", "train_acc", "val_acc_8"):
            assert float(ra[key]) == pytest.approx(float(rb[key]), rel=1e-6, abs=1e-7)
    sa = load_checkpoint(tmp_path / "a" / "last.pt")["state_dict"]
    sb = load_checkpoint(tmp_path / "b" / "last.pt")["state_dict"]
    for k in sa:
        assert torch.allclose(sa[k].float(), sb[k].float(), atol=1e-6), k


def test_prefetched_batches_equal_a_serial_loop(full_ds, cache_dir, tmp_path):
    """Batches are prepared one ahead on a worker thread; the augmentation generator must
    still be drawn in batch order, so the step sees exactly what a serial loop would build."""
    t = Trainer(config_from_dict(tiny_config(full_ds, cache_dir, epochs=1)), tmp_path / "r",
                progress=False)
    t._data()
    t._model()
    seen = []
    objective = t.objective

    def record(net, x, y):
        seen.append((x.clone(), y.clone()))
        return objective(net, x, y)

    t.step_objective = record  # what each training step calls
    t._train_epoch(0)
    gen = torch.Generator().manual_seed(epoch_seed(1, 0) + 1)
    order = torch.randperm(len(t.train_waves), generator=gen)
    assert len(seen) > 2
    for b, (x, y) in enumerate(seen):
        xs, ys = t._prepare(order, b, gen)
        assert torch.equal(x, xs) and torch.equal(y, ys), b


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_match_single_process(tmp_path):
    """One SGD step on the whole training set: 1 process vs 2 gloo ranks.

    Both see the same global batch and the loss before the step agrees to BatchNorm precision.
    Exactly, DDP's update must be ``-lr * mean(shard gradients)`` with BatchNorm statistics per
    shard; this test recomputes that in-process and compares to 1e-4.
    """
    import torch.nn.functional as F
    import yaml
    from conftest import make_full_dataset

    from bifsmn.data.cache import load_waves, waves_to_float
    from bifsmn.data.features import LogMel
    from bifsmn.data.speech_commands import SpeechCommands
    from bifsmn.models import create_model
    from bifsmn.train.trainer import epoch_seed

    data = make_full_dataset(tmp_path / "d", per_word=12)
    # the CPU arithmetic the expected update is recomputed with (on CUDA, TF32 convolutions
    # differ from it by ~5e-4 relative: seen on an H200)
    cfg = tiny_config(data, tmp_path / "cache", epochs=1, threads=1, device="cpu")
    cfg["data"].update(batch_size=120, augment=False, num_classes=35)  # 120 clips: one step
    cfg["optim"].update(name="sgd", lr=1e-3, momentum=0.0)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    Trainer(config_from_dict(cfg), tmp_path / "single", progress=False).fit()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # each rank's output also in its own file (--tee 3), so that a failure shows why a rank
    # stopped, not only the launcher's summary (session 57's one CI failure: rank 1 SIGABRT, its
    # own error cut off)
    logs = tmp_path / "rank-logs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={_free_port()}", "--master_addr=127.0.0.1", f"--log-dir={logs}",
           "--tee=3", "-m", "bifsmn.cli",
           "train", "--config", str(cfg_path), "--out", str(tmp_path / "ddp")]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        ranks = "\n".join(f"--- {f.relative_to(logs)}:\n{f.read_text(errors='replace')[-1500:]}"
                          for f in sorted(logs.rglob("*.log")))
        pytest.fail(f"torchrun exit {res.returncode}\n{ranks}\n--- launcher:\n{res.stderr[-1500:]}")
    assert res.stdout.count("run folder:") == 1  # the first rank reports, not every rank
    (rs,), (rd,) = read_metrics(tmp_path / "single"), read_metrics(tmp_path / "ddp")
    assert float(rd["train_loss"]) == pytest.approx(float(rs["train_loss"]), rel=1e-2)
    # each rank scored half the validation rows; gathered, they give what one process scoring
    # the saved model on all rows gives (rank 0's weights and BatchNorm buffers, broadcast)
    from bifsmn.evaluate import evaluate_checkpoint

    whole = evaluate_checkpoint(tmp_path / "ddp" / "last.pt", data, "validation", progress=False)
    assert float(rd["val_acc_8"]) == pytest.approx(whole["accuracy"], abs=1e-6)

    # expected DDP update, recomputed here with the trainer's batch and shard assignment
    waves, labels = load_waves(SpeechCommands(data, 35, seed=1), "training",
                               tmp_path / "cache", progress=False)
    gen = torch.Generator().manual_seed(epoch_seed(1, 0) + 1)
    idx = torch.randperm(len(waves), generator=gen)[:120]
    x, y = LogMel()(waves_to_float(waves[idx])), labels[idx]
    torch.manual_seed(1)
    model = create_model("dfsmn_teacher", num_classes=35, dropout=0.0).train()
    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    grads = []
    for r in range(2):
        model.zero_grad()
        F.cross_entropy(model(x[r::2]), y[r::2]).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    wd = load_checkpoint(tmp_path / "ddp" / "last.pt")["state_dict"]
    ws = load_checkpoint(tmp_path / "single" / "last.pt")["state_dict"]
    for n in grads[0]:
        want = w0[n] - 1e-3 * (grads[0][n] + grads[1][n]) / 2
        assert torch.allclose(wd[n], want, atol=1e-4 * float(want.abs().max()) + 1e-7), n
    # and the single-process step differs only by BatchNorm's batch statistics
    delta = torch.cat([(ws[n] - w0[n]).flatten() for n in grads[0]])
    ddp_delta = torch.cat([(wd[n] - w0[n]).flatten() for n in grads[0]])
    assert F.cosine_similarity(delta, ddp_delta, dim=0) > 0.95


def test_eval_cli_json_and_text(full_ds, cache_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BIFSMN_CACHE", str(cache_dir))
    cfg = config_from_dict(tiny_config(full_ds, cache_dir, epochs=1))
    Trainer(cfg, tmp_path / "run", progress=False).fit()
    ckpt = str(tmp_path / "run" / "best.pt")
    assert main(["eval", "--checkpoint", ckpt, "--data", str(full_ds), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["split"] == "validation" and m["count"] == 12 + 1
    assert len(m["confusion"]) == 12 and sum(map(sum, m["confusion"])) == m["count"]
    assert main(["eval", "--checkpoint", ckpt, "--data", str(full_ds), "--split",
                 "testing"]) == 0
    out = capsys.readouterr().out
    assert "per-class accuracy" in out and "confusion" in out
    # --model: the option name detect and eval-stream use, the same result as --checkpoint
    assert main(["eval", "--model", ckpt, "--data", str(full_ds), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == m


def test_train_cli_and_resume_flag(full_ds, cache_dir, tmp_path, monkeypatch, capsys):
    import yaml

    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_config(full_ds, cache_dir, epochs=1)))
    run = tmp_path / "cli_run"
    assert main(["train", "--config", str(cfg_path), "--out", str(run)]) == 0
    assert "best validation accuracy" in capsys.readouterr().out
    # a finished run folder is not overwritten by a new run
    assert main(["train", "--config", str(cfg_path), "--out", str(run)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    # extend the finished run by one epoch through --resume with an override
    assert main(["train", "--resume", str(run), "train.epochs=2"]) == 0
    assert len(read_metrics(run)) == 2


def test_deterministic_switch_holds_for_the_run_only(full_ds, cache_dir, tmp_path, monkeypatch):
    # train.deterministic=true: the run trains under PyTorch's deterministic algorithms (seen
    # from inside an epoch), the process's settings come back afterwards, and the run's result
    # is the same as without the switch (on the CPU training is exact either way)
    seen = []
    original = Trainer._train_epoch

    def spy(self, *a, **k):
        seen.append((torch.are_deterministic_algorithms_enabled(),
                     torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
                     os.environ.get("CUBLAS_WORKSPACE_CONFIG")))
        return original(self, *a, **k)

    monkeypatch.setattr(Trainer, "_train_epoch", spy)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark)
    runs = {}
    for det in (True, False):
        cfg = tiny_config(full_ds, cache_dir, epochs=2, device="cpu", deterministic=det,
                          plot_every=0)
        Trainer(config_from_dict(cfg), tmp_path / str(det), progress=False).fit()
        runs[det] = load_checkpoint(tmp_path / str(det) / "last.pt")["state_dict"]
    assert seen[:2] == [(True, True, False, ":4096:8")] * 2
    assert seen[2:] == [(before[0], before[1], before[2], None)] * 2
    assert (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark) == before
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    for k in runs[True]:
        assert torch.equal(runs[True][k], runs[False][k]), k


def test_deterministic_switch_names_itself_when_an_op_has_no_deterministic_kernel():
    from bifsmn.errors import BifsmnError
    from bifsmn.train.determinism import deterministic_mode

    with (pytest.raises(BifsmnError, match=r"^train\.deterministic=true: .*deterministic"),
          deterministic_mode(True)):
        raise RuntimeError("index_add_cuda_ does not have a deterministic implementation, "
                           "but you set 'torch.use_deterministic_algorithms(True)'.\nmore")
    assert not torch.are_deterministic_algorithms_enabled()
    # anything else passes through unchanged
    with pytest.raises(RuntimeError, match="other"), deterministic_mode(True):
        raise RuntimeError("other")


class _FixedNet(torch.nn.Module):
    """Logits (and one block's features) from a linear map, for the objectives' label terms."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(6, 4)

    def forward(self, x, path=0, return_features=False):
        return self.lin(x), [x[:, None, :]]


def test_label_smoothing_reaches_the_label_terms():
    """``train.label_smoothing``: the supervised objective and the distillation objective's label
    term are torch's smoothed cross-entropy; 0 leaves them as they were."""
    from bifsmn.distill.objective import Distill
    from bifsmn.train.objective import Supervised

    torch.manual_seed(0)
    net, x, y = _FixedNet(), torch.randn(8, 6), torch.randint(0, 4, (8,))
    logits = net(x)[0]
    for eps in (0.0, 0.1):
        loss, _ = Supervised([0], [1.0], eps)(net, x, y)
        torch.testing.assert_close(loss, F.cross_entropy(logits, y, label_smoothing=eps))
        teacher = _FixedNet()
        kd, _ = Distill(teacher, "fid", 0.0, [0], [1.0], label_smoothing=eps)(net, x, y)
        torch.testing.assert_close(kd, F.cross_entropy(logits, y, label_smoothing=eps))
    assert not torch.allclose(Supervised([0], [1.0], 0.1)(net, x, y)[0],
                              Supervised([0], [1.0])(net, x, y)[0])


def test_model_ema_averages_floats_copies_counters_and_swaps_back():
    from bifsmn.train.ema import ModelEma

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEma(net, 0.9)
    w0 = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net.train()
    net(torch.randn(8, 3))  # BatchNorm: running stats move, the step counter becomes 1
    ema.update(net)
    torch.testing.assert_close(ema.state_dict()["0.weight"], 0.9 * w0 + 0.1 * (w0 + 1.0))
    assert int(ema.state_dict()["1.num_batches_tracked"]) == 1
    raw = net[0].weight.detach().clone()
    with ema.applied(net):
        torch.testing.assert_close(net[0].weight, ema.state_dict()["0.weight"])
    torch.testing.assert_close(net[0].weight, raw)  # the training weights are back
    with pytest.raises(BifsmnError, match="EMA decay"):
        ModelEma(net, 1.0)
    with pytest.raises(BifsmnError, match="does not match"):
        ema.load_state_dict({"0.weight": raw})


def test_ema_run_saves_the_average_and_resumes_exactly(full_ds, cache_dir, tmp_path,
                                                        monkeypatch):
    """``train.ema_decay``: best.pt / last.pt hold the averaged weights (last.pt also the raw
    ones), and a run killed after epoch 1 and resumed ends where an uninterrupted one does."""
    cfg = tiny_config(full_ds, cache_dir, epochs=2, device="cpu", ema_decay=0.9)
    Trainer(config_from_dict(cfg), tmp_path / "a", progress=False).fit()
    original = Trainer._save

    def crash_after_first(self, *a, **k):
        original(self, *a, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config_from_dict(cfg), tmp_path / "b", progress=False).fit()
    monkeypatch.setattr(Trainer, "_save", original)
    Trainer(config_from_dict(cfg), tmp_path / "b", progress=False).fit(resume=True)
    a, b = (load_checkpoint(tmp_path / r / "last.pt") for r in ("a", "b"))
    for key in ("state_dict", "raw_state_dict"):
        for k in a[key]:
            assert torch.allclose(a[key][k].float(), b[key][k].float(), atol=1e-6), (key, k)
    assert any(not torch.equal(a["state_dict"][k], a["raw_state_dict"][k])
               for k in a["state_dict"] if a["state_dict"][k].is_floating_point())
    assert "raw_state_dict" not in load_checkpoint(tmp_path / "a" / "best.pt")


class _Ranker:
    """The two methods of Trainer that pick best.pt, on a bare config (no data needed)."""

    _best_key = Trainer._best_key
    _best_index = Trainer._best_index

    def __init__(self, rule: str, blocks: tuple[int, ...] = (8, 4, 2, 1)) -> None:
        from types import SimpleNamespace

        self.cfg = SimpleNamespace(train=SimpleNamespace(blocks=list(blocks), best_rule=rule))
        self.select = "val_acc"


def _epochs(*rows: tuple[float, ...]) -> list[dict]:
    return [{"epoch": i + 1, **{f"val_acc_{b}": a for b, a in zip((8, 4, 2, 1), r, strict=True)}}
            for i, r in enumerate(rows)]


def test_best_rule_ties_breaks_exact_ties_on_the_other_paths() -> None:
    # session 48's at-scale run: the 8-block path tied at epochs 8 and 10 while the thinner
    # paths were 2-6 points better at 10; "first" keeps the earlier epoch, "ties" the later
    history = _epochs((0.80, 0.79, 0.78, 0.77), (0.84, 0.80, 0.79, 0.77), (0.83, 0.85, 0.82, 0.79),
                      (0.84, 0.86, 0.83, 0.79))
    assert _Ranker("first")._best_index(history) == 1
    assert _Ranker("ties")._best_index(history) == 3
    # a strictly better 8-block epoch still wins whatever its other paths
    history.append(_epochs((0.85, 0.10, 0.10, 0.10))[0])
    assert _Ranker("ties")._best_index(history) == 4
    assert _Ranker("first")._best_index(history) == 4
    # ties on everything: the earliest, as before
    same = _epochs((0.5, 0.4, 0.3, 0.2), (0.5, 0.4, 0.3, 0.2))
    assert _Ranker("ties")._best_index(same) == 0
    # one path only: "ties" is "first"
    one = [{"epoch": 1, "val_acc_8": 0.5}, {"epoch": 2, "val_acc_8": 0.5}]
    assert _Ranker("ties", blocks=(8,))._best_index(one) == 0


def test_best_rule_monotone_and_empty_validation() -> None:
    history = _epochs((0.9, 0.95, 0.8, 0.7), (0.8, 0.7, 0.6, 0.5))
    assert _Ranker("monotone")._best_index(history) == 1  # epoch 1 has 4 blocks above 8
    assert _Ranker("monotone")._best_index(history[:1]) is None
    nan = _epochs((float("nan"),) * 4)
    assert _Ranker("first")._best_index(nan) is None and _Ranker("ties")._best_index(nan) is None


def test_best_rule_is_validated() -> None:
    assert config_from_dict({"train": {"best_rule": "first"}}).train.best_rule == "first"
    with pytest.raises(BifsmnError, match="train.best_rule must be first, ties or monotone"):
        config_from_dict({"train": {"best_rule": "monotonic"}})


def test_best_rule_default_is_ties_and_old_run_folders_resume_with_first(tmp_path) -> None:
    from bifsmn.train.config import load_config, load_run_config, resolve_config

    assert config_from_dict({}).train.best_rule == "ties"
    for name in ("bifsmnv2", "bifsmnv2_fbank40", "teacher"):  # packaged configs name no rule
        assert load_config(resolve_config(name)).train.best_rule == "ties"
    old = tmp_path / "old.yaml"  # a run folder's config.yaml from before session 48
    old.write_text("train:\n  epochs: 3\n  blocks: [8, 4]\n")
    assert load_run_config(old).train.best_rule == "first"
    assert load_run_config(old, ["train.best_rule=ties"]).train.best_rule == "ties"
    assert load_run_config(old, ["train.epochs=5"]).train.epochs == 5
    named = tmp_path / "named.yaml"  # sessions 48-49 wrote the rule they ran with
    named.write_text("train:\n  best_rule: ties\n")
    assert load_run_config(named).train.best_rule == "ties"
    named.write_text("train:\n  best_rule: monotone\n")
    assert load_run_config(named).train.best_rule == "monotone"


def test_eta_leaves_out_the_compiling_first_epoch() -> None:
    # torch.compile's first epoch (145 s) then 9 s epochs: 10 left is 90 s, not the mean's 543 s
    assert eta_seconds([145.0, 9.0, 9.0], 10) == 90.0
    assert eta_seconds([145.0, 8.0, 10.0, 30.0], 2) == 20.0  # median of the later epochs
    assert eta_seconds([12.0], 3) == 36.0  # one epoch: all there is
    assert eta_seconds([], 5) == 0.0 and eta_seconds([9.0, 9.0], 0) == 0.0


def test_eval_scores_the_split_rule_the_model_was_trained_with(full_ds, cache_dir, tmp_path,
                                                               capsys):
    """A run on the standard protocol records it (and its seed, which draws that protocol's
    unknown and silence items) in its checkpoints and exports; eval then builds the same
    validation split unless told otherwise (it used to build the reference one)."""
    from bifsmn.data.speech_commands import SpeechCommands
    from bifsmn.engine import export_checkpoint

    cfg = tiny_config(full_ds, cache_dir, epochs=1)
    cfg["data"]["protocol"] = "standard"
    cfg["train"]["seed"] = 3
    run = tmp_path / "std"
    Trainer(config_from_dict(cfg), run, progress=False).fit()
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt["data"] == {"protocol": "standard", "seed": 3}
    standard = len(SpeechCommands(full_ds, 12, "standard", 3)["validation"])
    reference = len(SpeechCommands(full_ds, 12, "reference")["validation"])
    assert standard != reference
    bkws = export_checkpoint(run / "best.pt", tmp_path / "std.bkws")
    capsys.readouterr()
    for model in (run / "best.pt", bkws):
        for extra, want in (([], standard), (["--protocol", "reference"], reference)):
            assert main(["eval", "--model", str(model), "--data", str(full_ds), "--json",
                         *extra]) == 0
            assert json.loads(capsys.readouterr().out)["count"] == want, (model, extra)
    # tables of several models (compare) impose one rule on all of them
    from bifsmn.evaluate import evaluate_checkpoint_paths

    ref = evaluate_checkpoint_paths(run / "best.pt", full_ds, blocks=[8], progress=False,
                                    rule={"protocol": "auto", "seed": 0})
    assert ref[8]["count"] == reference


def test_augmentation_settings_of_the_other_kind_of_data_are_named(full_ds, cache_dir, tmp_path,
                                                                   caplog):
    """Archive-only augmentation settings given for an audio data set train as if absent: the
    run says so once, naming them (and that noise_prob has no noise files to mix)."""
    import logging

    (full_ds / "_background_noise_" / "white.wav").unlink()
    (full_ds / "_background_noise_").rmdir()
    cfg = tiny_config(full_ds, cache_dir, epochs=1)
    cfg["data"].update({"cut_prob": 0.2, "mask_prob": 0.9, "amplitude_prob": 0.1})
    with caplog.at_level(logging.WARNING, logger="bifsmn"):
        Trainer(config_from_dict(cfg), tmp_path / "r", progress=False)._data()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "data.mask_prob, data.cut_prob apply to feature archives only" in text, text
    assert "amplitude_prob" not in text  # an audio setting, used here
    assert "data.noise_prob=0.3 mixes nothing" in text, text


def test_noise_files_are_read_only_to_be_mixed(full_ds, cache_dir, tmp_path):
    """With data.augment=false no noise is mixed, so a damaged _background_noise_ file does
    not stop the run (it is decoded only when augmenting, where it is a one-line error)."""
    (full_ds / "_background_noise_" / "white.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVE")
    cfg = tiny_config(full_ds, cache_dir, epochs=1)
    cfg["data"]["augment"] = False
    Trainer(config_from_dict(cfg), tmp_path / "a", progress=False)._data()
    cfg["data"]["augment"] = True
    with pytest.raises(BifsmnError, match="white.wav"):
        Trainer(config_from_dict(cfg), tmp_path / "b", progress=False)._data()
