"""Deployment: the explicit step from a trained model to the arithmetic the engine runs.

``model.eval()`` is the training graph in eval mode. What the engine computes is a different
float32 formulation of the same function (docs/binary-arithmetic.md), and wherever a
pre-activation lies within rounding of a binarization threshold the two can differ. Code that
means the deployed arithmetic (evaluation, export, parity checks, detection) asks for it:

>>> spec = fold(model)          # typed DeploySpec: folded constants, sign bits, shape
>>> ref = deploy(model)         # DeployedDFSMN: the engine's arithmetic in PyTorch
>>> logits = ref(features, blocks=8)

:func:`predict` is how evaluation scores a model: the deployed form for a binary model that
has one, the training graph (eval mode) otherwise.

Layering: this package sits above ``models`` and ``binary`` and below ``engine`` (which writes
a spec as a ``.bkws`` file); see tests/test_architecture.py.
"""

from __future__ import annotations

from torch import nn

from bifsmn.deploy.fold import FP_KINDS, NotDeployable, deploy_kind, fold
from bifsmn.deploy.reference import DeployedDFSMN, dual_split, sum8
from bifsmn.deploy.scoring import Scoring, predict, predict_finite, predict_paths, scoring
from bifsmn.deploy.spec import Arch, Constant, DeploySpec

__all__ = ["FP_KINDS", "Arch", "Constant", "DeploySpec", "DeployedDFSMN", "NotDeployable",
           "Scoring", "deploy", "deploy_kind", "dual_split", "fold", "predict", "predict_finite",
           "predict_paths", "scoring", "sum8"]


def deploy(model: nn.Module, binary: dict | None = None, param_dtype: str = "f32",
           classifier_dtype: str = "f32", storage: str | None = None) -> DeployedDFSMN:
    """The deployed form of a binarized DFSMN ``model`` (any device; read in eval mode).

    ``binary`` defaults to the model's own ``binary_spec``. By default constants and the
    classifier are float32, as the default export writes them; ``param_dtype`` /
    ``classifier_dtype`` ``"f16"`` give the exact reference of a file exported with those
    options; ``storage`` a storage plan's (``bifsmn export --storage``,
    :mod:`bifsmn.deploy.plans`). Raises :class:`NotDeployable` for a model without a bitwise
    form.
    """
    spec = fold(model, binary, param_dtype=param_dtype, classifier_dtype=classifier_dtype,
                storage=storage)
    return DeployedDFSMN(spec)
