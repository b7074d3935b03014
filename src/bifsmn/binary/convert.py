"""Turn a full-precision model into a binarized one by swapping layer quantizers."""

from __future__ import annotations

from torch import nn

from bifsmn.binary.layers import QuantMixin
from bifsmn.binary.methods import METHODS, replace_prelu_with_rprelu
from bifsmn.errors import BifsmnError


def binarize(model: nn.Module, method: str, keep_fp: list[str] | tuple[str, ...] = ("conv1",
             "classifier"), **options: object) -> nn.Module:
    """Set the quantizers of every quantizable layer except those named in ``keep_fp``.

    The paper keeps the first convolution and the classifier in full precision; so do we by
    default. Returns the same model (modified in place), on the device its weights were on:
    the new quantizers' parameters (thresholds, scales, RPReLU) are created on the CPU and
    would otherwise stay there under a model on a GPU.
    """
    if method not in METHODS:
        raise BifsmnError(f"unknown binarization method {method!r} "
                          f"(known: {', '.join(sorted(METHODS))})")
    spec = METHODS[method]
    for name, mod in model.named_modules():
        if isinstance(mod, QuantMixin) and name not in keep_fp:
            mod.set_quantizers(spec.input, spec.weight, **{**spec.input_options, **options})
    first = next(model.parameters(), None)
    device = first.device if first is not None else None
    model.to(device)  # the new quantizers where the layers are (before any probe)
    if spec.rprelu:
        replace_prelu_with_rprelu(model)
        model.to(device)  # and the new RPReLUs
    # the checkpoint-style spec: what the deployed (engine) form of the model is built from
    # (a new attribute on a Module: mypy types Module attributes as Tensor | Module)
    model.binary_spec = {"method": method, "keep_fp": list(keep_fp),  # type: ignore[assignment]
                         "options": dict(options)}
    return model


def apply_binary(model: nn.Module, spec: dict) -> nn.Module:
    """Apply a ``{"method", "keep_fp", "options"}`` mapping (as stored in checkpoints)."""
    method = spec.get("method", "none")
    if method == "none":
        return model
    return binarize(model, method, spec.get("keep_fp", ["conv1", "classifier"]),
                    **spec.get("options", {}))
