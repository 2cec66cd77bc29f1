"""How strategies reach into the model they play against: required methods, frozen weights."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import nn

from advex.exploration.strategy import StrategyModelError


def require_method(model: Any, method: str, strategy: str) -> None:
    """Raise :class:`StrategyModelError` naming ``strategy`` unless ``model.method`` exists."""
    if not callable(getattr(model, method, None)):
        raise StrategyModelError(
            f"{strategy} needs a model with {method}(...); got {type(model).__name__}"
        )


@contextlib.contextmanager
def frozen(*modules: Any) -> Iterator[None]:
    """Turn off ``requires_grad`` of every parameter of the given ``nn.Module``s (others are
    ignored), restoring each flag afterwards: gradients flow *through* them, never *into*."""
    params = [p for m in modules if isinstance(m, nn.Module) for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
