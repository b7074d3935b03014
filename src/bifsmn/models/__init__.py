"""Model registry and architectures."""

from bifsmn.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
