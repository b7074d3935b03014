"""Named recipes: every method of the comparison as overrides of the BiFSMNv2 config.

All methods share data, split, seed, schedule, batch size, thinnable paths and the teacher
initialisation; a recipe changes only what defines the method (binarizer, distillation,
parameter groups). Ablations of BiFSMNv2 change one ingredient each.
"""

from __future__ import annotations

from pathlib import Path

from bifsmn.cli import resolve_config
from bifsmn.errors import BifsmnError
from bifsmn.train.config import Config, load_config

_BASELINE = ["distill.kind=none", "optim.groups=[]"]

RECIPES: dict[str, list[str]] = {
    "bifsmnv2": [],
    "bifsmn_v1": ["binary.method=bifsmn_v1", "distill.kind=hed", "optim.groups=[]"],
    "bnn": ["binary.method=bnn", *_BASELINE],
    "xnor": ["binary.method=xnor", *_BASELINE],
    "bireal": ["binary.method=bireal", *_BASELINE],
    "ir_net": ["binary.method=ir_net", *_BASELINE],
    "react": ["binary.method=react", *_BASELINE],
}

ABLATIONS: dict[str, list[str]] = {
    "bifsmnv2": [],
    "no_dual_scale": ["binary.method=bifsmnv2_single"],
    "no_fid": ["distill.kind=none"],
    "fid_high_only": ["distill.options={bands: high}"],
    "fid_low_only": ["distill.options={bands: low}"],
    "plain_feature_kd": ["distill.kind=feature"],
    "no_lpb_ste": ["binary.method=bifsmnv2_ste"],
    "reference_granularity": ["binary.options={granularity: reference}"],
}


def recipe_config(name: str, table: dict[str, list[str]], data: str, teacher: str,
                  epochs: int | None = None, extra: list[str] | None = None) -> Config:
    """Config of one recipe, ready to train."""
    if name not in table:
        raise BifsmnError(f"unknown recipe {name!r} (known: {', '.join(table)})")
    cfg = load_config(resolve_config("bifsmnv2"), [*table[name], *(extra or [])])
    cfg.data.root = str(Path(data).resolve())  # same run whatever the spelling of the path
    cfg.model.init = teacher
    cfg.distill.teacher = teacher
    if epochs is not None:
        cfg.train.epochs = epochs
    return cfg
