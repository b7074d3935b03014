"""Lazy re-exports for a package's ``__init__``: names load on first use.

Why: ``import bifsmn.detect`` (done by the CLI parser) and ``import bifsmn.data`` must not pull in
torch or the decoders a caller never uses, yet ``from bifsmn.detect import Detector`` should
work. A package lists ``name -> module`` once and gets its ``__getattr__`` and ``__dir__``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from importlib.util import find_spec
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose module globals are ``namespace``: a
    name of ``exports`` is imported from its module on first access and cached in
    ``namespace``; any other name is the usual AttributeError."""
    def getattr_(name: str) -> Any:
        if name in exports:
            value = getattr(import_module(exports[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted({*namespace, *exports})

    return getattr_, dir_


def installed(name: str) -> bool:
    """True if module ``name`` can be imported (without importing it): packages list the
    names that need torch in ``__all__`` only where torch is there, so that a star import works
    on a detection-only install."""
    try:
        return find_spec(name) is not None
    except ImportError:  # an import hook that refuses the name
        return False
