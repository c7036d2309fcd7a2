"""Unlearning methods, one per file, behind one interface (see ``base``), chosen from ``REGISTRY``."""

from __future__ import annotations

from ..common.errors import ForgetError
from .base import Method, Option, UnlearnConfig
from .methods import exact, finetune, neggrad_plus, retrain, salun, scrub, ssd

REGISTRY: dict[str, Method] = {
    m.METHOD.name: m.METHOD for m in (exact, salun, scrub, ssd, neggrad_plus, finetune, retrain)
}
DEFAULT_METHODS = {"embedding": "exact", "finetuned": "salun"}  # by model kind
DEFAULT_METHOD = DEFAULT_METHODS["finetuned"]


def default_method(kind: str) -> str:
    """The method the app uses unless told otherwise, for a model of this kind."""
    return DEFAULT_METHODS.get(kind, DEFAULT_METHOD)


def method_title(name: str) -> str:
    """How a method is named to people ("SCRUB", not its registry key "scrub"); an unknown name as it is."""
    method = REGISTRY.get(name)
    return (method.short or method.title) if method is not None else name


def get_method(name: str) -> Method:
    """The registered method called ``name``, or one sentence listing the choices."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ForgetError(f"Unknown method '{name}': choose one of {', '.join(REGISTRY)}.") from None


__all__ = [
    "DEFAULT_METHOD",
    "REGISTRY",
    "Method",
    "Option",
    "UnlearnConfig",
    "default_method",
    "get_method",
    "method_title",
]
