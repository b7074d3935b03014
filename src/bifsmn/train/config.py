"""Typed training configuration: YAML in, validated dataclasses out.

A run is fully described by one :class:`Config`; the resolved config is written into the run
folder, so ``--resume`` and later readers never depend on command-line history. Unknown keys and
wrong types are rejected with a one-line error that names the file and the dotted key, because a
typo such as ``optim.lrr`` silently training with the default is the classic research-script bug.

Overrides use dotted keys: ``bifsmn train --config c.yaml optim.lr=0.01 train.epochs=5``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from bifsmn import blocks as blocks_mod
from bifsmn.data.labels import labels_for_task
from bifsmn.errors import BifsmnError
from bifsmn.outputs import atomic_write_text


@dataclass
class ModelConfig:
    """Architecture: a registered model name plus its keyword arguments."""

    name: str = "dfsmn_teacher"
    kwargs: dict = field(default_factory=dict)
    init: str = ""  # checkpoint whose weights initialise the model (strict=False), e.g. teacher


@dataclass
class DataConfig:
    """Where the clips are and how batches are made."""

    root: str = ""
    num_classes: int = 12
    # a keyword task of one's own: these words (folder names of a full-layout data set, or
    # words of a feature archive) as the classes beside _unknown_ and _silence_, every other
    # word in _unknown_; num_classes follows (2 + len). Empty: the ten commands (12 classes)
    keywords: list[str] = field(default_factory=list)
    # share of _unknown_ clips in each training epoch: 0 = all of them; in (0, 1) every epoch
    # draws (seeded) just enough of them to make this share of its clips (a task of two
    # keywords is ~94 % unknown clips otherwise); validation is never subsampled
    unknown_share: float = 0.0
    protocol: str = "auto"
    train_split: str = "training"
    val_split: str = "validation"
    batch_size: int = 96
    augment: bool = True
    noise_prob: float = 0.3
    noise_max_scale: float = 0.3
    amplitude_prob: float = 0.5
    speed_prob: float = 0.5
    shift_prob: float = 0.5
    cache_dir: str = ""
    limit_train: int = 0  # train on N items drawn at random (seeded; tests, smoke runs); 0: all
    # front end: "auto" = fbank40 for a feature archive, logmel32 (the paper's) for audio
    features: str = "auto"
    # fbank40 image frames averaged into one network step (0: the archive's own, 3 = 32 steps);
    # 2 and 1 give 48 and 96 steps (set model.kwargs.frames to match) at input scale
    # 1 / (32 pool), so every setting feeds the network the same value range (docs/fbank40.md)
    pool: int = 0
    # folders of recordings of other phrases, run through the front end into `unknown`
    negatives: list[str] = field(default_factory=list)
    negatives_windows: int = 3  # 1-s windows taken from each negative recording
    jpeg_quality: int = 75  # JPEG round trip of audio-derived features (0: off), as the archive
    # feature-domain augmentation (feature archives): shift in frames, noise gain, masks
    shift_max_frames: int = 10
    noise_max_gain: float = 1.0
    # [lo, hi]: mix noise at a clip-over-noise SNR uniform in lo..hi dB instead of a raw gain in
    # 0..noise_max_gain (empty: raw gains, as every run before session 8)
    noise_snr_db: list[float] = field(default_factory=list)
    mask_prob: float = 0.5
    # streaming windows (issue 13 item 3, feature archives): this share of keyword clips is
    # shifted until only cut_keep_min..cut_keep_max of the word's energy stays in the window,
    # and labelled unknown (a detector sliding over a stream sees every word cut at the edges).
    # 0 = off. Keyword position jitter for the rest: shift_prob / shift_max_frames above.
    cut_prob: float = 0.0
    cut_keep_min: float = 0.1
    cut_keep_max: float = 0.4


@dataclass
class OptimConfig:
    """Optimizer; ``groups`` give regex-matched parameters their own lr scale / weight decay."""

    name: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-2
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    groups: list[dict] = field(default_factory=list)
    grad_clip: float = 0.0


@dataclass
class SchedConfig:
    """Learning-rate schedule, stepped once per epoch (as the reference code)."""

    name: str = "cosine"
    warmup_epochs: int = 0
    warmup_start: float = 0.01
    step_size: int = 30
    gamma: float = 0.1
    patience: int = 10
    min_lr: float = 0.0


@dataclass
class BinaryConfig:
    """How the model is binarized (``method: none`` keeps full precision)."""

    method: str = "none"
    keep_fp: list[str] = field(default_factory=lambda: ["conv1", "classifier"])
    options: dict = field(default_factory=dict)


@dataclass
class DistillConfig:
    """Knowledge distillation from a teacher checkpoint (``kind: none`` disables it)."""

    kind: str = "none"
    teacher: str = ""
    alpha: float = 0.01
    teacher_mode: str = "eval"
    # What the teacher sees: "augmented" (the student's batch) or "clean" (the same batch
    # without the mixed-in noise: the student learns to give the clean teacher's answer on
    # noisy input; feature archives only).
    teacher_input: str = "augmented"
    options: dict = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Loop settings."""

    epochs: int = 300
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    # thinnable paths trained, as block counts (8, 4, 2, 1); the first one picks the best epoch.
    # Configs written before block counts said ``paths: [0, 1, 2, 3]`` (path indices): read
    # and converted by :func:`config_from_dict`.
    blocks: list[int] = field(default_factory=lambda: [8])
    path_weights: list[float] = field(default_factory=lambda: [1.0])
    # which epoch becomes best.pt: "ties" (best accuracy of blocks[0]; an exact tie goes to
    # the epoch whose other paths score higher on average: with thousands of validation clips
    # equal counts happen, and the earliest can be points behind on the thinner paths; the
    # default since session 50), "first" (the earliest of tied epochs: the default until
    # session 49, and what a run folder whose config.yaml names no rule resumes with, see
    # load_run_config) or "monotone" (the reference rule)
    best_rule: str = "ties"
    # what "accuracy" means for best.pt and plateau schedules: "accuracy" (share of validation
    # clips right), "balanced" (mean recall over the classes: each keyword counts as much as
    # _unknown_, which holds ~94 % of the clips of a two-keyword task) or "auto" (balanced for
    # data.keywords tasks, accuracy otherwise)
    select_on: str = "auto"
    # label smoothing of the cross-entropy on the labels (0: none): the target puts
    # 1 - eps on the label and eps spread over all classes (as torch's cross_entropy), which
    # keeps logits from growing without bound on clips the model already gets right (KWT's
    # recipe uses 0.1); distillation terms are unchanged
    label_smoothing: float = 0.0
    # exponential moving average of the weights (0: off; e.g. 0.999 averages over ~1,000
    # steps): the run validates, selects and saves the averaged weights (bifsmn.train.ema)
    ema_decay: float = 0.0
    plot_every: int = 10
    # torch.compile the training objective (student, teacher, distillation terms; the student
    # alone under DDP): the at-scale student step 2.4x faster than eager on a CPU thread (the
    # student compiled alone: 1.8x) after 1-3 minutes of compilation
    # (docs/results/gpu/step_ops.txt), so worth it for long runs; on a
    # GPU it cuts the kernel launches that bound an uncompiled step (not yet measured there)
    compile: bool = False
    # PyTorch's deterministic algorithms for the run (bifsmn.train.determinism): on a GPU two
    # runs with one seed then give the same weights, at some speed; the CPU is exact anyway
    deterministic: bool = False


@dataclass
class Config:
    """A whole run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sched: SchedConfig = field(default_factory=SchedConfig)
    binary: BinaryConfig = field(default_factory=BinaryConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def num_layers(self) -> int:
        """The model's layer count (what block counts are counted against)."""
        n = self.model.kwargs.get("num_layers", blocks_mod.DEFAULT_LAYERS)
        return n if isinstance(n, int) and n >= 1 else blocks_mod.DEFAULT_LAYERS

    @property
    def path_indices(self) -> list[int]:
        """``train.blocks`` as the model's internal path indices (for the training graph)."""
        return [blocks_mod.to_index(b, self.num_layers) for b in self.train.blocks]


def _check_type(value: Any, tp: Any, key: str, src: str) -> Any:
    origin = typing.get_origin(tp)
    bad = BifsmnError(
        f"{key} must be {getattr(tp, '__name__', str(tp))}, got {type(value).__name__} "
        f"{value!r}", src)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, str):  # PyYAML reads 1e-3 as a string (YAML 1.1)
            try:
                return float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if origin is list:
        if not isinstance(value, list):
            raise bad
        (inner,) = typing.get_args(tp)
        return [_check_type(v, inner, f"{key}[{i}]", src) for i, v in enumerate(value)]
    if isinstance(tp, types.UnionType):
        raise TypeError(f"unsupported config type {tp}")
    return value


def _build(cls: type, data: Any, prefix: str, src: str) -> Any:
    if not isinstance(data, dict):
        raise BifsmnError(f"{prefix or 'config'} must be a mapping, got {type(data).__name__}",
                          src)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in data:
        if k not in names:
            raise BifsmnError(f"unknown key '{prefix}{k}' (known: {', '.join(sorted(names))})",
                              src)
    kwargs = {}
    for k, v in data.items():
        tp = hints[k]
        if dataclasses.is_dataclass(tp):
            kwargs[k] = _build(typing.cast(type, tp), v, f"{prefix}{k}.", src)  # a class
        else:
            kwargs[k] = _check_type(v, tp, f"{prefix}{k}", src)
    return cls(**kwargs)


def _legacy_paths(data: dict, src: str) -> dict:
    """``train.paths`` (path indices, configs and checkpoints before block counts) ->
    ``train.blocks``: index ``p`` is ``num_layers >> p`` blocks (8, 4, 2, 1 for 8 layers)."""
    train = data.get("train") if isinstance(data, dict) else None
    if not isinstance(train, dict) or "paths" not in train:
        return data
    if "blocks" in train:
        raise BifsmnError("give train.blocks (block counts) only, not also the old train.paths "
                          "(path indices)", src)
    kwargs = (data.get("model") or {}).get("kwargs") or {}
    layers = kwargs.get("num_layers", blocks_mod.DEFAULT_LAYERS) if isinstance(kwargs, dict) \
        else blocks_mod.DEFAULT_LAYERS
    old = train["paths"]
    if not isinstance(old, list):
        raise BifsmnError(f"train.paths must be a list of path indices, got {old!r}", src)
    try:
        new = blocks_mod.from_legacy_indices(old, layers)
    except BifsmnError as exc:
        raise BifsmnError(f"train.paths: {exc}", src) from None
    train = {("blocks" if k == "paths" else k): (new if k == "paths" else v)
             for k, v in train.items()}
    return {**data, "train": train}


class _ConfigLoader(yaml.SafeLoader):
    """YAML with 1.2 booleans: only ``true`` / ``false`` (any case) are booleans, so the
    Speech Commands words ``yes``, ``no``, ``on`` and ``off`` stay words in
    ``data.keywords=[yes,no]`` (YAML 1.1 reads them as True / False)."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in rules if tag != "tag:yaml.org,2002:bool"]
    for first, rules in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                    list("tTfF"))


def load_yaml(text: str) -> Any:
    """A config file's or override's YAML (:class:`_ConfigLoader`: 1.2 booleans)."""
    return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader subclass


def config_from_dict(data: dict, src: str = "<config>") -> Config:
    """Validate a nested mapping into a :class:`Config` (types, then value ranges).

    The old key ``train.paths`` (path indices) is read as ``train.blocks``."""
    cfg = _build(Config, _legacy_paths(data or {}, src), "", src)
    if cfg.data.keywords and cfg.data.num_classes == 12:  # the default: follows the keywords
        cfg.data.num_classes = 2 + len(cfg.data.keywords)
    validate(cfg, src)
    return cfg


def validate(cfg: Config, src: str = "<config>") -> None:
    """Value checks the types cannot express; each failure is one line naming key and value."""
    def need(ok: bool, key: str, rule: str) -> None:
        if not ok:
            section, name = key.split(".")
            value = getattr(getattr(cfg, section), name)
            raise BifsmnError(f"{key} must be {rule}, got {value!r}", src)

    def finite(x: float) -> bool:
        return math.isfinite(x)

    d, o, s, t = cfg.data, cfg.optim, cfg.sched, cfg.train
    need(d.batch_size >= 1, "data.batch_size", "at least 1")
    need(d.num_classes >= 2, "data.num_classes", "at least 2")
    if d.keywords:
        try:
            labels_for_task(d.num_classes, d.keywords)
        except BifsmnError as exc:
            raise BifsmnError(f"data.keywords: {exc}", src) from None
    need(d.limit_train >= 0, "data.limit_train", ">= 0 (0: all)")
    need(d.negatives_windows >= 1, "data.negatives_windows", "at least 1")
    need(0 <= d.jpeg_quality <= 100, "data.jpeg_quality", "0..100 (0: off)")
    need(d.shift_max_frames >= 0, "data.shift_max_frames", ">= 0")
    need(d.pool in (0, 1, 2, 3), "data.pool",
         "0 (the archive's 3), 1, 2 or 3 fbank40 frames per network step")
    need(d.cut_keep_min <= d.cut_keep_max, "data.cut_keep_min", "<= data.cut_keep_max")
    need(finite(d.unknown_share) and 0.0 <= d.unknown_share < 1.0, "data.unknown_share",
         "in [0, 1) (0: every unknown clip)")
    snr = d.noise_snr_db
    need(not snr or (len(snr) == 2 and all(isinstance(v, (int, float)) and finite(v) for v in snr)
                     and snr[0] <= snr[1]),
         "data.noise_snr_db", "[] or [lo, hi] in dB with lo <= hi")
    for key in ("noise_prob", "amplitude_prob", "speed_prob", "shift_prob", "mask_prob",
                "cut_prob", "cut_keep_min", "cut_keep_max"):
        v = getattr(d, key)
        need(finite(v) and 0.0 <= v <= 1.0, f"data.{key}", "a probability in [0, 1]")
    for key in ("noise_max_scale", "noise_max_gain"):
        v = getattr(d, key)
        need(finite(v) and v >= 0, f"data.{key}", "finite and >= 0")
    need(finite(o.lr) and o.lr > 0, "optim.lr", "a finite number > 0")
    need(finite(o.momentum) and o.momentum >= 0, "optim.momentum", "finite and >= 0")
    need(len(o.betas) == 2 and all(isinstance(b, (int, float)) and 0.0 <= b < 1.0
                                   for b in o.betas), "optim.betas", "[b1, b2], each in [0, 1)")
    need(finite(o.weight_decay) and o.weight_decay >= 0, "optim.weight_decay", "finite and >= 0")
    need(finite(o.grad_clip) and o.grad_clip >= 0, "optim.grad_clip", "finite and >= 0 (0: off)")
    need(t.select_on in ("auto", "accuracy", "balanced"), "train.select_on",
         "auto, accuracy or balanced")
    need(t.best_rule in ("first", "ties", "monotone"), "train.best_rule",
         "first, ties or monotone")
    need(s.warmup_epochs >= 0, "sched.warmup_epochs", ">= 0")
    need(s.step_size >= 1, "sched.step_size", "at least 1")
    need(s.patience >= 0, "sched.patience", ">= 0")
    need(finite(s.gamma) and s.gamma > 0, "sched.gamma", "finite and > 0")
    need(finite(s.min_lr) and s.min_lr >= 0, "sched.min_lr", "finite and >= 0")
    need(cfg.distill.teacher_input in ("augmented", "clean"), "distill.teacher_input",
         "augmented or clean")
    need(t.epochs >= 1, "train.epochs", "at least 1")
    need(t.threads >= 0, "train.threads", ">= 0 (0: PyTorch's default)")
    need(t.plot_every >= 0, "train.plot_every", ">= 0 (0: only at the end)")
    need(0.0 <= t.label_smoothing < 1.0, "train.label_smoothing", "in [0, 1)")
    need(0.0 <= t.ema_decay < 1.0, "train.ema_decay", "in [0, 1) (0: off)")
    need(bool(t.blocks), "train.blocks", "a non-empty list of block counts (8, 4, 2, 1)")
    try:
        blocks_mod.parse_many(t.blocks, cfg.num_layers)
        paths = cfg.model.kwargs.get("num_paths")  # else the registered model's own
        if isinstance(paths, int) and paths >= 1:
            for b in t.blocks:
                blocks_mod.require(int(b), cfg.num_layers, paths, "model.kwargs.num_paths")
    except BifsmnError as exc:
        raise BifsmnError(f"train.blocks: {exc}", src) from None
    need(_device_ok(t.device), "train.device",
         "auto, cpu, or an available accelerator (cuda, cuda:N, mps)")


def _device_ok(name: str) -> bool:
    """``auto``/``cpu`` always; a CUDA/MPS device only when this machine has it."""
    if name in ("auto", "cpu"):
        return True
    import torch

    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        return False
    if dev.type == "cuda":
        return torch.cuda.is_available() and (dev.index is None
                                              or dev.index < torch.cuda.device_count())
    if dev.type == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return dev.type == "cpu"


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise BifsmnError(f"override {dotted!r}: {p} is not a section")
    node[parts[-1]] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or start from defaults) and apply ``key=value`` overrides."""
    data: dict = {}
    src = "<defaults>"
    if path is not None:
        p = Path(path)
        src = str(p)
        if p.is_dir():
            raise BifsmnError("a folder, not a config file", p)
        if not p.is_file():
            raise BifsmnError("config file not found", p)
        try:
            data = load_yaml(p.read_text())
        except yaml.YAMLError as exc:
            raise BifsmnError(f"not valid YAML ({str(exc).splitlines()[0]})", p) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BifsmnError(f"cannot read config ({exc})", p) from None
        if data is None:  # an empty file (or comments only) would train every default
            raise BifsmnError("config file is empty (give sections such as model:, data:, "
                              "train:, or a packaged config: teacher, bifsmnv2)", p)
        if not isinstance(data, dict):
            raise BifsmnError(f"config must be a mapping of sections, got "
                              f"{type(data).__name__}", p)
    for ov in overrides or []:
        if "=" not in ov:
            raise BifsmnError(f"override {ov!r} must look like section.key=value")
        key, raw = ov.split("=", 1)
        try:
            value = load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise BifsmnError(f"override {ov!r}: value is not valid YAML "
                              f"({str(exc).splitlines()[0]})") from None
        _set_dotted(data, key.strip(), value)
    try:
        return config_from_dict(data, src)
    except BifsmnError as exc:
        # a value given on the command line: name that override, not only the file
        text = str(exc)
        message = text[len(src) + 2:] if exc.path == src else text
        given = [ov for ov in overrides or []
                 if re.search(rf"\b{re.escape(ov.split('=', 1)[0].strip())}\b", message)]
        if not given:
            raise
        raise BifsmnError(message, f"{src}, override {given[-1]}") from None


#: the best-epoch rule of runs whose config.yaml predates ``train.best_rule`` (session 48)
LEGACY_BEST_RULE = "first"


def load_run_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """A run folder's ``config.yaml`` (``--resume``), with ``overrides``. Why not plain
    :func:`load_config`: a file written before ``train.best_rule`` existed ran with "first",
    and a resumed run must keep ranking its epochs by the rule it started with, not by
    today's default ("ties" since session 50); an override still wins."""
    cfg = load_config(path, overrides)
    raw = load_yaml(Path(path).read_text()) or {}
    train = raw.get("train") if isinstance(raw, dict) else None
    named = isinstance(train, dict) and "best_rule" in train
    overridden = any(ov.split("=", 1)[0].strip() == "train.best_rule" for ov in overrides or [])
    if not named and not overridden:
        cfg.train.best_rule = LEGACY_BEST_RULE
    return cfg


def resolve_config(name: str | Path) -> Path:
    """A config path, or the name of a packaged config (``teacher`` -> configs/teacher.yaml)."""
    p = Path(name)
    if p.is_file() or p.suffix in (".yaml", ".yml"):
        return p
    packaged = resources.files("bifsmn") / "configs" / f"{name}.yaml"
    if packaged.is_file():  # before a folder check: `--config teacher` beside a teacher/ folder
        return Path(str(packaged))
    if p.is_dir():
        raise BifsmnError("a folder, not a config file", p)
    raise BifsmnError(f"no config file {str(name)!r} and no packaged config of that name")


def packaged_configs() -> list[str]:
    """Names of the configs shipped in ``bifsmn/configs``."""
    return sorted(p.name[:-5] for p in (resources.files("bifsmn") / "configs").iterdir()
                  if p.name.endswith(".yaml"))


def set_teacher(cfg: Config, teacher: str | Path | None) -> Config:
    """The one rule of ``--teacher``: the checkpoint is distilled from (``distill.teacher``)
    and initialises the student (``model.init``) unless the config already names an init.
    ``None`` or ``""`` changes nothing. Returns ``cfg`` (changed in place)."""
    if teacher:
        cfg.model.init = cfg.model.init or str(teacher)
        cfg.distill.teacher = str(teacher)
    return cfg


def run_best(path: str | Path) -> Path | None:
    """``path/best.pt`` when ``path`` is a training run folder holding one, else None: the one
    rule by which a run folder stands for its best checkpoint (``--checkpoint``, ``--teacher``,
    ``model.init``)."""
    best = Path(path) / "best.pt"
    return best if Path(path).is_dir() and best.is_file() else None


def absolute_paths(cfg: Config) -> Config:
    """Make the config's file and folder paths absolute (``data.root``, ``data.negatives``,
    ``data.cache_dir``, ``model.init``, ``distill.teacher``), in place: ``config.yaml`` is what
    ``--resume`` and a model card read back, from whatever working directory, so it may not
    depend on the one the run started in. Empty values stay empty."""
    def fix(p: str) -> str:
        return os.path.abspath(p) if p else p

    cfg.data.root = fix(cfg.data.root)
    cfg.data.negatives = [fix(p) for p in cfg.data.negatives]
    cfg.data.cache_dir = fix(cfg.data.cache_dir)
    def checkpoint(p: str) -> str:  # a run folder stands for its best.pt: name the file
        best = run_best(p) if p else None
        return fix(str(best) if best is not None else p)

    cfg.model.init = checkpoint(cfg.model.init)
    cfg.distill.teacher = checkpoint(cfg.distill.teacher)
    return cfg


def save_config(cfg: Config, path: Path) -> None:
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
