"""The training loop: one run folder per run, atomic checkpoints, exact resume, optional DDP.

Run folder layout::

    run_dir/config.yaml     resolved config (everything needed to resume or reproduce)
    run_dir/metrics.csv     one row per finished epoch
    run_dir/last.pt         model + optimizer + schedule state + history (resume point)
    run_dir/best.pt         weights of the best epoch on validation
    run_dir/curves.png      loss / accuracy curves
    run_dir/summary.json    final metrics

Determinism: each epoch reseeds torch's global RNG and the data generator from
``(seed, epoch)``, so a run resumed from ``last.pt`` after epoch *e* replays epochs *e+1...*
exactly as the uninterrupted run would.

Scale-out: launched by ``torchrun`` (``WORLD_SIZE > 1``) it uses DistributedDataParallel on NCCL
when every rank has a GPU of its own, else gloo (:func:`bifsmn.train.distributed.ddp_backend`);
every rank takes an interleaved shard of the same global batch, so the global batch and the
averaged gradient match single-process training (up to BatchNorm's per-shard statistics).
``data.batch_size`` must be a multiple of the number of ranks, and the epoch's last batch is cut
to one (at most ranks - 1 clips of an epoch left out), so that every shard has the same size.
After each epoch rank 0's buffers (BatchNorm statistics, which each rank updated from its own
shard) are broadcast, so every rank validates, selects and schedules on the same model; each
rank scores its own shard of the validation rows and all ranks gather the logits
(:mod:`bifsmn.train.shards`).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any, cast

import torch
import torch.distributed as dist
import yaml
from torch import nn
from tqdm import tqdm

from bifsmn import blocks as blocks_mod
from bifsmn.binary.convert import apply_binary
from bifsmn.data.cache import waves_to_float
from bifsmn.data.fbank import Fbank40Config, image_to_input
from bifsmn.data.frontends import AnyFeatureConfig, feature_kind
from bifsmn.data.labels import UNKNOWN, ClassMerge, group_of, labels_for_task
from bifsmn.deploy import predict_paths
from bifsmn.errors import BifsmnError, MissingPath, TrainingDiverged
from bifsmn.models import create_model
from bifsmn.outputs import remove_stale_temp_files
from bifsmn.rates import rate
from bifsmn.train.checkpoint import atomic_write_text, load_checkpoint, save_checkpoint
from bifsmn.train.config import Config, save_config
from bifsmn.train.determinism import deterministic_mode
from bifsmn.train.distributed import init_distributed, pick_device, rank_device
from bifsmn.train.ema import ModelEma
from bifsmn.train.lock import RUN_FILES, RunLock, holds_run
from bifsmn.train.machine import machine_record
from bifsmn.train.objective import Supervised
from bifsmn.train.optim import Schedule, build_optimizer
from bifsmn.train.ranking import beats, exact_rate
from bifsmn.train.shards import gather_rows, shard
from bifsmn.train.training_data import load_training_data
from bifsmn.train.warm_start import init_from_checkpoint


def eta_seconds(walls: list[float], epochs_left: int) -> float:
    """Seconds left: ``epochs_left`` times the median wall time of the epochs this process ran,
    its first one left out once there are others. Why: the first epoch carries
    ``torch.compile``'s compilation (minutes, once) and the mean of all epochs then promised
    hours where the run had minutes left."""
    if not walls or epochs_left <= 0:
        return 0.0
    return epochs_left * statistics.median(walls[1:] or walls)


log = logging.getLogger("bifsmn.train")


def epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + 17) % (2**62)


#: the run-folder files only the process holding the run's lock writes (best.pt is not one:
#: ``bifsmn calibrate RUN/best.pt`` rewrites it in place)
OWN_RUN_FILES = (*RUN_FILES, "curves.png")

#: revision of what training computes for a given config, stored in ``summary.json``: a
#: finished run of another revision is trained again by compare and quickstart instead of
#: reused (bifsmn.train.reuse). 1: until session 45; 2: session 46, the binarizers' scales
#: kept out of the backward pass (docs/methods.md, "Gradients and scales").
TRAINING_RULES = 2


class Trainer:
    """Trains one :class:`Config` into ``run_dir``."""

    # the run's data: set by _data (TrainingData.attach), as the fields of TrainingData
    archive: bool
    clean_teacher: bool
    ds: Any
    feature_cfg: AnyFeatureConfig
    train_waves: Any
    train_labels: torch.Tensor
    val_feats: torch.Tensor
    val_labels: torch.Tensor
    augment: Any
    logmel: nn.Module | None
    fe_device: torch.device | None

    def __init__(self, cfg: Config, run_dir: str | Path, progress: bool | None = None,
                 objective_factory=None) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.objective_factory = objective_factory
        asked = pick_device(cfg.train.device)
        self.device = rank_device(asked)
        self.dist = init_distributed(self.device, pinned=asked.type == "cuda"
                                     and asked.index is not None)
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        if len(cfg.train.blocks) != len(cfg.train.path_weights):
            raise BifsmnError("train.blocks and train.path_weights must have the same length")
        if cfg.data.batch_size % self.dist.world:
            raise BifsmnError(f"data.batch_size {cfg.data.batch_size} is not a multiple of the "
                              f"{self.dist.world} processes: every rank takes an equal shard of "
                              "each global batch")

    # ------------------------------------------------------------------ set-up
    def _data(self) -> None:
        """The run's data (:mod:`bifsmn.train.training_data`), as this trainer's attributes
        (``ds``, ``feature_cfg``, ``train_waves``, ``train_labels``, ``val_feats``, ...)."""
        load_training_data(self.cfg, self.device, self.progress and self.dist.main,
                           self.dist.main, self.objective_factory is not None).attach(self)


    def _model(self) -> None:
        c = self.cfg
        model = create_model(c.model.name, num_classes=c.data.num_classes, **c.model.kwargs)
        for b in c.train.blocks:  # the registered model's own path sets (teacher: one)
            try:
                blocks_mod.require(int(b), c.num_layers, getattr(model, "num_paths", 1),
                                   f"model {c.model.name}")
            except MissingPath as exc:
                raise BifsmnError(f"train.blocks: {exc} (model.kwargs.num_paths sets them)"
                                  ) from None
        if c.model.init:
            init_from_checkpoint(model, c.model.init,
                                 labels=list(labels_for_task(c.data.num_classes,
                                                             c.data.keywords)))
        before = set(model.state_dict())
        apply_binary(model, {"method": c.binary.method, "keep_fp": c.binary.keep_fp,
                             "options": c.binary.options})
        if c.model.init:  # a binary checkpoint's quantizer parameters (fine-tuning a student)
            init_from_checkpoint(model, c.model.init, set(model.state_dict()) - before)
        self.model = model.to(self.device)
        # the averaged weights (train.ema_decay): validated, selected and saved instead
        self.ema = ModelEma(self.model, c.train.ema_decay) if c.train.ema_decay > 0 else None
        self.optimizer = build_optimizer(self.model, c.optim)
        self.schedule = Schedule(c.sched, c.optim.lr, c.train.epochs)
        if self.objective_factory is not None:
            self.objective = self.objective_factory(self.cfg, self.device)
        else:
            self.objective = Supervised(c.path_indices, c.train.path_weights,
                                        c.train.label_smoothing)
        self.net = self.model
        if self.dist.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids,
                                                           find_unused_parameters=True)
        # what a training step calls: the objective, compiled whole where it can be (below)
        self.step_objective = self.objective
        if c.train.compile and self.dist.world > 1:
            # DDP: the module compiled (an OptimizedModule), objective eager
            self.net = cast(nn.Module, torch.compile(self.net))
        elif c.train.compile:
            # one graph for the whole objective (student paths, teacher, distillation terms and
            # losses): fewer, fused ops than compiling the student alone; on a CPU thread the
            # at-scale step took 231 vs 301 ms (8,099 vs 12,419 ATen ops; eager 556 ms,
            # docs/results/gpu/step_ops.txt). Evaluation keeps the eager self.model.
            self.step_objective = torch.compile(self.objective.__call__)

    def _payload(self, epoch: int, metrics: dict) -> dict:
        c = self.cfg
        return {
            "model": {"name": c.model.name,
                      "kwargs": {"num_classes": c.data.num_classes, **c.model.kwargs}},
            "binary": {"method": c.binary.method, "keep_fp": list(c.binary.keep_fp),
                       "options": dict(c.binary.options)},
            "labels": list(self.ds.labels),
            "features": self.feature_cfg.to_dict(),
            # how the audio splits were built (the standard protocol's unknown and silence
            # items are drawn with train.seed): eval scores the split the run was selected on
            "data": {"protocol": c.data.protocol, "seed": c.train.seed},
            # with EMA on, the averaged weights: what eval, export and detection use
            "state_dict": self.model.state_dict() if self.ema is None else self.ema.state_dict(),
            "epoch": epoch,
            "metrics": metrics,
        }

    # ------------------------------------------------------------------ loop
    def _prepare(self, order: torch.Tensor, b: int, gen: torch.Generator
                 ) -> tuple[torch.Tensor | tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """Batch ``b`` of the epoch: waveforms, augmentation (draws from ``gen``), log-mel."""
        bs = self.cfg.data.batch_size
        idx = order[b * bs:(b + 1) * bs]
        # equal shards: the epoch's last batch is cut to a multiple of the ranks (an empty
        # shard would crash the front end or give a NaN mean loss; unequal ones would weight
        # a rank's clips by its shard size in DDP's average)
        idx = idx[:len(idx) - len(idx) % self.dist.world]
        idx_local = torch.arange(len(idx))[self.dist.rank::self.dist.world]
        if self.archive:
            img, lab = self.train_waves[idx], self.train_labels[idx]
            clean = None
            if self.augment is not None:  # cut keywords -> unknown (data.cut_prob), then rest
                img, lab = self.augment.cut_keywords(img, lab, gen)
                # same draws on every rank: global batch
                if self.clean_teacher:
                    img, clean = self.augment(img, gen, return_clean=True)
                else:
                    img = self.augment(img, gen)
            fbank_cfg = cast(Fbank40Config, self.feature_cfg)  # archive data: fbank40
            x = image_to_input(img[idx_local], fbank_cfg).to(self.device)
            if clean is not None:  # (student input, teacher input)
                x = (x, image_to_input(clean[idx_local], fbank_cfg).to(self.device))
            return x, lab[idx_local].to(self.device)
        wav = waves_to_float(self.train_waves[idx])
        if self.augment is not None:
            wav = self.augment(wav, gen)  # same draws on every rank: global batch
        logmel = cast(nn.Module, self.logmel)  # audio data: set with its front end
        x = logmel(wav[idx_local].to(self.fe_device)).to(self.device)
        return x, self.train_labels[idx][idx_local].to(self.device)

    def _epoch_order(self, gen: torch.Generator) -> torch.Tensor:
        """The training clips of one epoch in the order they are seen: all of them shuffled, or
        with ``data.unknown_share`` every clip of the other classes and a fresh draw of
        ``_unknown_`` clips (its ``_unknown_:<word>`` sub-classes too) making that share (a
        different subset each epoch, so every unknown clip is used over the run while the
        keywords are not drowned)."""
        share = self.cfg.data.unknown_share
        n = len(self.train_waves)
        if not share:
            return torch.randperm(n, generator=gen)
        ids = [i for i, lb in enumerate(self.ds.labels) if group_of(lb) == UNKNOWN]
        unknown = torch.isin(self.train_labels, torch.tensor(ids))  # 37 classes: the group
        unk, other = unknown.nonzero()[:, 0], (~unknown).nonzero()[:, 0]
        k = min(len(unk), round(share / (1.0 - share) * len(other)))
        pick = unk[torch.randperm(len(unk), generator=gen)[:k]]
        idx = torch.cat([other, pick])
        return idx[torch.randperm(len(idx), generator=gen)]

    def _train_epoch(self, epoch: int) -> tuple[float, float]:
        """One pass over the training set; also records ``self.data_time`` (time the step waited
        for its batch) and ``self.model_time`` (forward, backward, step).

        Batches are prepared one ahead on a worker thread, so on a multi-core CPU augmentation
        and log-mel overlap the previous step. Batch ``b + 1`` is submitted only after batch
        ``b`` is taken, so ``gen`` is drawn in batch order and results match a serial loop.
        """
        c = self.cfg
        torch.manual_seed(epoch_seed(c.train.seed, epoch))
        gen = torch.Generator().manual_seed(epoch_seed(c.train.seed, epoch) + 1)
        order = self._epoch_order(gen)
        n = len(order)
        # batches with at least one clip per rank (single process: every batch)
        nb = n // c.data.batch_size + (n % c.data.batch_size >= self.dist.world)
        if nb == 0:
            raise BifsmnError(f"{n} training clips for {self.dist.world} processes: each "
                              "needs at least one", self.cfg.data.root)
        self.net.train()
        tot_loss = tot_correct = tot_seen = 0.0
        self.data_time = self.model_time = 0.0
        bar = tqdm(range(nb), desc=f"epoch {epoch + 1}", leave=False, unit="batch",
                   disable=not (self.progress and self.dist.main))
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bifsmn-data")
        try:
            pending = pool.submit(self._prepare, order, 0, gen)
            for b in bar:
                t0 = time.perf_counter()
                x, y = pending.result()
                if b + 1 < nb:
                    pending = pool.submit(self._prepare, order, b + 1, gen)
                t1 = time.perf_counter()
                loss, logits = self.step_objective(self.net, x, y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if c.optim.grad_clip > 0:
                    nn.utils.clip_grad_norm_(self.model.parameters(), c.optim.grad_clip)
                self.optimizer.step()
                if self.ema is not None:
                    self.ema.update(self.model)
                if self.device.type == "cuda":  # the step's kernels in model_time_s, not lost
                    torch.cuda.synchronize(self.device)  # (tolist below waits for them anyway)
                t2 = time.perf_counter()
                self.data_time += t1 - t0
                self.model_time += t2 - t1
                # on the loss's device: NCCL reduces CUDA tensors only, and one transfer
                # (tolist) instead of one per value
                count = torch.full((), len(y), dtype=torch.float64, device=loss.device)
                stats = torch.stack([loss.detach().double() * count,
                                     (logits.detach().argmax(1) == y).sum().double(), count])
                if self.dist.world > 1:
                    dist.all_reduce(stats)
                s_loss, s_correct, s_seen = stats.tolist()
                if not math.isfinite(s_loss):  # same on every rank (after all_reduce)
                    raise TrainingDiverged(
                        f"training diverged: non-finite loss ({s_loss}) at epoch "
                        f"{epoch + 1}, batch {b + 1}; the run stops here ({self._kept()}; try "
                        "a lower optim.lr or optim.grad_clip)", self.run_dir)
                tot_loss += s_loss
                tot_correct += s_correct
                tot_seen += s_seen
                bar.set_postfix(loss=f"{tot_loss / tot_seen:.3f}",
                                acc=f"{tot_correct / tot_seen:.3f}")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        return tot_loss / tot_seen, tot_correct / tot_seen

    def _sync_buffers(self) -> None:
        """Under DDP, rank 0's buffers (and EMA average) on every rank. Why: DDP copies rank 0's
        buffers only at the start of each forward, so after an epoch's last step each rank
        holds BatchNorm statistics of its own shard; validated as they are, ranks could select
        different best epochs or lower the learning rate apart (a plateau schedule), and the
        replicas would drift."""
        if self.dist.world <= 1:
            return
        for buf in self.model.buffers():
            dist.broadcast(buf, 0)
        if self.ema is not None:
            for t in self.ema.state_dict().values():
                dist.broadcast(t, 0)

    def evaluate(self, epoch: int = 0) -> dict[str, float]:
        """Validation accuracy of every trained path, keyed ``val_acc_<blocks>``. Non-finite
        logits (finite weights whose activations overflow) stop the run as a divergence: an
        argmax over NaN would otherwise become an accuracy, a best.pt and a table row."""
        out = {}
        feats, n, world = self.val_feats, len(self.val_feats), self.dist.world
        split = world > 1 and n >= world  # under DDP each rank scores its shard of the rows
        if split:
            feats = feats[shard(n, self.dist.rank, world)]
        # folded once for all paths: the deployed arithmetic where the model has one
        logits = predict_paths(self.model, feats, self.cfg.train.blocks, device=self.device)
        if split:  # every rank gets all rows back, so all compute the same metrics
            comm = self.device if dist.get_backend() == "nccl" else torch.device("cpu")
            logits = {b: gather_rows(lg, n, world, comm) for b, lg in logits.items()}
        merge = ClassMerge(list(self.ds.labels))  # 37 classes: scored as the 12 they report
        truth = torch.as_tensor(merge.index)[self.val_labels]
        for b, lg in logits.items():
            if not torch.isfinite(lg).all():
                raise TrainingDiverged(
                    f"training diverged: the {b}-block path gives non-finite validation logits "
                    f"after epoch {epoch + 1}; the run stops here ({self._kept()}; try a lower "
                    "optim.lr or optim.grad_clip)", self.run_dir)
            pred = merge.torch_logits(lg).argmax(1)
            acc = rate(pred == truth)
            out[f"val_acc_{b}"] = acc
            if self.select == "val_bacc":  # mean recall over the classes validation holds
                recalls = [rate(pred[truth == k] == k)
                           for k in truth.unique().tolist()]
                out[f"val_bacc_{b}"] = sum(recalls) / len(recalls) if recalls else float("nan")
        return out

    @property
    def select(self) -> str:
        """The metric key prefix best.pt and plateau schedules follow (``train.select_on``)."""
        t = self.cfg.train
        balanced = t.select_on == "balanced" or (t.select_on == "auto"
                                                 and bool(self.cfg.data.keywords))
        return "val_bacc" if balanced else "val_acc"

    def _best_key(self, metrics: dict) -> tuple[float, ...] | None:
        """What ``train.best_rule`` ranks an epoch by (larger is better; among equal keys the
        earliest epoch), or None for an epoch the rule never keeps."""
        accs = [metrics[f"{self.select}_{b}"] for b in self.cfg.train.blocks]
        if not math.isfinite(accs[0]):  # no validation clips: no epoch is best
            return None
        rule = self.cfg.train.best_rule
        if rule == "monotone" and any(a <= b for a, b in zip(accs, accs[1:], strict=False)):
            return None
        if rule == "ties" and len(accs) > 1:
            return accs[0], sum(accs[1:]) / len(accs[1:])
        return (accs[0],)

    def _best_index(self, history: list[dict]) -> int | None:
        """Index in ``history`` of the epoch best.pt holds by ``train.best_rule``. Replayed
        from the history (which last.pt keeps), so a resumed run ranks ties as an
        uninterrupted one would."""
        best_i, best_key = None, None
        for i, m in enumerate(history):
            key = self._best_key(m)
            if key is not None and (best_key is None or beats(key, best_key)):
                best_i, best_key = i, key
        return best_i

    def fit(self, resume: bool = False) -> dict:
        """Train to ``train.epochs``; with ``resume`` continue from ``run_dir/last.pt``."""
        lock = RunLock(self.run_dir) if self.dist.main else None
        try:
            if lock is not None:
                lock.acquire(create=not resume)
                if not resume and holds_run(self.run_dir):
                    raise BifsmnError("run folder already holds a run; use --resume or another "
                                      "--out", self.run_dir)
                # writes a kill -9 cut short, of the files the lock holder alone writes: those
                # whose process is gone (the lock cleared any file's 10 minutes old ones; best.pt
                # may be calibrate's live write)
                remove_stale_temp_files(self.run_dir, dead_writers=True,
                                        dest=lambda n: n in OWN_RUN_FILES)
            with deterministic_mode(self.cfg.train.deterministic):
                return self._fit(resume)
        finally:
            if lock is not None:
                lock.release()

    def _fit(self, resume: bool) -> dict:
        c = self.cfg
        torch.manual_seed(c.train.seed)
        self._model()  # fail fast on model/config errors before decoding any audio
        self._data()
        self._check_input_shape()
        start, best, history = self._start(resume)
        t_last, walls = time.time(), []  # each epoch's wall time in this process (ETA)
        epochs_bar = tqdm(total=c.train.epochs, initial=start, desc="train", unit="epoch",
                          disable=not (self.progress and self.dist.main), dynamic_ncols=True)
        for epoch in range(start, c.train.epochs):
            t0 = time.time()
            if epoch == start:  # this process trains: its machine joins the run's record
                here = machine_record(self.device, self.dist.world)
                if not self._machines or self._machines[-1] != here:
                    self._machines.append(here)
            lr = self.schedule.apply(self.optimizer, epoch)
            for m in self.model.modules():  # annealed estimators (IR-Net's EDE)
                if hasattr(m, "set_progress"):
                    cast(Any, m).set_progress(epoch / max(1, c.train.epochs - 1))
            try:
                loss, acc = self._train_epoch(epoch)
                self._sync_buffers()
                self._check_weights(epoch)
                t_eval = time.time()
                with self.ema.applied(self.model) if self.ema is not None else nullcontext():
                    val_metrics = self.evaluate(epoch)
            except TrainingDiverged:
                if self.dist.main:
                    self._record_divergence(epoch, history, best)
                raise
            metrics = {"epoch": epoch + 1, "lr": lr, "train_loss": loss, "train_acc": acc,
                       **val_metrics, "epoch_time_s": time.time() - t0,
                       "data_time_s": self.data_time, "model_time_s": self.model_time,
                       "eval_time_s": time.time() - t_eval,
                       # per epoch: a run resumed with another train.threads mixes counts,
                       # and its config.yaml holds the latest (the model card reads these)
                       "cpu_threads": torch.get_num_threads()}
            self.schedule.observe(metrics[f"{self.select}_{c.train.blocks[0]}"])
            history.append(metrics)
            improved = self._best_index(history) == len(history) - 1
            if improved:
                best = metrics[f"{self.select}_{c.train.blocks[0]}"]
            if self.dist.main:
                self._save(epoch + 1, metrics, history, best, improved)
            epochs_bar.update(1)
            val = " ".join(f"{k[4:]}={v:.4f}" for k, v in metrics.items()
                           if k.startswith("val_"))
            epochs_bar.set_postfix_str(f"loss={loss:.3f} {val}")
            now = time.time()
            walls.append(now - t_last)
            t_last = now
            if not self.progress and self.dist.main:
                left = eta_seconds(walls, c.train.epochs - epoch - 1)
                print(f"epoch {epoch + 1}/{c.train.epochs} lr={lr:.2e} loss={loss:.4f} "
                      f"acc={acc:.4f} {val} ({metrics['epoch_time_s']:.1f}s, "
                      f"ETA {left / 60:.1f} min)", file=sys.stderr, flush=True)
        epochs_bar.close()
        # the epoch best.pt holds, by the same rule that wrote it (None: no epoch met it)
        best_i = self._best_index(history)
        best_epoch = history[best_i]["epoch"] if best_i is not None else None
        summary = {"best_val_acc": best if best_epoch is not None else None,
                   # the metric best_val_acc is: val_acc (accuracy) or val_bacc (balanced)
                   "selected_on": self.select,
                   "epochs": c.train.epochs,
                   # which training code made it (a run of older rules is not reused)
                   "training_rules": TRAINING_RULES,
                   "final": history[-1] if history else {},
                   "best_epoch": best_epoch,
                   "train_wall_s": sum(m["epoch_time_s"] for m in history),
                   # what the model card names (it is published later, often elsewhere)
                   "machine": self._machines[-1] if self._machines else None,
                   "machines": self._machines}
        if self.dist.main:
            self._plot(history)
            atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2))
        if self.dist.world > 1:
            dist.barrier()
        return summary

    def _check_input_shape(self) -> None:
        """Refuse features the model cannot read, before config.yaml is written (so the folder
        can be reused with the config made for this data)."""
        c = self.cfg
        mels = getattr(self.model, "n_mels", self.feature_cfg.n_mels)
        if mels != self.feature_cfg.n_mels:
            raise BifsmnError(f"the model reads {mels} mel bands per step (model.kwargs.n_mels), "
                              f"the data's {feature_kind(self.feature_cfg)} features have "
                              f"{self.feature_cfg.n_mels}: use the config made for this data",
                              c.data.root)
        want = self.feature_cfg.num_frames
        got = getattr(self.model, "frames", want)
        if got != want:
            raise BifsmnError(f"model.kwargs.frames={got}, but the features give {want} time "
                              f"steps per clip (fbank40's data.pool sets them: 3 -> 32, 2 -> 48, "
                              f"1 -> 96)", c.data.root)

    def _start(self, resume: bool) -> tuple[int, float, list[dict]]:
        """Where training begins: ``(epochs done, best so far, their history)``. Restored from
        ``last.pt`` for ``resume``; a fresh run's folder and config.yaml are written. Also sets
        ``self._machines`` (the machines the run trained on, in order: a GPU run resumed on a
        CPU names both)."""
        c = self.cfg
        history: list[dict] = []
        start, best = 0, -math.inf
        self._machines: list[dict] = []
        last = self.run_dir / "last.pt"
        if resume and last.is_file():
            state = load_checkpoint(last)
            saved = self.run_dir / "config.yaml"
            # the raw values: validating the old file would refuse a device this machine
            # lacks (a GPU run resumed with train.device=cpu)
            raw = yaml.safe_load(saved.read_text()) if saved.is_file() else None
            raw = raw if isinstance(raw, dict) else {}
            self._check_same_run(state, raw, last)
            try:
                # with EMA on, state_dict holds the average and raw_state_dict the training
                # weights
                self.model.load_state_dict(state.get("raw_state_dict", state["state_dict"]))
                if self.ema is not None:
                    self.ema.load_state_dict(state["state_dict"])
                self.optimizer.load_state_dict(state["optimizer"])
                schedule, history = dict(state["schedule"]), list(state["history"])
                start, best = state["epoch"], state["best"]
                # accuracies of epochs trained before session 69 were float32 means: made the
                # exact ratios later epochs record, so a tie still goes to the earlier epoch
                n_val = len(self.val_labels)
                history = [{k: exact_rate(v, n_val) if k.startswith("val_acc_") else v
                            for k, v in row.items()} for row in history]
                if self.select == "val_acc":
                    best = exact_rate(best, n_val)
                self._machines = [m for m in state.get("machines", []) if isinstance(m, dict)]
            except (RuntimeError, KeyError, ValueError, TypeError) as exc:
                # an override changed the model, the classes or the optimizer (config.yaml is
                # not rewritten: the folder stays resumable with its own settings)
                why = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
                why = why or type(exc).__name__
                why = why if len(why) <= 160 else why[:157] + "..."
                raise BifsmnError("the saved run does not fit the resumed settings (a changed "
                                  "model.*, data.* or optim.* override, or a last.pt that is not "
                                  f"a run's resume point?): {why}", last) from None
            self.schedule.state = schedule
            if saved.is_file():  # epochs of a version without the column ran at its threads
                first = int((raw.get("train") or {}).get("threads", 0))
                for m in history:
                    m.setdefault("cpu_threads", first)
            if self.dist.main:
                # `--resume RUN train.epochs=N`: the folder's config says what the run now is,
                # so the next plain --resume (and the model card) sees the same settings
                save_config(c, saved)
                summary = self.run_dir / "summary.json"
                if start < c.train.epochs and summary.is_file():
                    # the run goes on: until it writes a new one, the old summary would make a
                    # kill mid-way look like a finished run (compare and quickstart reuse those)
                    summary.unlink()
            if self.dist.main and history:
                # a kill between last.pt and metrics.csv (even after the final epoch) left the
                # CSV one epoch short: last.pt's history is the truth, rewrite the table now
                self._write_metrics(history)
        elif resume and not (self.run_dir / "config.yaml").is_file():
            raise BifsmnError("nothing to resume: no last.pt", self.run_dir)
        elif resume and (trained := self._trained_without_last()):
            # a run that saved epochs but lost last.pt: starting over would replace its
            # best.pt, metrics and summary with a new run's
            raise BifsmnError(f"nothing to resume: no last.pt, but the folder holds "
                              f"{' and '.join(trained)} of trained epochs (restore last.pt, or "
                              "move the folder away to train afresh)", self.run_dir)
        elif self.dist.main:  # a fresh run (or one killed before its first epoch was saved)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(c, self.run_dir / "config.yaml")
        return start, best, history

    def _kept(self) -> str:
        """What a divergence leaves to go back to (part of its one-line message)."""
        if (self.run_dir / "last.pt").is_file():
            return "last.pt keeps the last finite epoch"
        return "no epoch finished, so there is no last.pt"

    def _check_same_run(self, state: dict, raw: dict, last: Path) -> None:
        """Refuse a resume whose overrides name another model, binarization method or
        optimizer than the saved run's: the saved state may load into it without an error
        (SGD takes Adam's state and fails mid-step; two methods share parameter shapes) and
        train something the run is not (``raw``: the run folder's config.yaml as read).
        Shape changes are caught where the state loads."""
        c = self.cfg
        pairs = (("model.name", (state.get("model") or {}).get("name"), c.model.name),
                 ("binary.method", (state.get("binary") or {}).get("method"), c.binary.method),
                 ("optim.name", (raw.get("optim") or {}).get("name"), c.optim.name))
        for key, was, now in pairs:
            if was is not None and was != now:
                raise BifsmnError(f"{key} cannot change a resumed run (it trained with {was!r}, "
                                  f"the override asks for {now!r})", last)

    def _trained_without_last(self) -> list[str]:
        """The files that show this folder trained epochs (``last.pt`` aside): metrics.csv
        (written after each epoch's last.pt) and a summary.json of a run that got through an
        epoch. Empty for a run killed before its first epoch was saved, which may start over
        (its best.pt, if any, is the same deterministic epoch 1 that restarting rewrites)."""
        found = []
        if (self.run_dir / "metrics.csv").is_file():
            found.append("metrics.csv")
        summary = self.run_dir / "summary.json"
        if summary.is_file():
            try:
                final = json.loads(summary.read_text()).get("final")
            except (ValueError, AttributeError, OSError, UnicodeDecodeError):
                final = True  # unreadable: assume the worst, keep it
            if final:
                found.append("summary.json")
        return found

    def _save(self, epoch: int, metrics: dict, history: list[dict], best: float,
              improved: bool) -> None:
        payload = self._payload(epoch, metrics)
        if improved:
            save_checkpoint(self.run_dir / "best.pt", payload)
        raw = {} if self.ema is None else {"raw_state_dict": self.model.state_dict()}
        save_checkpoint(self.run_dir / "last.pt", {
            **payload, **raw, "optimizer": self.optimizer.state_dict(),
            "schedule": dict(self.schedule.state), "history": history, "best": best,
            "machines": self._machines})
        self._write_metrics(history)
        if self.cfg.train.plot_every and epoch % self.cfg.train.plot_every == 0:
            self._plot(history)

    def _write_metrics(self, history: list[dict]) -> None:
        buf = io.StringIO()
        # the union of the rows' keys: a run resumed by a newer version adds columns
        fields = list(dict.fromkeys(k for row in history for k in row))
        writer = csv.DictWriter(buf, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(history)
        atomic_write_text(self.run_dir / "metrics.csv", buf.getvalue())

    def _check_weights(self, epoch: int) -> None:
        """Once per epoch: weights that went NaN/inf after the last finite loss never reach
        validation, best.pt or a metric."""
        for name, p in self.model.named_parameters():
            if not torch.isfinite(p).all():
                raise TrainingDiverged(f"training diverged: parameter {name} is non-finite "
                                       f"after epoch {epoch + 1}; the run stops here "
                                       f"({self._kept()}; try a lower optim.lr or "
                                       "optim.grad_clip)", self.run_dir)

    def _record_divergence(self, epoch: int, history: list[dict], best: float) -> None:
        """summary.json of a diverged run: what compare reports (and reuses) as diverged."""
        summary = {"diverged": True, "diverged_epoch": epoch + 1, "epochs": self.cfg.train.epochs,
                   "training_rules": TRAINING_RULES,
                   "best_val_acc": best if math.isfinite(best) else None,
                   "final": history[-1] if history else {},
                   "train_wall_s": sum(m["epoch_time_s"] for m in history)}
        atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2))

    def _plot(self, history: list[dict]) -> None:
        if not history:
            return
        from bifsmn.plots import plot_curves

        plot_curves(history, self.run_dir / "curves.png")
