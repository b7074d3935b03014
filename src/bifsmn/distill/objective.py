"""Distillation objectives for thinnable binary students.

For every trained path ``p`` (weight ``w_p``) and every block ``j`` that path runs, the student's
block output ``S_j^p`` is matched with the teacher's ``T_j`` (same block index;
docs/methods.md, "Distillation"):

* ``fid`` (BiFSMNv2): ``sum_band D(band(S), band(T))`` over the Haar low and high bands, plus
  ``MSE(z_student, z_teacher)`` on logits;
* ``hed`` (BiFSMN v1): ``D(S, T/std(T) + H(T)/std(H(T)))``, no logit term;
* ``feature``: ``D(S, T)`` on the raw features plus the logit MSE (control without bands).

``L = sum_p w_p [CE(z^p, y) + alpha * (feature terms + logit term) + kl * KL_T]``.

``KL_T = T^2 KL(softmax(z_t / T) || softmax(z^p / T))`` (Hinton et al.'s soft targets,
``distill.options: {kl: weight, kl_temperature: T}``, off by default) hands the student the
teacher's whole answer, including how much of a keyword-like clip it gives to ``unknown``; the
logit MSE of the paper's recipe weighs every logit alike, whatever its rank (issue 13: the
student is confident on confusable non-keywords where the teacher is not).

A student and a teacher of different tasks are distilled on their common classes: a 37-class
student (``_unknown_:<word>`` sub-classes) of a 12-class teacher has its logits merged into the 12
classes (log-sum-exp of each group, :class:`bifsmn.data.labels.ClassMerge`) for the logit terms,
so the teacher is asked only what it knows; a 37-class teacher of a 12-class student has its own
logits merged. Cross-entropy and the feature terms are unchanged.

The teacher runs once per batch and its outputs serve every path. ``teacher_mode: eval`` (the
default) uses eval-mode BatchNorm and no dropout, as the paper intends; ``teacher_mode: train``
keeps the reference code's quirk (docs/methods.md, "Distillation"): batch statistics, dropout
active and the teacher's running statistics drifting while the student trains.
"""

from __future__ import annotations

import logging
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from bifsmn.blocks import layers_of_index
from bifsmn.data.labels import ClassMerge, labels_for_task
from bifsmn.distill.losses import attention_distance, hed_enhance
from bifsmn.distill.wavelet import wavelet_bands
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import checkpoint_labels, model_from_checkpoint
from bifsmn.train.config import Config
from bifsmn.train.objective import forward_paths

log = logging.getLogger(__name__)
KINDS = ("fid", "hed", "feature")
BANDS = ("both", "low", "high")


class Distill:
    """Callable objective: ``(model, x, y) -> (loss, logits of the first path)``."""

    def __init__(self, teacher: nn.Module, kind: str, alpha: float, paths: list[int],
                 weights: list[float], teacher_mode: str = "eval", levels: int = 1,
                 bands: str = "both", wavelet: str = "haar", kl: float = 0.0,
                 kl_temperature: float = 2.0, student_merge: ClassMerge | None = None,
                 teacher_merge: ClassMerge | None = None, label_smoothing: float = 0.0) -> None:
        if kind not in KINDS:
            raise BifsmnError(f"unknown distillation kind {kind!r} (none, {', '.join(KINDS)})")
        if teacher_mode not in ("eval", "train"):
            raise BifsmnError("distill.teacher_mode must be 'eval' or 'train'")
        if bands not in BANDS:
            raise BifsmnError(f"distill.options.bands must be one of {BANDS}")
        if kl < 0 or kl_temperature <= 0:
            raise BifsmnError("distill.options: kl must be >= 0 and kl_temperature > 0")
        self.teacher, self.kind, self.alpha = teacher, kind, alpha
        self.paths, self.weights = list(paths), list(weights)
        self.teacher_mode, self.levels, self.bands = teacher_mode, levels, bands
        self.wavelet = wavelet
        self.kl, self.kl_temperature = float(kl), float(kl_temperature)
        self.student_merge, self.teacher_merge = student_merge, teacher_merge
        self.label_smoothing = float(label_smoothing)  # of the label term only
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def feature_terms(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.kind == "feature":
            return attention_distance(s, t)
        if self.kind == "hed":
            high = wavelet_bands(t, self.wavelet, self.levels)[1]
            return attention_distance(s, hed_enhance(t, high))
        s_low, s_high = wavelet_bands(s, self.wavelet, self.levels)
        t_low, t_high = wavelet_bands(t, self.wavelet, self.levels)
        loss = s.new_zeros(())
        if self.bands in ("both", "low"):
            loss = loss + attention_distance(s_low, t_low)
        if self.bands in ("both", "high"):
            loss = loss + attention_distance(s_high, t_high)
        return loss

    def soft_target_loss(self, s_logits: torch.Tensor, t_logits: torch.Tensor) -> torch.Tensor:
        """``T^2 KL(p_t || p_s)`` at temperature T, batch mean (T^2 keeps the gradient scale)."""
        t = self.kl_temperature
        return F.kl_div(F.log_softmax(s_logits / t, dim=-1), F.log_softmax(t_logits / t, dim=-1),
                        reduction="batchmean", log_target=True) * (t * t)

    def __call__(self, model: nn.Module, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
                 y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: the batch, or ``(student input, teacher input)`` (``distill.teacher_input:
        clean``: the teacher sees the batch without its noise)."""
        x, x_teacher = x if isinstance(x, tuple) else (x, x)
        self.teacher.train(self.teacher_mode == "train")
        with torch.no_grad():
            t_logits, t_feats = self.teacher(x_teacher, path=0, return_features=True)
            if self.teacher_merge is not None:
                t_logits = self.teacher_merge.torch_logits(t_logits)
        loss = x.new_zeros(())
        first = None
        outs = forward_paths(model, x, self.paths)
        for p, w, (logits, feats) in zip(self.paths, self.weights, outs, strict=True):
            kd = x.new_zeros(())
            # the student's block j is matched with the teacher's block j (path 0: all)
            for j, s in zip(layers_of_index(p, len(t_feats)), feats, strict=True):
                kd = kd + self.feature_terms(s, t_feats[j])
            # the logit terms on the classes both know (the student's merged where it has more)
            z = logits if self.student_merge is None else self.student_merge.torch_logits(logits)
            if self.kind != "hed":
                kd = kd + F.mse_loss(z, t_logits)
            term = (F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
                    + self.alpha * kd)
            if self.kl:
                term = term + self.kl * self.soft_target_loss(z, t_logits)
            loss = loss + w * term
            first = logits if first is None else first
        return loss, cast(torch.Tensor, first)  # train.blocks is non-empty: a path ran


def make_distill_objective(cfg: Config, device: torch.device) -> Distill:
    """Build the objective of ``cfg.distill`` (teacher loaded from its checkpoint)."""
    d = cfg.distill
    if not d.teacher:
        raise BifsmnError("distill.teacher must name the teacher checkpoint")
    teacher, teacher_ckpt = model_from_checkpoint(d.teacher)
    frames = int(cfg.model.kwargs.get("frames", 32))
    if getattr(teacher, "frames", frames) != frames:  # both read one batch: same steps per clip
        raise BifsmnError(f"the teacher reads {teacher.frames} time steps per clip, the student "
                          f"{frames}: train the student at the teacher's data.pool and "
                          "model.kwargs.frames", d.teacher)
    mels = int(cfg.model.kwargs.get("n_mels", 32))
    if getattr(teacher, "n_mels", mels) != mels:
        raise BifsmnError(f"the teacher reads {teacher.n_mels} mel bands per step, the student "
                          f"{mels}: distil from a teacher trained on the same features",
                          d.teacher)
    if (teacher_ckpt.get("binary") or {}).get("method", "none") != "none":
        log.warning("%s: the teacher is a binarized model; the recipes distil from a "
                    "full-precision teacher", d.teacher)
    student_merge, teacher_merge = task_merges(
        labels_for_task(cfg.data.num_classes, cfg.data.keywords), teacher_ckpt, d.teacher)
    opts = dict(d.options)
    unknown = set(opts) - {"levels", "bands", "wavelet", "kl", "kl_temperature"}
    if unknown:
        raise BifsmnError(f"unknown distill.options {sorted(unknown)} "
                          "(levels, bands, wavelet, kl, kl_temperature)")
    return Distill(teacher.to(device), d.kind, d.alpha, cfg.path_indices, cfg.train.path_weights,
                   d.teacher_mode, int(opts.get("levels", 1)), str(opts.get("bands", "both")),
                   str(opts.get("wavelet", "haar")), float(opts.get("kl", 0.0)),
                   float(opts.get("kl_temperature", 2.0)), student_merge, teacher_merge,
                   cfg.train.label_smoothing)


def task_merges(student: tuple[str, ...] | list[str], teacher_ckpt: dict,
                teacher_path: str) -> tuple[ClassMerge | None, ClassMerge | None]:
    """``(student merge, teacher merge)``: how the logit terms compare the two models' classes.

    Same labels: ``(None, None)``. A student whose classes merge into the teacher's (37 -> 12):
    the student's merge; the reverse: the teacher's; a student of keywords the teacher has
    classes for: the teacher's classes onto the student's (:meth:`ClassMerge.onto`, the others
    into ``_unknown_``). Any other pair has no common answer to
    distil, so it is refused naming both tasks (an MSE between logits of 37 and 12 classes
    would otherwise fail deep inside torch, or broadcast silently)."""
    student, teacher = list(student), checkpoint_labels(teacher_ckpt)
    if student == teacher:
        return None, None
    if ClassMerge(student).labels == teacher:
        return ClassMerge(student), None
    if ClassMerge(teacher).labels == student:
        return None, ClassMerge(teacher)
    try:  # a student of keywords the teacher knows: the teacher's other words count as unknown
        return None, ClassMerge.onto(teacher, student)
    except BifsmnError as exc:
        why = str(exc)
    raise BifsmnError(f"the teacher's {len(teacher)} classes and the student's {len(student)} "
                      f"(data.num_classes / data.keywords) have no common answer to distil "
                      f"({why}): use a teacher of the same task, or of the 12-class task for a "
                      "37-class student or one of keywords among the ten commands",
                      teacher_path)
