"""Model registry in timm's style: ``create_model(name, **kw)`` and ``list_models()``.

Checkpoints store the registered name and keyword arguments, so a model file rebuilds its own
architecture without code in the file.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from torch import nn

from bifsmn.errors import BifsmnError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register a model factory under its function name."""
    if fn.__name__ in _MODELS:
        raise ValueError(f"model {fn.__name__!r} registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob pattern (the built-in ones register when
    :mod:`bifsmn.models` is imported, which importing this module always does first)."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create_model(name: str, num_classes: int = 12, **kwargs: object) -> nn.Module:
    """Build a registered model; unknown names give a one-line error listing the known ones."""
    if name not in _MODELS:
        raise BifsmnError(f"unknown model {name!r} (known: {', '.join(sorted(_MODELS))})")
    try:
        model = _MODELS[name](num_classes=num_classes, **kwargs)
    except TypeError as exc:
        raise BifsmnError(f"bad arguments for model {name!r}: {exc}") from None
    model.model_name = name  # type: ignore[assignment]  # a new attribute on a Module
    model.model_kwargs = {"num_classes": num_classes, **kwargs}  # type: ignore[assignment]  # same
    return model
