"""Model registry and architectures.

Importing the package registers the built-in architectures (:mod:`bifsmn.models.dfsmn`), so
``create_model`` knows them however it was imported.
"""

from bifsmn.models import dfsmn  # noqa: F401  (registers the built-in models on import)
from bifsmn.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
